//! Database access: the connection pool, the app's tables, migrations, the start-up schema
//! check and the queries (`repo`). Nothing here knows about HTTP or SCIM.

pub mod connect;
#[cfg(feature = "dev")]
pub mod explain;
pub mod functions;
pub mod locks;
pub mod migrations;
pub mod repo;
pub mod schema;
pub mod schema_check;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
    TransactionManager,
};

pub use connect::ConnectOptions;
pub use diesel_async::pooled_connection::deadpool::PoolError;

/// How the pool behaves. Start-up fills it from the `database.*` settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    /// Longest wait for a connection (checkout, opening, recycling); then the pool errs.
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` of every connection.
    pub statement_timeout: Duration,
    /// Shows in `pg_stat_activity`.
    pub application_name: String,
}

/// The connection pool. A thin layer over deadpool's, so that a connection handed back in a
/// state nobody may reuse is closed at once (see [`PooledConnection`]).
#[derive(Clone)]
pub struct DbPool(Pool<AsyncPgConnection>);

impl DbPool {
    /// A connection, waiting at most `acquire_timeout`. A connection found closed or left in a
    /// transaction is discarded here and another one opened.
    pub async fn get(&self) -> Result<PooledConnection, PoolError> {
        self.0.get().await.map(|conn| PooledConnection(Some(conn)))
    }

    /// Closes every idle connection, for a retry after a connection died: what killed it has
    /// most likely killed its siblings too, and the dead one itself may be back in the pool
    /// before its driver has seen the socket close.
    pub fn discard_idle(&self) {
        self.0.retain(|_, _| false);
    }
}

/// A checked-out connection; use it as an `AsyncPgConnection`.
///
/// deadpool takes every connection back and only checks it at the next checkout. Two cases
/// cannot wait that long, so a connection handed back broken leaves the pool at once:
/// - abandoned mid-transaction (the request deadline dropped its request): it would sit idle
///   *in* that transaction, holding its locks, until checked out again. Closing it makes
///   PostgreSQL roll the transaction back (a backend waiting on a lock notices the vanished
///   client within `client_connection_check_interval`, set in [`build_pool`]);
/// - closed (its backend was terminated, the server restarted): whatever ended it has most
///   likely ended its idle siblings too, so they are closed as well, and the next checkout
///   (a retried read among them) opens a fresh connection instead of finding another corpse.
pub struct PooledConnection(Option<Object<AsyncPgConnection>>);

impl Deref for PooledConnection {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        // `None` only inside `drop`.
        self.0.as_ref().expect("a pooled connection until dropped")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        self.0.as_mut().expect("a pooled connection until dropped")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(mut conn) = self.0.take() else {
            return;
        };
        if !PoolableConnection::is_broken(&mut *conn) {
            return;
        }
        let abandoned_in_transaction = matches!(
            AnsiTransactionManager::transaction_manager_status_mut(&mut *conn).transaction_depth(),
            Ok(Some(_))
        );
        let pool = Object::pool(&conn);
        drop(Object::take(conn));
        if !abandoned_in_transaction {
            if let Some(pool) = pool {
                pool.retain(|_, _| false);
            }
        }
    }
}

/// Did the connection die under this error (rather than the statement fail)? Then nothing
/// more can happen on it, and what it had not committed was rolled back by PostgreSQL.
///
/// The driver reports a closed socket without a SQLSTATE (`UnableToSendCommand`), and a
/// backend ended by the server (SQLSTATE 57P01 `pg_terminate_backend`, 57P02 crash of another
/// backend, 25P03/57P05 idle timeouts, 57P04 recovery conflict) as `Unknown` with only
/// PostgreSQL's message: diesel-async 0.9 keeps the SQLSTATE to itself. Those messages are
/// read in English, which every pooled connection asks for (`lc_messages`, see
/// [`build_pool`]).
pub fn is_connection_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.starts_with("server closed the connection")
                || message.starts_with("connection closed")
        }
        _ => false,
    }
}

/// Set once the first connection tells that server messages will not be in English.
static FOREIGN_MESSAGES_WARNED: AtomicBool = AtomicBool::new(false);

/// Builds the pool. Connections are opened lazily; each one gets, when it is opened, the
/// `statement_timeout` and `application_name` of `options`, English server messages when the
/// role may choose them, and (PostgreSQL 14+) a one-second check for a vanished client.
pub fn build_pool(target: &ConnectOptions, options: &PoolOptions) -> anyhow::Result<DbPool> {
    let statement_timeout = options.statement_timeout.as_millis().to_string();
    let application_name = options.application_name.clone();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // A checked-out connection is not pinged first: that would double the round trips of every
    // request. A closed connection is still caught at checkout (the driver knows its socket
    // ended); one that dies under a request fails it with 503, or a retry for a read.
    manager_config.recycling_method = RecyclingMethod::Fast;
    let setup_target = target.clone();
    manager_config.custom_setup = Box::new(move |_url| {
        let target = setup_target.clone();
        let statement_timeout = statement_timeout.clone();
        let application_name = application_name.clone();
        Box::pin(async move {
            let mut conn = target.connect().await?;
            // `lc_messages` is a superuser setting (or needs `GRANT SET ON PARAMETER`): asked
            // for, never required. Caught by SQLSTATE, so whatever the language.
            conn.batch_execute(
                "DO $$ BEGIN PERFORM set_config('lc_messages', 'C', false); \
                 EXCEPTION WHEN insufficient_privilege THEN NULL; END $$",
            )
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            // Raw SQL: runs once per new connection, so there is nothing to cache.
            let setup = diesel::sql_query(
                "SELECT set_config('statement_timeout', $1, false) AS statement_timeout, \
                        set_config('application_name', $2, false) AS application_name, \
                        CASE WHEN current_setting('server_version_num')::int >= 140000 \
                             THEN set_config('client_connection_check_interval', '1000', false) \
                        END AS check_interval, \
                        current_setting('lc_messages') AS lc_messages",
            )
            .bind::<Text, _>(statement_timeout)
            .bind::<Text, _>(application_name)
            .get_result::<ConnectionSetup>(&mut conn)
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            warn_about_message_language(&setup.lc_messages);
            Ok(conn)
        })
    });
    // The URL given to the manager is unused: `custom_setup` connects through `target`.
    let manager = AsyncDieselConnectionManager::new_with_config("", manager_config);
    let timeout = options.acquire_timeout;
    Ok(DbPool(
        Pool::builder(manager)
            .max_size(options.max_size)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?,
    ))
}

#[derive(diesel::QueryableByName)]
struct ConnectionSetup {
    #[diesel(sql_type = Text)]
    lc_messages: String,
}

/// Messages in another language than English leave the errors that
/// [`is_connection_lost`] and the error mapping read by message unrecognised: said once.
fn warn_about_message_language(lc_messages: &str) {
    if is_english_locale(lc_messages) || FOREIGN_MESSAGES_WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        db.lc_messages = lc_messages,
        "PostgreSQL answers this role in another language than English and the role may not change it: deadlocks, lock and statement timeouts and lost connections will answer 500 instead of 409/503. Run, as a superuser, ALTER ROLE <role> SET lc_messages = 'C' (or, on PostgreSQL 15+, GRANT SET ON PARAMETER lc_messages TO <role>)"
    );
}

/// `C`, `POSIX`, `en_*` and the empty value (the server's environment, English unless set).
fn is_english_locale(locale: &str) -> bool {
    locale.is_empty()
        || locale == "C"
        || locale.starts_with("C.")
        || locale == "POSIX"
        || locale.starts_with("en_")
        || locale == "en"
        || locale.starts_with("en.")
}

/// The URL without its passwords (user info and query parameters), for messages.
pub fn redacted_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(unparseable database URL)".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if let Some(query) = parsed.query().map(str::to_owned) {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if connect::SECRET_PARAMETERS.contains(&key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        parsed.set_query(Some(&redacted.join("&")));
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn english_message_locales_are_told_apart() {
        for english in ["", "C", "C.UTF-8", "POSIX", "en_US.UTF-8", "en_GB", "en"] {
            assert!(super::is_english_locale(english), "{english}");
        }
        for foreign in ["de_DE.UTF-8", "fr_FR", "ja_JP.eucJP", "es"] {
            assert!(!super::is_english_locale(foreign), "{foreign}");
        }
    }

    #[test]
    fn redacted_urls_hide_every_password() {
        let shown = super::redacted_url(
            "postgres://app:hunter2@db/sb?password=hunter3&sslpassword=hunter4&sslmode=require",
        );
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }
}
