//! The integration tests, one binary: each module below was a test file of
//! its own, and each linked the whole server. Run one room with
//! `cargo test --test it seed_register::` (a module path filters).
//!
//! `tests/spec_editing.rs` stays a binary of its own: it copies the project
//! and runs cargo builds, minutes of work that a plain `cargo test --test it`
//! should not wait for.

// Shared support: a server process, request helpers, an identity server.
mod accounts_support;
mod common;
mod identity_server;
mod smtp_sink;
mod v3_support;

mod accounts_cancellation;
mod accounts_concurrency;
mod accounts_hardening;
mod accounts_password_upgrade;
mod accounts_registration_tokens;
mod accounts_session;
mod accounts_threepids;
mod accounts_uia;
mod admin;
mod breaking_changes;
mod cli;
mod connections;
mod contract;
mod deactivation;
mod devices;
mod discovery;
mod email;
mod generated;
mod generated_client;
mod http_surface;
mod import;
mod postgres_instances;
mod proxies;
mod seed_durability;
mod seed_limits_and_errors;
mod seed_login_refresh;
mod seed_password;
mod seed_register;
mod seed_threepids;
mod uia_fallback;
mod v3_browsers;
mod v3_login;
mod v3_password;
mod v3_register;
mod v3_session;
mod v3_threepids;
mod v3_uia_rules;
