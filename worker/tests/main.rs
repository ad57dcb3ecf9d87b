//! The worker's integration tests, in one binary: real RabbitMQ and Redis, the mock
//! provider over HTTP, in-process workers and the real `worker` binary. One binary
//! links once and shares one set of services instead of a dozen.

mod crash;
mod daily_budget;
mod delivery_limit;
mod durable;
mod hostile;
mod identity;
mod json_logs;
mod limits;
mod metrics;
mod money;
mod object_store;
mod pause;
mod pipeline;
mod poison;
mod reconnect;
mod replay;
mod retry_delays;
mod runflow;
mod runware;
mod secrets;
mod shutdown;
mod slot_pool;
mod spend;
