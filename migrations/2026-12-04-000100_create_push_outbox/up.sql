-- Push jobs not yet finished: one row per notification that goes to Web
-- Push, FCM or email, written before the job is handed to the dispatcher and
-- deleted when it is delivered or given up. A job whose claim has lapsed
-- (its server died, or it was dropped from a full queue) is claimed again
-- by the next sweep of any node, so a restart resumes pending pushes.
CREATE TABLE push_outbox (
    notification_id BIGINT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT,
    action_url TEXT,
    priority TEXT NOT NULL,
    web_push BOOLEAN NOT NULL,
    fcm BOOLEAN NOT NULL,
    email BOOLEAN NOT NULL,
    claims INTEGER NOT NULL DEFAULT 1,
    claimed_until TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_push_outbox_claimed ON push_outbox (claimed_until);
