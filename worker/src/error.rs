//! Why the worker could not start or run ([`WorkerError`]).

use fluxq_wire::amqp::AmqpError;

use crate::{http_server, output};

/// Why the worker could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("output: {0}")]
    Output(#[from] output::OutputError),
    #[error(transparent)]
    Metrics(#[from] http_server::ServeError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error("consumption paused while a provider account was blocked")]
    Paused,
    #[error("RabbitMQ consumer of {0} stopped")]
    ConsumerEnded(String),
    #[error("stopping while connecting to RabbitMQ")]
    Stopping,
}
