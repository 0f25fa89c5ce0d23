//! Embedded migrations. Diesel's history table and everything the service owns live in its
//! own schema, `scim_sidecar`; the only objects written to the app's `public` schema are the
//! SCIM additions the app itself defines and the one address index the ownership rule allows,
//! created so that re-running is a no-op.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel::QueryableByName;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::locks::MIGRATION as MIGRATION_LOCK;
use super::ConnectOptions;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The service's own PostgreSQL schema.
pub const SERVICE_SCHEMA: &str = "scim_sidecar";

/// How often a running index build's progress is read.
const INDEX_POLL: Duration = Duration::from_millis(500);

/// Applies pending migrations and returns the versions applied (empty when up to date).
pub async fn run_pending(target: &ConnectOptions) -> anyhow::Result<Vec<String>> {
    run(target, ProgressBar::hidden()).await
}

/// As [`run_pending`], drawing progress on stderr when it is a terminal (and nothing
/// otherwise): each migration as it is applied, and a concurrent index build's phase and
/// blocks read from `pg_stat_progress_create_index`, which on a large `"User"` table is the
/// step that takes minutes, often waiting for the app's open transactions.
pub async fn run_pending_showing_progress(target: &ConnectOptions) -> anyhow::Result<Vec<String>> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} migration {pos}/{len} {prefix} [{elapsed}]\n  {wide_msg}",
            )
            .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    run(target, bar).await
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

async fn run(target: &ConnectOptions, bar: ProgressBar) -> anyhow::Result<Vec<String>> {
    let mut conn = target.connect().await?;
    let watcher = if bar.is_hidden() {
        None
    } else {
        // Raw SQL: diesel has no declaration of `pg_backend_pid()`; read once per `migrate`.
        let pid: BackendPid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result(&mut conn)
            .await?;
        let observer = target.connect().await?;
        Some(tokio::spawn(watch_index_builds(
            observer,
            pid.pid,
            bar.clone(),
        )))
    };
    // Diesel's migration harness is synchronous; it runs on a blocking thread through
    // diesel-async's wrapper, which drives the async connection on this runtime.
    let applying = bar.clone();
    let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
        conn.batch_execute(&format!(
            "SELECT pg_advisory_lock({}, {}); \
             CREATE SCHEMA IF NOT EXISTS {SERVICE_SCHEMA}; \
             SET search_path TO {SERVICE_SCHEMA}, public;",
            MIGRATION_LOCK.0, MIGRATION_LOCK.1
        ))?;
        let applied = apply_each(&mut conn, &applying);
        // The lock is also released when the connection closes; unlocking explicitly keeps
        // the intent visible.
        conn.batch_execute(&format!(
            "SELECT pg_advisory_unlock({}, {})",
            MIGRATION_LOCK.0, MIGRATION_LOCK.1
        ))?;
        applied
    })
    .await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    bar.finish_and_clear();
    applied?
}

/// Applies the pending migrations one by one (each in its own transaction unless its
/// metadata says otherwise, as diesel does for all of them at once), so that progress can
/// name each.
fn apply_each(
    conn: &mut AsyncConnectionWrapper<AsyncPgConnection>,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<String>> {
    let failed = |error| anyhow::anyhow!("migration failed: {error}");
    let pending = conn.pending_migrations(MIGRATIONS).map_err(failed)?;
    bar.set_length(pending.len() as u64);
    let mut applied = Vec::with_capacity(pending.len());
    for migration in pending {
        let name = migration.name().to_string();
        bar.set_prefix(name.clone());
        bar.set_message("");
        let started = Instant::now();
        let version = conn.run_migration(&*migration).map_err(failed)?;
        bar.println(format!(
            "  applied {name} in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        bar.inc(1);
        applied.push(version.to_string());
    }
    Ok(applied)
}

/// One row of `pg_stat_progress_create_index` (PostgreSQL 12+).
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct IndexBuildProgress {
    #[diesel(sql_type = Text)]
    pub phase: String,
    #[diesel(sql_type = BigInt)]
    pub lockers_total: i64,
    #[diesel(sql_type = BigInt)]
    pub lockers_done: i64,
    #[diesel(sql_type = BigInt)]
    pub blocks_total: i64,
    #[diesel(sql_type = BigInt)]
    pub blocks_done: i64,
    #[diesel(sql_type = BigInt)]
    pub tuples_total: i64,
    #[diesel(sql_type = BigInt)]
    pub tuples_done: i64,
}

impl IndexBuildProgress {
    /// A line an operator can act on: a build that waits names what it waits for.
    pub fn describe(&self) -> String {
        let percent = |done: i64, total: i64| done.saturating_mul(100) / total.max(1);
        if self.phase.starts_with("waiting for") {
            let lockers = if self.lockers_total > 0 {
                format!(
                    ": {} of {} transaction(s) done",
                    self.lockers_done, self.lockers_total
                )
            } else {
                String::new()
            };
            format!(
                "index build: {}{lockers} (a long transaction of the app holds it up)",
                self.phase
            )
        } else if self.blocks_total > 0 {
            format!(
                "index build: {}: {}% of {} blocks",
                self.phase,
                percent(self.blocks_done, self.blocks_total),
                self.blocks_total
            )
        } else if self.tuples_total > 0 {
            format!(
                "index build: {}: {}% of {} rows",
                self.phase,
                percent(self.tuples_done, self.tuples_total),
                self.tuples_total
            )
        } else {
            format!("index build: {}", self.phase)
        }
    }
}

/// Reads the migrating session's index build progress until aborted, into the bar's message.
async fn watch_index_builds(mut conn: AsyncPgConnection, pid: i32, bar: ProgressBar) {
    loop {
        tokio::time::sleep(INDEX_POLL).await;
        // Raw SQL: a statistics view `schema.rs` does not describe, read only to show progress.
        let row = diesel::sql_query(
            "SELECT phase, lockers_total, lockers_done, blocks_total, blocks_done, \
                    tuples_total, tuples_done \
             FROM pg_stat_progress_create_index WHERE pid = $1",
        )
        .bind::<Integer, _>(pid)
        .load::<IndexBuildProgress>(&mut conn)
        .await;
        match row.as_deref() {
            Ok([progress, ..]) => bar.set_message(progress.describe()),
            Ok([]) => bar.set_message(""),
            // Progress is a courtesy: a failed read must not disturb the migration.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IndexBuildProgress;

    fn progress(phase: &str, lockers: (i64, i64), blocks: (i64, i64)) -> IndexBuildProgress {
        IndexBuildProgress {
            phase: phase.to_owned(),
            lockers_done: lockers.0,
            lockers_total: lockers.1,
            blocks_done: blocks.0,
            blocks_total: blocks.1,
            tuples_done: 0,
            tuples_total: 0,
        }
    }

    #[test]
    fn index_build_progress_names_what_it_waits_for_and_how_far_it_got() {
        let waiting = progress("waiting for writers before build", (0, 2), (0, 0));
        assert_eq!(
            waiting.describe(),
            "index build: waiting for writers before build: 0 of 2 transaction(s) done \
             (a long transaction of the app holds it up)"
        );
        let scanning = progress("building index: scanning table", (0, 0), (250, 1000));
        assert_eq!(
            scanning.describe(),
            "index build: building index: scanning table: 25% of 1000 blocks"
        );
        assert_eq!(
            progress("initializing", (0, 0), (0, 0)).describe(),
            "index build: initializing"
        );
    }
}
