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

diesel::allow_tables_to_appear_in_same_query!(audit_head, audit_log, persons,);
