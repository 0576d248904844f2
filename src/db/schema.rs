// @generated automatically by Diesel CLI (and kept identical for both backends).

diesel::table! {
    audit_head (id) {
        id -> BigInt,
        last_seq -> BigInt,
        last_hash -> Text,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        occurred_at -> Timestamp,
        actor -> Text,
        subject -> Nullable<Text>,
        action -> Text,
        outcome -> Text,
        request_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    persons (codice_fiscale) {
        codice_fiscale -> Text,
        given_name -> Text,
        family_name -> Text,
        birth_date -> Date,
        sex -> Text,
        address -> Text,
        postal_code -> Text,
        municipality -> Text,
        province -> Text,
        mobile -> Nullable<Text>,
        email -> Nullable<Text>,
        pec -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    oauth_clients (client_id) {
        client_id -> Text,
        display_name -> Text,
        auth_method -> Text,
        secret_hash -> Nullable<Text>,
        jwks -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        scopes -> Text,
        grant_types -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    client_assertion_jtis (client_id, jti) {
        client_id -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    subjects (codice_fiscale) {
        codice_fiscale -> Text,
        sub -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    browser_sessions (id) {
        id -> Text,
        cookie_hash -> Text,
        csrf_token -> Text,
        codice_fiscale -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        method -> Text,
        acr -> Text,
        auth_time -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_flows (id) {
        id -> Text,
        browser_hash -> Text,
        csrf_token -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        state -> Nullable<Text>,
        nonce -> Nullable<Text>,
        code_challenge -> Text,
        acr_min -> Nullable<Text>,
        pending_codice_fiscale -> Nullable<Text>,
        pending_reason -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Text,
        client_id -> Text,
        session_id -> Nullable<Text>,
        codice_fiscale -> Text,
        sub -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        scope -> Text,
        method -> Text,
        acr -> Text,
        auth_time -> Timestamp,
        nonce -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    pin_credentials (codice_fiscale) {
        codice_fiscale -> Text,
        pin_hash -> Text,
        initial -> Bool,
        pin_type -> Text,
        holder -> Text,
        set_at -> Timestamp,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        failures -> BigInt,
        locks -> BigInt,
        locked_until -> Nullable<Timestamp>,
        blocked_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbox_messages (id) {
        id -> Text,
        idempotency_key -> Text,
        channel -> Text,
        recipient -> Text,
        template -> Text,
        params -> Text,
        sealed_secret -> Nullable<Binary>,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        source_ref -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    operators (id) {
        id -> Text,
        codice_fiscale -> Text,
        display_name -> Text,
        roles -> Text,
        office -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pin_issuance_guards (codice_fiscale) {
        codice_fiscale -> Text,
        taken_at -> Timestamp,
    }
}

diesel::table! {
    pin_requests (id) {
        id -> Text,
        reference -> Text,
        channel -> Text,
        codice_fiscale -> Text,
        representative_cf -> Nullable<Text>,
        representation -> Nullable<Text>,
        representation_ref -> Nullable<Text>,
        given_name -> Text,
        family_name -> Text,
        birth_date -> Date,
        address -> Text,
        postal_code -> Text,
        municipality -> Text,
        province -> Text,
        mobile -> Nullable<Text>,
        email -> Nullable<Text>,
        pec -> Nullable<Text>,
        first_half_channel -> Nullable<Text>,
        pin_type -> Text,
        status -> Text,
        check_failures -> Nullable<Text>,
        claimed_by -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        call_attempts -> BigInt,
        next_call_at -> Nullable<Timestamp>,
        outcome_reason -> Nullable<Text>,
        operator_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pin_request_documents (id) {
        id -> Text,
        request_id -> Text,
        kind -> Text,
        media_type -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    phone_pins (codice_fiscale) {
        codice_fiscale -> Text,
        pin_hash -> Text,
        failures -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    delegations (id) {
        id -> Text,
        delegator_cf -> Text,
        delegate_cf -> Text,
        kind -> Text,
        channel -> Text,
        status -> Text,
        starts_at -> Timestamp,
        ends_at -> Nullable<Timestamp>,
        min_end_at -> Nullable<Timestamp>,
        decree_reference -> Nullable<Text>,
        operator_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
        end_notice_sent -> Bool,
    }
}

diesel::table! {
    delegate_counters (delegate_cf) {
        delegate_cf -> Text,
        active_fiducia -> BigInt,
    }
}

diesel::table! {
    family_links (parent_cf, child_cf) {
        parent_cf -> Text,
        child_cf -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    delegation_documents (id) {
        id -> Text,
        delegation_id -> Text,
        kind -> Text,
        media_type -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content -> Binary,
        created_at -> Timestamp,
    }
}

diesel::joinable!(client_assertion_jtis -> oauth_clients (client_id));
diesel::joinable!(login_flows -> oauth_clients (client_id));
diesel::joinable!(oauth_grants -> oauth_clients (client_id));
diesel::joinable!(oauth_grants -> browser_sessions (session_id));
diesel::table! {
    spid_requests (id) {
        id -> Text,
        idp_entity_id -> Text,
        acs_url -> Text,
        level -> Text,
        issue_instant -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        browser_hash -> Text,
        relay_state -> Text,
        flow_id -> Nullable<Text>,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    spid_assertions (idp_entity_id, assertion_id) {
        idp_entity_id -> Text,
        assertion_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    spid_sessions (browser_session_id) {
        browser_session_id -> Text,
        idp_entity_id -> Text,
        name_id -> Text,
        name_qualifier -> Text,
        session_index -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    spid_logout_requests (id) {
        id -> Text,
        idp_entity_id -> Text,
        return_to -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    spid_received_logouts (idp_entity_id, request_id) {
        idp_entity_id -> Text,
        request_id -> Text,
        received_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    spid_idp_metadata (source) {
        source -> Text,
        xml -> Text,
        sha256 -> Text,
        fetched_at -> Timestamp,
        valid_until -> Nullable<Timestamp>,
        profile -> Text,
    }
}

diesel::table! {
    desks (id) {
        id -> Text,
        name -> Text,
        office -> Text,
        kind -> Text,
        time_zone -> Text,
        opening -> Text,
        slot_minutes -> BigInt,
        guest_booking -> Bool,
        location -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    desk_closures (id) {
        id -> Text,
        desk_id -> Text,
        first_day -> Date,
        last_day -> Date,
        notice -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    desk_duty (desk_id, day, operator_id) {
        desk_id -> Text,
        day -> Date,
        operator_id -> Text,
    }
}

diesel::table! {
    booking_slots (desk_id, starts_at) {
        desk_id -> Text,
        starts_at -> Timestamp,
        capacity -> BigInt,
        taken -> BigInt,
    }
}

diesel::table! {
    booking_people (person_cf) {
        person_cf -> Text,
        touched_at -> Timestamp,
    }
}

diesel::table! {
    bookings (id) {
        id -> Text,
        reference -> Text,
        desk_id -> Text,
        desk_kind -> Text,
        starts_at -> Timestamp,
        ends_at -> Timestamp,
        person_cf -> Text,
        booked_via -> Text,
        booked_by -> Nullable<Text>,
        guest_token_hash -> Nullable<Text>,
        status -> Text,
        hold_expires_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        mobile -> Nullable<Text>,
        email -> Nullable<Text>,
        delegator_cf -> Nullable<Text>,
        delegator_given_name -> Nullable<Text>,
        delegator_family_name -> Nullable<Text>,
        confirmed_at -> Nullable<Timestamp>,
        reminder_sent -> Bool,
        waiting_since -> Nullable<Timestamp>,
        handled_by -> Nullable<Text>,
        handled_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webmeeting_sessions (booking_id) {
        booking_id -> Text,
        operator_id -> Text,
        room -> Text,
        status -> Text,
        taken_at -> Timestamp,
        delegate_document_type -> Nullable<Text>,
        delegate_document_number -> Nullable<Text>,
        delegate_document_expires_on -> Nullable<Date>,
        delegate_checked_at -> Nullable<Timestamp>,
        delegator_document_type -> Nullable<Text>,
        delegator_document_number -> Nullable<Text>,
        delegator_document_expires_on -> Nullable<Date>,
        delegator_checked_at -> Nullable<Timestamp>,
        delegate_consent -> Nullable<Bool>,
        delegate_consent_at -> Nullable<Timestamp>,
        delegator_consent -> Nullable<Bool>,
        delegator_consent_at -> Nullable<Timestamp>,
        delegation_id -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webmeeting_documents (id) {
        id -> Text,
        booking_id -> Text,
        kind -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content -> Binary,
        uploaded_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(desk_closures -> desks (desk_id));
diesel::joinable!(desk_duty -> desks (desk_id));
diesel::joinable!(desk_duty -> operators (operator_id));
diesel::joinable!(booking_slots -> desks (desk_id));
diesel::joinable!(bookings -> desks (desk_id));
diesel::joinable!(webmeeting_sessions -> bookings (booking_id));
diesel::joinable!(webmeeting_documents -> webmeeting_sessions (booking_id));

diesel::table! {
    cie_trust_chains (provider) {
        provider -> Text,
        trust_anchor -> Text,
        metadata -> Text,
        statements -> Text,
        expires_at -> Timestamp,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    cie_requests (state) {
        state -> Text,
        provider -> Text,
        nonce -> Text,
        code_verifier -> Text,
        level -> Text,
        browser_hash -> Text,
        flow_id -> Nullable<Text>,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cie_sessions (browser_session_id) {
        browser_session_id -> Text,
        provider -> Text,
        access_token -> Binary,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(authorization_codes -> oauth_grants (grant_id));
diesel::joinable!(refresh_tokens -> oauth_grants (grant_id));
diesel::joinable!(pin_credentials -> persons (codice_fiscale));
diesel::joinable!(pin_request_documents -> pin_requests (request_id));
diesel::joinable!(delegation_documents -> delegations (delegation_id));

diesel::table! {
    cns_tickets (ticket_hash) {
        ticket_hash -> Text,
        flow_id -> Text,
        codice_fiscale -> Text,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        level -> Text,
        certificate_sha256 -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cns_ocsp_responses (cert_id) {
        cert_id -> Text,
        response -> Binary,
        fetched_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    console_sessions (id) {
        id -> Text,
        csrf_token -> Text,
        operator_id -> Text,
        codice_fiscale -> Text,
        display_name -> Text,
        roles -> Text,
        acr -> Text,
        grant_id -> Text,
        access_jti -> Text,
        id_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    audit_head,
    audit_log,
    persons,
    oauth_clients,
    client_assertion_jtis,
    subjects,
    browser_sessions,
    login_flows,
    oauth_grants,
    authorization_codes,
    refresh_tokens,
    revoked_access_tokens,
    pin_credentials,
    pin_issuance_guards,
    outbox_messages,
    operators,
    pin_requests,
    pin_request_documents,
    phone_pins,
    delegations,
    delegate_counters,
    delegation_documents,
    family_links,
    spid_requests,
    spid_assertions,
    spid_sessions,
    spid_logout_requests,
    spid_idp_metadata,
    cns_tickets,
    cns_ocsp_responses,
    spid_received_logouts,
    desks,
    desk_closures,
    desk_duty,
    booking_slots,
    booking_people,
    bookings,
    webmeeting_sessions,
    webmeeting_documents,
    cie_trust_chains,
    cie_requests,
    cie_sessions,
    console_sessions,
);
