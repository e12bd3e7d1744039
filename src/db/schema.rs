// @generated automatically by Diesel CLI.

diesel::table! {
    activity_feed (id) {
        id -> Int8,
        tenant_id -> Text,
        user_id -> Nullable<Text>,
        user_name -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        entity_name -> Nullable<Text>,
        details -> Nullable<Jsonb>,
        visibility -> Text,
        visible_to -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    admin_actions (id) {
        id -> Int8,
        actor -> Text,
        actor_kind -> Text,
        tenant_id -> Nullable<Text>,
        action -> Text,
        detail -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    collaboration_events (id) {
        id -> Int8,
        tenant_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        session_id -> Nullable<Int8>,
        user_id -> Text,
        client_id -> Nullable<Text>,
        client_seq -> Nullable<Int8>,
        event_type -> Text,
        field_name -> Nullable<Text>,
        event_data -> Jsonb,
        version -> Int8,
        parent_version -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    collaboration_sessions (id) {
        id -> Int8,
        tenant_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        room_id -> Text,
        active_users -> Array<Nullable<Text>>,
        max_concurrent_users -> Int4,
        total_edits -> Int8,
        total_conflicts_resolved -> Int8,
        started_at -> Timestamptz,
        last_activity_at -> Timestamptz,
        ended_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    document_snapshots (id) {
        id -> Int8,
        tenant_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        version -> Int8,
        content -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    edit_locks (id) {
        id -> Int8,
        tenant_id -> Text,
        entity_type -> Text,
        entity_id -> Text,
        field_name -> Text,
        user_id -> Text,
        session_id -> Nullable<Int8>,
        lock_type -> Text,
        reason -> Nullable<Text>,
        acquired_at -> Timestamptz,
        expires_at -> Timestamptz,
        user_name -> Nullable<Text>,
    }
}

diesel::table! {
    notification_settings (tenant_id, user_id, notification_type) {
        tenant_id -> Text,
        user_id -> Text,
        notification_type -> Text,
        websocket -> Bool,
        web_push -> Bool,
        fcm -> Bool,
        email -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    notification_writers (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        writes -> Int8,
    }
}

diesel::table! {
    push_outbox (notification_id) {
        notification_id -> Int8,
        tenant_id -> Text,
        user_id -> Text,
        notification_type -> Text,
        title -> Text,
        message -> Nullable<Text>,
        action_url -> Nullable<Text>,
        priority -> Text,
        web_push -> Bool,
        fcm -> Bool,
        email -> Bool,
        claims -> Int4,
        claimed_until -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    push_subscriptions (id) {
        id -> Int8,
        tenant_id -> Text,
        user_id -> Text,
        kind -> Text,
        endpoint -> Text,
        p256dh_key -> Nullable<Text>,
        auth_key -> Nullable<Text>,
        device_type -> Nullable<Text>,
        device_name -> Nullable<Text>,
        browser -> Nullable<Text>,
        is_active -> Bool,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    realtime_notifications (id) {
        id -> Int8,
        tenant_id -> Text,
        user_id -> Text,
        notification_type -> Text,
        title -> Text,
        message -> Nullable<Text>,
        source_type -> Nullable<Text>,
        source_id -> Nullable<Text>,
        action_url -> Nullable<Text>,
        action_label -> Nullable<Text>,
        priority -> Text,
        is_read -> Bool,
        read_at -> Nullable<Timestamptz>,
        delivered_websocket -> Bool,
        delivered_push -> Bool,
        delivered_email -> Bool,
        expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_contacts (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        email -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    user_presence_log (id) {
        id -> Int8,
        tenant_id -> Text,
        user_id -> Text,
        connection_id -> Text,
        event -> Text,
        status -> Text,
        current_page -> Nullable<Text>,
        current_entity_type -> Nullable<Text>,
        current_entity_id -> Nullable<Text>,
        device_type -> Nullable<Text>,
        browser -> Nullable<Text>,
        ip_address -> Nullable<Text>,
        connected_at -> Nullable<Timestamptz>,
        disconnected_at -> Nullable<Timestamptz>,
        last_activity_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_revocations (tenant_id, user_id) {
        tenant_id -> Text,
        user_id -> Text,
        revoked_until -> Timestamptz,
        reason -> Nullable<Text>,
        revoked_by -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    yjs_updates (id) {
        id -> Int8,
        tenant_id -> Text,
        document_name -> Text,
        payload -> Bytea,
        is_snapshot -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    activity_feed,
    admin_actions,
    collaboration_events,
    collaboration_sessions,
    document_snapshots,
    edit_locks,
    notification_settings,
    notification_writers,
    push_outbox,
    push_subscriptions,
    realtime_notifications,
    user_contacts,
    user_presence_log,
    user_revocations,
    yjs_updates,
);
