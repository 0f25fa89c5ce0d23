//! The app's tables as far as the service uses them. Written by hand (see `diesel.toml`):
//! the app owns these tables, and only the columns listed here are read or written. Quoted
//! CamelCase names are mapped with `#[sql_name]`.

pub mod sql_types {
    /// The app's `"OrgRole"` enum.
    #[derive(diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
    #[diesel(postgres_type(name = "OrgRole"))]
    pub struct OrgRole;
}

diesel::table! {
    #[sql_name = "Org"]
    orgs (id) {
        id -> Int4,
        name -> Text,
        #[sql_name = "createdAt"]
        created_at -> Timestamp,
        #[sql_name = "updatedAt"]
        updated_at -> Timestamp,
    }
}

diesel::table! {
    #[sql_name = "User"]
    users (id) {
        id -> Text,
        name -> Nullable<Text>,
        email -> Nullable<Text>,
        #[sql_name = "sessionVersion"]
        session_version -> Int4,
        #[sql_name = "createdAt"]
        created_at -> Timestamp,
        #[sql_name = "updatedAt"]
        updated_at -> Timestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::OrgRole;

    #[sql_name = "UserToOrg"]
    user_to_org (org_id, user_id) {
        #[sql_name = "joinedAt"]
        joined_at -> Timestamp,
        #[sql_name = "orgId"]
        org_id -> Int4,
        #[sql_name = "userId"]
        user_id -> Text,
        role -> OrgRole,
        #[sql_name = "isActive"]
        is_active -> Bool,
        #[sql_name = "scimExternalId"]
        scim_external_id -> Nullable<Text>,
    }
}

diesel::table! {
    #[sql_name = "ApiKey"]
    api_keys (hash) {
        name -> Text,
        hash -> Text,
        #[sql_name = "orgId"]
        org_id -> Int4,
        #[sql_name = "createdById"]
        created_by_id -> Text,
    }
}

diesel::table! {
    #[sql_name = "OAuthToken"]
    oauth_tokens (hash) {
        hash -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
    }
}

diesel::table! {
    #[sql_name = "OAuthRefreshToken"]
    oauth_refresh_tokens (hash) {
        hash -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
    }
}

diesel::table! {
    #[sql_name = "OAuthAuthorizationCode"]
    oauth_authorization_codes (code_hash) {
        #[sql_name = "codeHash"]
        code_hash -> Text,
        #[sql_name = "userId"]
        user_id -> Text,
    }
}

diesel::table! {
    #[sql_name = "Audit"]
    audits (id) {
        id -> Text,
        timestamp -> Timestamp,
        action -> Text,
        #[sql_name = "actorId"]
        actor_id -> Text,
        #[sql_name = "actorType"]
        actor_type -> Text,
        #[sql_name = "targetId"]
        target_id -> Text,
        #[sql_name = "targetType"]
        target_type -> Text,
        #[sql_name = "sourcebotVersion"]
        sourcebot_version -> Text,
        metadata -> Nullable<Jsonb>,
        #[sql_name = "orgId"]
        org_id -> Int4,
    }
}

diesel::table! {
    #[sql_name = "License"]
    licenses (id) {
        id -> Text,
        #[sql_name = "orgId"]
        org_id -> Int4,
        entitlements -> Nullable<Array<Text>>,
        seats -> Nullable<Int4>,
        status -> Nullable<Text>,
        #[sql_name = "lastSyncAt"]
        last_sync_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    #[sql_name = "ScimToken"]
    scim_tokens (hash) {
        name -> Text,
        hash -> Text,
        #[sql_name = "createdAt"]
        created_at -> Timestamp,
        #[sql_name = "lastUsedAt"]
        last_used_at -> Nullable<Timestamp>,
        #[sql_name = "orgId"]
        org_id -> Int4,
    }
}

diesel::table! {
    /// The service's own per-membership record (see migrations/…_user_profile).
    scim_sidecar.user_profile (org_id, user_id) {
        org_id -> Int4,
        user_id -> Text,
        attributes -> Jsonb,
        hidden_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(user_to_org -> orgs (org_id));
diesel::joinable!(user_to_org -> users (user_id));
diesel::joinable!(scim_tokens -> orgs (org_id));
diesel::joinable!(licenses -> orgs (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    orgs,
    users,
    user_to_org,
    api_keys,
    oauth_tokens,
    oauth_refresh_tokens,
    oauth_authorization_codes,
    audits,
    licenses,
    scim_tokens,
    user_profile,
);
