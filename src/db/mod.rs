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
pub mod sqlstate;

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use tokio_postgres::error::SqlState;

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

    /// Connections open, idle and at most, and requests waiting for one.
    pub fn status(&self) -> deadpool::Status {
        self.0.status()
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

impl PooledConnection {
    /// The SQLSTATE of the latest error the server sent this connection: the code of the
    /// error its latest failed statement returned (see [`sqlstate`]).
    pub fn last_sqlstate(&mut self) -> Option<SqlState> {
        sqlstate::last_sqlstate(self)
    }
}

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
/// The driver reports a closed socket without a SQLSTATE (`UnableToSendCommand`); a backend
/// ended by the server reports one that diesel-async does not map (`Unknown`): class 08
/// (connection exception), 57P01 (`pg_terminate_backend`, shutdown), 57P02 (another
/// backend crashed), 57P03 (starting up), 57P04 (database dropped), 57P05 and 25P03 (idle
/// timeouts). `sqlstate` is the error's code, read off the wire ([`sqlstate`]).
pub fn is_connection_lost(error: &DieselError, sqlstate: Option<&SqlState>) -> bool {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => true,
        DieselError::DatabaseError(_, _) => sqlstate.is_some_and(|code| {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::DATABASE_DROPPED,
                    SqlState::IDLE_SESSION_TIMEOUT,
                    SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                ]
                .contains(code)
        }),
        _ => false,
    }
}

/// Builds the pool. Connections are opened lazily; each one gets, when it is opened, the
/// `statement_timeout` and `application_name` of `options` and (PostgreSQL 14+) a one-second
/// check for a vanished client. Server messages stay in whatever language the role has:
/// errors are told apart by SQLSTATE ([`sqlstate`]).
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
            // Raw SQL: runs once per new connection, so there is nothing to cache.
            diesel::sql_query(
                "SELECT set_config('statement_timeout', $1, false) AS statement_timeout, \
                        set_config('application_name', $2, false) AS application_name, \
                        CASE WHEN current_setting('server_version_num')::int >= 140000 \
                             THEN set_config('client_connection_check_interval', '1000', false) \
                        END AS check_interval",
            )
            .bind::<Text, _>(statement_timeout)
            .bind::<Text, _>(application_name)
            .execute(&mut conn)
            .await
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
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
    fn redacted_urls_hide_every_password() {
        let shown = super::redacted_url(
            "postgres://app:hunter2@db/sb?password=hunter3&sslpassword=hunter4&sslmode=require",
        );
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }
}
