//! Who is calling and whether they may provision: bearer SCIM token -> org, the org's `scim`
//! entitlement, and the `AuthContext` every SCIM handler receives.

mod authenticator;
mod context;
mod entitlement;
mod rate_limit;
mod reads;
pub mod token;

pub use authenticator::Authenticator;
pub use context::{require_scim_access, AuthContext, RequestDeadline, ScimAccess};
pub use entitlement::{org_license_grant, EntitlementGate, Grant, SeatCap};
pub use rate_limit::TokenRateLimit;
