//! A read whose database connection died under it runs once more, on a fresh connection.
//!
//! Only reads: they wrote nothing, so running them again changes nothing. A write whose
//! connection died may or may not have committed (the connection can die during `COMMIT`), so
//! it answers 503 with `Retry-After` instead, and the IdP's retry finds what was kept.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// `handler`, run again once when its connection was lost (see [`ApiError::is_connection_lost`]),
/// after the pool's idle connections are closed, so that the second run opens a fresh one.
pub fn retry_read<H, Args>(handler: H) -> RetryRead<H, Args>
where
    H: Handler<Args, Output = Result<HttpResponse, ApiError>>,
    Args: FromRequest + 'static,
{
    RetryRead {
        handler,
        args: PhantomData,
    }
}

pub struct RetryRead<H, Args> {
    handler: H,
    args: PhantomData<fn() -> Args>,
}

impl<H: Clone, Args> Clone for RetryRead<H, Args> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            args: PhantomData,
        }
    }
}

// The handler's arguments are extracted anew for the second run (extractors such as
// `web::Path` cannot be cloned); reads have no body, so nothing is lost by extracting twice.
impl<H, Args> Handler<(HttpRequest,)> for RetryRead<H, Args>
where
    H: Handler<Args, Output = Result<HttpResponse, ApiError>>,
    Args: FromRequest + 'static,
    Args::Error: Into<actix_web::Error>,
{
    type Output = Result<HttpResponse, actix_web::Error>;
    type Future = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn call(&self, (req,): (HttpRequest,)) -> Self::Future {
        let handler = self.handler.clone();
        Box::pin(async move {
            let args = Args::extract(&req).await.map_err(Into::into)?;
            match handler.call(args).await {
                Err(error) if error.is_connection_lost() => {
                    tracing::info!(
                        "the database connection was lost; reading again on a fresh one"
                    );
                    if let Some(state) = req.app_data::<web::Data<AppState>>() {
                        state.pool.discard_idle();
                    }
                    let args = Args::extract(&req).await.map_err(Into::into)?;
                    Ok(handler.call(args).await?)
                }
                outcome => Ok(outcome?),
            }
        })
    }
}
