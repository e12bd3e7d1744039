-- Every call to the admin REST API (/api/v1/admin/*): who (a tenant admin's
-- user id, or a platform operator's key label), in which tenant, what, and
-- with which parameters. Listed by GET /api/v1/admin/actions.
CREATE TABLE admin_actions (
    id BIGSERIAL PRIMARY KEY,
    actor TEXT NOT NULL,
    actor_kind TEXT NOT NULL CHECK (actor_kind IN ('tenant_admin', 'platform')),
    tenant_id TEXT,
    action TEXT NOT NULL,
    detail JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX admin_actions_tenant_id_idx ON admin_actions (tenant_id, id DESC);
