//! matrix-accounts: the Matrix Client-Server account API, served from the
//! YAML descriptions in `api/`.
//!
//! A request enters the generated layer ([`api`]), whose handlers live in
//! [`http`].

pub mod api;
pub mod config;
pub mod error;
pub mod http;
pub mod server;
