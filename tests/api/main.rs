//! Integration tests: the real server against a real PostgreSQL, one fresh database per test.

mod auth;
mod bad_input;
mod cli;
mod database;
mod discovery;
mod faults;
mod filters;
mod fuzz;
mod group_replay;
mod groups;
mod health;
mod helpers;
mod identity;
mod isolation;
mod license;
mod lifecycle;
mod modes;
mod patching;
mod queries;
mod replay;
mod replicas;
mod requests;
mod skeleton;
mod sqlstate;
mod users;
mod writes;
