// Written by hand to match migrations/{sqlite,postgres}: one schema for both backends.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        active -> Bool,
        is_default -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        project_name -> Nullable<Text>,
        integration -> Text,
        active -> Bool,
        thank_you_url -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        settings_json -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        fcm_token -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    facebook_page_tokens (account_id, page_id) {
        account_id -> Text,
        page_id -> Text,
        access_token -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        invalid_reason -> Nullable<Text>,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        account_id -> Text,
        contact_type -> Text,
        name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        address_json -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contact_keys (account_id, contact_type, key_kind, key_value) {
        account_id -> Text,
        contact_type -> Text,
        key_kind -> Text,
        key_value -> Text,
        contact_id -> Text,
    }
}

diesel::table! {
    deals (id) {
        id -> Text,
        account_id -> Text,
        contact_id -> Text,
        lead_id -> BigInt,
        campaign_id -> Nullable<Text>,
        name -> Text,
        value -> Double,
        currency -> Text,
        pipeline_id -> Text,
        stage_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    campaign_assignments (campaign_id) {
        campaign_id -> Text,
        last_user_id -> Text,
        assigned -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    conversations (id) {
        id -> Text,
        account_id -> Text,
        contact_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    conversation_rooms (id) {
        id -> Text,
        conversation_id -> Text,
        integration -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    conversation_messages (id) {
        id -> Text,
        room_id -> Text,
        submission_public_id -> Text,
        position -> Integer,
        body -> Text,
        attachments_json -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    campaign_health (campaign_id) {
        campaign_id -> Text,
        last_lead_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        backfilled_from -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    inbox (id) {
        id -> BigInt,
        public_id -> Text,
        kind -> Text,
        account_id -> Text,
        body -> Text,
        meta_json -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        received_at -> Timestamp,
        processed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    leads (id) {
        id -> BigInt,
        public_id -> Text,
        account_id -> Text,
        project_key -> Text,
        project_name -> Nullable<Text>,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        phone_e164 -> Nullable<Text>,
        status -> Text,
        lead_source -> Text,
        submission_count -> Integer,
        data_json -> Text,
        search_text -> Text,
        crm_lead_id -> Nullable<Text>,
        crm_url -> Nullable<Text>,
        assigned_user_id -> Nullable<Text>,
        contact_id -> Nullable<Text>,
        errors_json -> Text,
        first_submitted_at -> Timestamp,
        last_submitted_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    lead_keys (account_id, key_kind, key_value, project_key, lead_id) {
        account_id -> Text,
        key_kind -> Text,
        key_value -> Text,
        project_key -> Text,
        lead_id -> BigInt,
    }
}

diesel::table! {
    lead_submissions (id) {
        id -> BigInt,
        public_id -> Text,
        lead_id -> BigInt,
        inbox_id -> Nullable<BigInt>,
        account_id -> Text,
        project_key -> Text,
        lead_source -> Text,
        visitor_id -> Nullable<Text>,
        email_key -> Nullable<Text>,
        phone_e164 -> Nullable<Text>,
        ip -> Nullable<Text>,
        cta -> Nullable<Text>,
        page_url -> Nullable<Text>,
        payload_json -> Text,
        data_json -> Text,
        is_duplicate -> Bool,
        forwarded -> Bool,
        submitted_at -> Timestamp,
        created_at -> Timestamp,
        forward_decision -> Nullable<Text>,
        platform_lead_key -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> BigInt,
        kind -> Text,
        public_id -> Text,
        lead_id -> Nullable<BigInt>,
        lead_submission_id -> Nullable<BigInt>,
        lead_public_id -> Nullable<Text>,
        destination -> Nullable<Text>,
        payload_json -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        result_json -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    blocked_ips (id) {
        id -> Text,
        ip -> Text,
        reason -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    blocked_ip_leads (id) {
        id -> BigInt,
        ip -> Text,
        account_id -> Text,
        payload_json -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    job_attempts (id) {
        id -> BigInt,
        job_id -> BigInt,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    dead_letters (id) {
        id -> BigInt,
        job_id -> BigInt,
        error -> Text,
        attempts -> Integer,
        failed_at -> Timestamp,
        expires_at -> Timestamp,
        redrives -> Integer,
        next_redrive_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    ignored_webhooks (id) {
        id -> BigInt,
        platform -> Text,
        account_id -> Nullable<Text>,
        campaign_id -> Nullable<Text>,
        reason -> Text,
        payload_json -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    visitors (visitor_id) {
        visitor_id -> Text,
        sessions -> BigInt,
        page_views -> BigInt,
        seconds_on_site -> BigInt,
        time_zone -> Nullable<Text>,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    visitor_sessions (visitor_id, session_id) {
        visitor_id -> Text,
        session_id -> Text,
        started_at -> Timestamp,
        last_seen_at -> Timestamp,
        page_views -> BigInt,
        seconds_on_site -> BigInt,
        landing_url -> Nullable<Text>,
        referrer -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        time_zone -> Nullable<Text>,
    }
}

diesel::table! {
    page_views (id) {
        id -> BigInt,
        visitor_id -> Text,
        session_id -> Text,
        url -> Text,
        title -> Nullable<Text>,
        referrer -> Nullable<Text>,
        viewed_at -> Timestamp,
    }
}

diesel::joinable!(lead_submissions -> leads (lead_id));
diesel::joinable!(lead_keys -> leads (lead_id));
diesel::joinable!(campaigns -> accounts (account_id));
diesel::joinable!(users -> accounts (account_id));
diesel::joinable!(facebook_page_tokens -> accounts (account_id));
diesel::joinable!(campaign_health -> campaigns (campaign_id));
diesel::joinable!(dead_letters -> jobs (job_id));
diesel::joinable!(job_attempts -> jobs (job_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    campaigns,
    users,
    facebook_page_tokens,
    inbox,
    leads,
    lead_submissions,
    lead_keys,
    jobs,
    blocked_ips,
    blocked_ip_leads,
    job_attempts,
    dead_letters,
    ignored_webhooks,
    campaign_health,
    contacts,
    contact_keys,
    deals,
    campaign_assignments,
    conversations,
    conversation_rooms,
    conversation_messages,
    visitors,
    visitor_sessions,
    page_views,
);
