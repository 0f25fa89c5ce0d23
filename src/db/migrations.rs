//! Embedded migrations. Diesel's history table and everything the service owns live in its
//! own schema, `scim_sidecar`; the only objects written to the app's `public` schema are the
//! SCIM additions the app itself defines and the one address index the ownership rule allows,
//! created so that re-running is a no-op.

use diesel::connection::SimpleConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::locks::MIGRATION as MIGRATION_LOCK;
use super::ConnectOptions;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The service's own PostgreSQL schema.
pub const SERVICE_SCHEMA: &str = "scim_sidecar";

/// Applies pending migrations and returns the versions applied (empty when up to date).
pub async fn run_pending(target: &ConnectOptions) -> anyhow::Result<Vec<String>> {
    let conn = target.connect().await?;
    // Diesel's migration harness is synchronous; it runs on a blocking thread through
    // diesel-async's wrapper, which drives the async connection on this runtime.
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        conn.batch_execute(&format!(
            "SELECT pg_advisory_lock({}, {}); \
             CREATE SCHEMA IF NOT EXISTS {SERVICE_SCHEMA}; \
             SET search_path TO {SERVICE_SCHEMA}, public;",
            MIGRATION_LOCK.0, MIGRATION_LOCK.1
        ))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|error| anyhow::anyhow!("migration failed: {error}"));
        // The lock is also released when the connection closes; unlocking explicitly keeps
        // the intent visible.
        conn.batch_execute(&format!(
            "SELECT pg_advisory_unlock({}, {})",
            MIGRATION_LOCK.0, MIGRATION_LOCK.1
        ))?;
        applied
    })
    .await?
}
