//! Request authentication: bearer SCIM token -> org, and the `AuthContext` every SCIM handler
//! receives.

mod authenticator;
mod context;
pub mod token;

pub use authenticator::Authenticator;
pub use context::{require_scim_access, AuthContext};
