-- Tandem's whole schema. Users and tenants live in the host application and
-- arrive as JWT claims, so there are no foreign keys to them: every row
-- carries tenant_id and user ids as opaque text, and every query filters by
-- tenant_id first (each index leads with it).

-- Presence history: one row per connect, disconnect and status change.
CREATE TABLE user_presence_log (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('connect', 'disconnect', 'status')),
    status TEXT NOT NULL CHECK (status IN ('online', 'away', 'busy', 'offline')),
    current_page TEXT,
    current_entity_type TEXT,
    current_entity_id TEXT,
    device_type TEXT,
    browser TEXT,
    ip_address TEXT,
    connected_at TIMESTAMPTZ,
    disconnected_at TIMESTAMPTZ,
    last_activity_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_presence_log_user ON user_presence_log (tenant_id, user_id, created_at DESC);
CREATE INDEX idx_presence_log_tenant ON user_presence_log (tenant_id, created_at DESC);

-- One row per document editing session (a DocumentSession actor's life).
CREATE TABLE collaboration_sessions (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    active_users TEXT[] NOT NULL DEFAULT '{}',
    max_concurrent_users INTEGER NOT NULL DEFAULT 0,
    total_edits BIGINT NOT NULL DEFAULT 0,
    total_conflicts_resolved BIGINT NOT NULL DEFAULT 0,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_activity_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX idx_collab_sessions_open ON collaboration_sessions (tenant_id, entity_type, entity_id) WHERE ended_at IS NULL;
CREATE INDEX idx_collab_sessions_entity ON collaboration_sessions (tenant_id, entity_type, entity_id, started_at DESC);

-- Every applied edit (and other document events) with its revision, for replay and history.
CREATE TABLE collaboration_events (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    session_id BIGINT,
    user_id TEXT NOT NULL,
    client_id TEXT,
    client_seq BIGINT,
    event_type TEXT NOT NULL,
    field_name TEXT,
    event_data JSONB NOT NULL,
    version BIGINT NOT NULL,
    parent_version BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_collab_events_version ON collaboration_events (tenant_id, entity_type, entity_id, version) WHERE event_type IN ('edit', 'set', 'undo', 'redo');
CREATE INDEX idx_collab_events_doc ON collaboration_events (tenant_id, entity_type, entity_id, id);

-- Periodic snapshots of a document's fields at a revision.
CREATE TABLE document_snapshots (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    content JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, entity_type, entity_id, version)
);

-- Yjs documents: the binary updates applied, compacted into a state row from time to time.
CREATE TABLE yjs_updates (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    document_name TEXT NOT NULL,
    payload BYTEA NOT NULL,
    is_snapshot BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_yjs_updates_doc ON yjs_updates (tenant_id, document_name, id);

-- Stored notifications; the id is monotonic so clients resume "after id N".
CREATE TABLE realtime_notifications (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT,
    source_type TEXT,
    source_id TEXT,
    action_url TEXT,
    action_label TEXT,
    priority TEXT NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    is_read BOOLEAN NOT NULL DEFAULT FALSE,
    read_at TIMESTAMPTZ,
    delivered_websocket BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_push BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_email BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_notifications_user ON realtime_notifications (tenant_id, user_id, id DESC);
CREATE INDEX idx_notifications_unread ON realtime_notifications (tenant_id, user_id, id DESC) WHERE NOT is_read;

-- Per user and notification type: which channels deliver it.
CREATE TABLE notification_settings (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    notification_type TEXT NOT NULL,
    websocket BOOLEAN NOT NULL DEFAULT TRUE,
    web_push BOOLEAN NOT NULL DEFAULT TRUE,
    fcm BOOLEAN NOT NULL DEFAULT TRUE,
    email BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id, notification_type)
);

-- Web Push subscriptions and FCM registration tokens, per device.
CREATE TABLE push_subscriptions (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('web_push', 'fcm')),
    endpoint TEXT NOT NULL,
    p256dh_key TEXT,
    auth_key TEXT,
    device_type TEXT,
    device_name TEXT,
    browser TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    UNIQUE (tenant_id, user_id, endpoint),
    CHECK (kind <> 'web_push' OR (p256dh_key IS NOT NULL AND auth_key IS NOT NULL))
);
CREATE INDEX idx_push_user ON push_subscriptions (tenant_id, user_id, is_active);

-- Activity feed; id is monotonic for resume.
CREATE TABLE activity_feed (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    user_name TEXT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    entity_name TEXT,
    details JSONB,
    visibility TEXT NOT NULL DEFAULT 'team' CHECK (visibility IN ('private', 'team', 'public')),
    visible_to TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_activity_tenant ON activity_feed (tenant_id, id DESC);
CREATE INDEX idx_activity_entity ON activity_feed (tenant_id, entity_type, entity_id, id DESC);
CREATE INDEX idx_activity_user ON activity_feed (tenant_id, user_id, id DESC);

-- Edit locks on a whole entity (field_name = '') or one field.
CREATE TABLE edit_locks (
    id BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field_name TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL,
    session_id BIGINT,
    lock_type TEXT NOT NULL DEFAULT 'soft' CHECK (lock_type IN ('soft', 'hard')),
    reason TEXT,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, entity_type, entity_id, field_name)
);
CREATE INDEX idx_locks_user ON edit_locks (tenant_id, user_id);
CREATE INDEX idx_locks_expiry ON edit_locks (expires_at);
