//! Confirmed publishing: a message counts as sent only once the broker confirmed it.

use std::borrow::Cow;
use std::time::Duration;

use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

use super::AmqpError;

/// Properties of a job message: persistent JSON with the job id as `message_id`.
pub fn job_properties(id: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(id.into())
        .with_headers(headers)
}

/// [`publish_confirmed`] of a body it owns and drops as soon as the message is sent,
/// before waiting for the confirm: a large body is not held for the broker's fsync.
pub async fn publish_owned_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: Vec<u8>,
    props: BasicProperties,
) -> Result<(), AmqpError> {
    publish_with(ch, exchange, routing_key, Cow::Owned(body), props).await
}

/// Publishes one message and waits for the broker's confirm (the channel must be in
/// confirm mode). Returns only once the broker has taken responsibility for it.
pub async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Result<(), AmqpError> {
    publish_with(ch, exchange, routing_key, Cow::Borrowed(body), props).await
}

/// Sends `body` (dropped once sent, if owned) and waits for the confirm.
async fn publish_with(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    body: Cow<'_, [u8]>,
    props: BasicProperties,
) -> Result<(), AmqpError> {
    let wait = Duration::from_secs(30);
    let publish = async move {
        let confirm = ch
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                props,
            )
            .await?;
        drop(body);
        confirm.await
    };
    // Bounded as a whole: sending can wait too, on a connection that died unnoticed.
    let confirmation = tokio::time::timeout(wait, publish)
        .await
        .map_err(|_| AmqpError::Timeout(wait))??;
    match confirmation {
        lapin::Confirmation::Ack(None) => Ok(()),
        _ => Err(AmqpError::NotConfirmed(format!("{exchange}/{routing_key}"))),
    }
}
