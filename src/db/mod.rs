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

use std::time::Duration;

use diesel::sql_types::Text;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub type DbPool = Pool<AsyncPgConnection>;
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;
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

/// Builds the pool. Connections are opened lazily; each one gets the `statement_timeout` and
/// `application_name` of `options` when it is opened.
pub fn build_pool(target: &ConnectOptions, options: &PoolOptions) -> anyhow::Result<DbPool> {
    let statement_timeout = options.statement_timeout.as_millis().to_string();
    let application_name = options.application_name.clone();
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // A checked-out connection is not pinged first: that would double the round trips of every
    // request. A dead connection fails its query, is discarded, and the request answers 503.
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
                "SELECT set_config('statement_timeout', $1, false), \
                        set_config('application_name', $2, false)",
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
    Ok(Pool::builder(manager)
        .max_size(options.max_size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
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
