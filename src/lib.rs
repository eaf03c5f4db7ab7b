//! Handbill: a self-hosted, consent-first audience mailing platform.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod mail;
pub mod services;
pub mod store;
pub mod transfer;
pub mod workers;

pub use app::App;
