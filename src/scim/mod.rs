//! SCIM 2.0 protocol logic (RFC 7643 / RFC 7644): schemas, messages and errors. Pure: it
//! imports neither actix nor diesel.

pub mod cursor;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod group;
pub mod patch;
pub mod projection;
pub mod query;
pub mod resource;
pub mod schema;
pub mod user;

pub use error::{ScimError, ScimType};

/// Media type of every SCIM answer (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
