//! Integration tests: the real server against a real PostgreSQL, one fresh database per test.

mod auth;
mod cli;
mod database;
mod health;
mod helpers;
mod license;
mod lifecycle;
mod replay;
mod skeleton;
mod users;
