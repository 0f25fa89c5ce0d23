//! Queries. Every function takes `&mut AsyncPgConnection`, so the same code runs inside or
//! outside a transaction, and every query on org data takes the caller's org id.

pub mod audit;
pub mod licenses;
pub mod orgs;
pub mod tokens;
pub mod users;
