//! What every fluxq binary agrees on at the broker and in Redis: connection
//! settings, the RabbitMQ topology and confirmed publishing, message headers, and the
//! job record with its atomic Lua scripts.
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

pub mod amqp;
pub mod conn;
pub mod headers;
pub mod lua;
pub mod redis;
pub mod store;

pub use conn::{ConnArgs, ProviderArg, SecretUrl, check_urls, redact_url};
pub use redis::{StoreError, now_rfc3339};
pub use store::RedisStore;
