//! Publishing from the worker (retries to delay queues, dead letters, deferrals)
//! on the current connection's confirm channel.

use std::sync::RwLock;

use fluxq_producer::amqp::{self, AmqpError};
use lapin::{BasicProperties, Channel};

/// The confirm channel of the current RabbitMQ session, replaced on reconnection.
#[derive(Debug, Default)]
pub struct Publisher {
    channel: RwLock<Option<Channel>>,
}

impl Publisher {
    pub fn set(&self, ch: Option<Channel>) {
        if let Ok(mut slot) = self.channel.write() {
            *slot = ch;
        }
    }

    /// Publishes and waits for the broker's confirm.
    pub async fn publish(
        &self,
        exchange: &str,
        key: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), AmqpError> {
        let ch = self.channel.read().ok().and_then(|c| c.clone());
        let Some(ch) = ch else {
            return Err(AmqpError::NotConfirmed(format!(
                "{exchange}/{key}: not connected"
            )));
        };
        amqp::publish_confirmed(&ch, exchange, key, body, props).await
    }
}
