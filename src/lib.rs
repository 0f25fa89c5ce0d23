//! scim-sidecar: a SCIM 2.0 provisioning service that shares the Sourcebot app's PostgreSQL
//! database. See README.md for what it does and how to run it.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
#[cfg(feature = "dev")]
pub mod dev;
pub mod error;
pub mod http;
pub mod license;
pub mod metrics;
pub mod provisioning;
pub mod scim;
pub mod startup;
pub mod state;
pub mod telemetry;
