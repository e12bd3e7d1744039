-- Admin revocations: every token of (tenant_id, user_id) is refused until
-- revoked_until, at WebSocket, Yjs and SSE admission and REST authentication.
-- Loaded at start, so a revocation survives a restart. Written by
-- POST /api/v1/admin/users/{user_id}/disconnect and removed by
-- DELETE /api/v1/admin/users/{user_id}/revocation.
CREATE TABLE user_revocations (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    revoked_until TIMESTAMPTZ NOT NULL,
    reason TEXT,
    revoked_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
