//! Access revocation: what deprovisioning deletes so that a person is really locked out.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::{
    api_keys, oauth_authorization_codes, oauth_refresh_tokens, oauth_tokens, users,
};

/// What deprovisioning removed.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub api_keys: usize,
    pub oauth_tokens: usize,
    pub oauth_refresh_tokens: usize,
    pub oauth_authorization_codes: usize,
}

/// Ends every session of the user (`sessionVersion` + 1) and deletes their API keys of this
/// org and all their OAuth tokens, refresh tokens and authorization codes.
pub async fn revoke_access(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Revoked> {
    diesel::update(users::table.find(user_id))
        .set((
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(Revoked {
        api_keys: diesel::delete(
            api_keys::table
                .filter(api_keys::org_id.eq(org_id))
                .filter(api_keys::created_by_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
        oauth_tokens: diesel::delete(oauth_tokens::table.filter(oauth_tokens::user_id.eq(user_id)))
            .execute(conn)
            .await?,
        oauth_refresh_tokens: diesel::delete(
            oauth_refresh_tokens::table.filter(oauth_refresh_tokens::user_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
        oauth_authorization_codes: diesel::delete(
            oauth_authorization_codes::table.filter(oauth_authorization_codes::user_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
    })
}
