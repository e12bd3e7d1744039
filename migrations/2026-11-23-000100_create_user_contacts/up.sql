-- The address notification email goes to, set by each user for themselves
-- (PUT /api/v1/push/email). The push dispatcher reads it for jobs whose
-- channels include email.
CREATE TABLE user_contacts (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
