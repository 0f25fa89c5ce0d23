//! Queries. Every function takes `&mut AsyncPgConnection`, so the same code runs inside or
//! outside a transaction, and every query on org data takes the caller's org id.

pub mod access;
pub mod accounts;
pub mod app_release;
pub mod audit;
pub mod groups;
pub mod licenses;
pub mod members;
pub mod orgs;
pub mod tokens;
