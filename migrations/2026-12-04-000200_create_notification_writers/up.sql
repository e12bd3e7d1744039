-- One row per user who has received a notification. A transaction that
-- stores notifications first locks its recipients' rows here (in a fixed
-- order), then takes ids from the sequence. Two writers for the same user
-- are therefore serialized: the later one takes its id after the earlier one
-- committed, so per user, id order is commit order and a reader resuming
-- "after id N" can never miss a row that commits later with a smaller id.
CREATE TABLE notification_writers (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    writes BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, user_id)
);
