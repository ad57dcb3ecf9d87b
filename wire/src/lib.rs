//! What every fluxq binary agrees on at the broker and in Redis: connection
//! settings, the RabbitMQ topology and confirmed publishing, message headers, and the
//! job record with its atomic Lua scripts, and where images are stored.
//!
//! # Layout
//! - [`conn`]: [`ConnArgs`], the RabbitMQ/Redis/namespace settings of every binary.
//! - [`amqp`]: connecting, the topology ([`amqp::topology`]), confirmed publishing
//!   ([`amqp::publish`]), a reconnecting confirm channel.
//! - [`headers`]: every `x-fluxq-*` header, typed reads and writes, and the headers of
//!   a retry, of a dead letter and of a handed-back copy.
//! - [`redis`]: connecting to Redis, [`StoreError`], timestamps.
//! - [`lua`]: the one script loader and the shared Lua library.
//! - [`store`]: [`RedisStore`], the job records and batches as every binary changes them.
//! - [`storage`]: where images are stored (a directory or an S3 bucket) and how S3 is
//!   reached: the worker writes there, `producer serve` reads back.
//! - [`secret`]: [`ApiKey`], a key no `Debug`, log line or error shows;
//!   [`config_error`]: the error of a setting that cannot work.

pub mod amqp;
pub mod config_error;
pub mod conn;
pub mod headers;
pub mod lua;
pub mod redis;
pub mod secret;
pub mod storage;
pub mod store;

pub use config_error::ConfigError;
pub use conn::{ConnArgs, ProviderArg, SecretUrl, check_urls, redact_url};
pub use redis::{StoreError, now_rfc3339};
pub use secret::ApiKey;
pub use store::RedisStore;
