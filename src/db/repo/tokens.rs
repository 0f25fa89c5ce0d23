//! `"ScimToken"` rows: only hashes are stored, never a secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::schema::scim_tokens;

/// The org and name a token hash belongs to.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scim_tokens)]
pub struct TokenOwner {
    pub org_id: i32,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = scim_tokens)]
pub struct TokenSummary {
    pub name: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTokenError {
    #[error("org {0} already has a SCIM token named {1:?}")]
    NameTaken(i32, String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

pub async fn find_owner(
    conn: &mut AsyncPgConnection,
    hash: &str,
) -> QueryResult<Option<TokenOwner>> {
    scim_tokens::table
        .find(hash)
        .select(TokenOwner::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts a token hash under a name that must be new in the org.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    name: &str,
    hash: &str,
    now: NaiveDateTime,
) -> Result<(), CreateTokenError> {
    conn.transaction(async |conn| {
        crate::db::locks::lock_token_names(conn, org_id).await?;
        let taken: i64 = scim_tokens::table
            .filter(
                scim_tokens::org_id
                    .eq(org_id)
                    .and(scim_tokens::name.eq(name)),
            )
            .count()
            .get_result(conn)
            .await?;
        if taken > 0 {
            return Err(CreateTokenError::NameTaken(org_id, name.to_owned()));
        }
        diesel::insert_into(scim_tokens::table)
            .values((
                scim_tokens::name.eq(name),
                scim_tokens::hash.eq(hash),
                scim_tokens::created_at.eq(now),
                scim_tokens::org_id.eq(org_id),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
    .await
}

pub async fn list(conn: &mut AsyncPgConnection, org_id: i32) -> QueryResult<Vec<TokenSummary>> {
    scim_tokens::table
        .filter(scim_tokens::org_id.eq(org_id))
        .order((scim_tokens::created_at.asc(), scim_tokens::name.asc()))
        .select(TokenSummary::as_select())
        .load(conn)
        .await
}

/// Deletes the org's token(s) with this name; returns how many were removed.
pub async fn revoke(conn: &mut AsyncPgConnection, org_id: i32, name: &str) -> QueryResult<usize> {
    diesel::delete(
        scim_tokens::table.filter(
            scim_tokens::org_id
                .eq(org_id)
                .and(scim_tokens::name.eq(name)),
        ),
    )
    .execute(conn)
    .await
}

pub async fn touch_last_used(
    conn: &mut AsyncPgConnection,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(scim_tokens::table.find(hash))
        .set(scim_tokens::last_used_at.eq(now))
        .execute(conn)
        .await
}
