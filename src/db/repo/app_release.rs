//! What the app's own migration history (Prisma's `_prisma_migrations`) says about the app
//! version beside the service: whether it ships the app's SCIM release, and so honours
//! `"UserToOrg"."isActive"`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

diesel::table! {
    /// Prisma's history table; only the columns read here.
    #[sql_name = "_prisma_migrations"]
    prisma_migrations (id) {
        id -> Text,
        migration_name -> Text,
        finished_at -> Nullable<Timestamptz>,
        rolled_back_at -> Nullable<Timestamptz>,
    }
}

diesel::define_sql_function! {
    /// `regclass` read as text: NULL when the relation does not exist.
    fn to_regclass(name: diesel::sql_types::Text) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// The suffix of the app's migration that adds its SCIM support.
pub const SCIM_RELEASE_SUFFIX: &str = "_add_scim_users_support";

/// The app's migration history as far as SCIM goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRelease {
    /// No `_prisma_migrations` table: the app's schema was not made by Prisma's migrate (or
    /// the database is not the app's).
    NoHistory,
    /// The history has no finished, not rolled back, SCIM migration.
    BeforeScim,
    /// The app's SCIM release is applied, by this migration.
    WithScim(String),
}

pub async fn read(conn: &mut AsyncPgConnection) -> QueryResult<AppRelease> {
    let has_history = diesel::select(to_regclass("public._prisma_migrations").is_not_null())
        .get_result::<bool>(conn)
        .await?;
    if !has_history {
        return Ok(AppRelease::NoHistory);
    }
    let scim = prisma_migrations::table
        .filter(
            prisma_migrations::migration_name
                .like(format!("%{}", like_literal(SCIM_RELEASE_SUFFIX))),
        )
        .filter(prisma_migrations::finished_at.is_not_null())
        .filter(prisma_migrations::rolled_back_at.is_null())
        .select(prisma_migrations::migration_name)
        .order(prisma_migrations::migration_name.asc())
        .limit(1)
        .get_result::<String>(conn)
        .await
        .optional()?;
    Ok(scim.map_or(AppRelease::BeforeScim, AppRelease::WithScim))
}

/// `text` as a LIKE pattern that matches only itself (`_` and `%` are wildcards).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
