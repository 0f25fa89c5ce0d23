//! Development and test tooling, compiled only with the `dev` feature (which `cargo test`
//! turns on, and `cargo run --features dev -- demo` asks for). A release build contains none
//! of it: no app-schema fixture, no PostgreSQL cluster management, no licence signing, no
//! member seeding.

pub mod database;
pub mod license_issuer;
pub mod seed;
