//! RabbitMQ for every fluxq process: connecting, declaring the topology
//! idempotently ([`topology`]), and publishing with publisher confirms ([`publish`]).

use std::time::Duration;

use fluxq_common::{DelayTiers, Names};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};

pub mod publish;
pub mod topology;

pub use publish::{job_properties, publish_confirmed, publish_owned_confirmed};
pub use topology::{DELIVERY_LIMIT, MAX_RETURNS, REFRESH_AT, declare_topology, delete_topology};

/// Errors talking to RabbitMQ. All of them are transient from the job's point of view.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The connection, a channel or a declaration failed.
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker refused a published message (nack or unroutable).
    #[error("RabbitMQ did not confirm the message published to {0:?}")]
    NotConfirmed(String),
    /// The broker did not answer in time.
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
}

/// Connects to RabbitMQ under a connection name that shows in the management UI.
pub async fn connect(url: &str, name: &str) -> Result<Connection, AmqpError> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let conn = tokio::time::timeout(Duration::from_secs(15), Connection::connect(url, props))
        .await
        .map_err(|_| AmqpError::Timeout(Duration::from_secs(15)))??;
    Ok(conn)
}

/// Opens a channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, AmqpError> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// A confirm channel that reconnects (and re-declares the topology) when it is lost.
#[derive(Debug)]
pub struct ChannelSource {
    url: String,
    name: String,
    names: Names,
    tiers: DelayTiers,
    current: Option<(Connection, Channel)>,
}

impl ChannelSource {
    pub fn new(url: &str, name: &str, names: Names, tiers: DelayTiers) -> Self {
        Self {
            url: url.to_owned(),
            name: name.to_owned(),
            names,
            tiers,
            current: None,
        }
    }

    /// The channel, connecting first if there is none or it is no longer usable.
    pub async fn channel(&mut self) -> Result<Channel, AmqpError> {
        if let Some((conn, ch)) = &self.current
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        self.current = None;
        let conn = connect(&self.url, &self.name).await?;
        // Queues an older fluxq declared without the delivery limit are used as they
        // are; the worker says how to set it.
        declare_topology(&conn, &self.names, &self.tiers).await?;
        let ch = confirm_channel(&conn).await?;
        self.current = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Drops the connection so the next [`ChannelSource::channel`] makes a new one.
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// Closes the connection politely.
    pub async fn close(&mut self) {
        if let Some((conn, _)) = self.current.take() {
            let _ = conn.close(200, "done".into()).await;
        }
    }
}
