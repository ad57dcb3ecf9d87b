//! Publishing from the worker (retries to delay queues, dead letters, deferrals)
//! on the current connection's confirm channel.

use std::sync::RwLock;
use std::time::Duration;

use fluxq_wire::amqp::{self, AmqpError};
use lapin::{BasicProperties, Channel};
use tokio_util::sync::CancellationToken;

/// Why a message was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The worker is handing back its jobs (its grace period is over): the publish was
    /// abandoned, confirmed or not, and the job's delivery goes back to its queue.
    #[error("stopping before the broker confirmed the publish")]
    Stopping,
}

/// The confirm channel of the current RabbitMQ session, replaced on reconnection.
#[derive(Debug)]
pub struct Publisher {
    channel: RwLock<Option<Channel>>,
    /// Cancelled when jobs must hand back what they hold.
    stop: CancellationToken,
}

impl Publisher {
    pub fn new(stop: CancellationToken) -> Self {
        Self {
            channel: RwLock::new(None),
            stop,
        }
    }

    pub fn set(&self, ch: Option<Channel>) {
        if let Ok(mut slot) = self.channel.write() {
            *slot = ch;
        }
    }

    /// The current channel, or "not connected" naming where the message was going.
    fn channel(&self, exchange: &str, key: &str) -> Result<Channel, PublishError> {
        let ch = self.channel.read().ok().and_then(|c| c.clone());
        ch.ok_or_else(|| AmqpError::NotConfirmed(format!("{exchange}/{key}: not connected")).into())
    }

    /// Publishes and waits at most `within` for the broker's confirm, even while
    /// stopping: for handing a delivery back as a fresh copy, which shutdown does too.
    pub async fn publish_within(
        &self,
        within: Duration,
        exchange: &str,
        key: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), PublishError> {
        let ch = self.channel(exchange, key)?;
        let publish = amqp::publish_confirmed(&ch, exchange, key, body, props);
        match tokio::time::timeout(within, publish).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(AmqpError::Timeout(within).into()),
        }
    }

    /// [`Publisher::publish`] of a body that is dropped as soon as it is sent, before
    /// the confirm (a large dead letter is not held while the broker stores it).
    pub async fn publish_owned(
        &self,
        exchange: &str,
        key: &str,
        body: Vec<u8>,
        props: BasicProperties,
    ) -> Result<(), PublishError> {
        let ch = self.channel(exchange, key)?;
        tokio::select! {
            _ = self.stop.cancelled() => Err(PublishError::Stopping),
            r = amqp::publish_owned_confirmed(&ch, exchange, key, body, props) => Ok(r?),
        }
    }

    /// Publishes and waits for the broker's confirm, unless the worker stops first.
    pub async fn publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), PublishError> {
        let ch = self.channel(exchange, key)?;
        tokio::select! {
            _ = self.stop.cancelled() => Err(PublishError::Stopping),
            r = amqp::publish_confirmed(&ch, exchange, key, body, props) => Ok(r?),
        }
    }
}
