//! The authentication path's own database reads (token owner, licence row), which run before
//! any handler and so before `http::retry_read` could help.

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::DbPool;
use crate::error::ApiError;

/// Runs `read` on a pooled connection, and once more on a fresh one when the first died under
/// it.
pub async fn read_retrying<T>(
    pool: &DbPool,
    read: impl AsyncFn(&mut AsyncPgConnection) -> QueryResult<T>,
) -> Result<T, ApiError> {
    match read_once(pool, &read).await {
        Err(error) if error.is_connection_lost() => {
            tracing::info!("the database connection was lost; reading again on a fresh one");
            pool.discard_idle();
            read_once(pool, &read).await
        }
        outcome => outcome,
    }
}

async fn read_once<T>(
    pool: &DbPool,
    read: &impl AsyncFn(&mut AsyncPgConnection) -> QueryResult<T>,
) -> Result<T, ApiError> {
    let mut conn = pool.get().await?;
    read(&mut conn)
        .await
        .map_err(|error| ApiError::from(error).with_sqlstate_of(&mut conn))
}
