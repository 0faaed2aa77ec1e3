//! matrix-accounts: the Matrix Client-Server account API, served from the
//! YAML descriptions in `api/`.
//!
//! Data flows one way: a request enters the generated layer ([`api`]), whose
//! adapters in [`http`] turn each spec era's request into a call on the
//! domain ([`accounts`]), which keeps its state in a [`store`].

pub mod accounts;
pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod import;
pub mod logging;
pub mod mail;
pub mod server;
pub mod store;
