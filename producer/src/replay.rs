//! `producer replay-dead`: publish dead-lettered jobs again (after fixing a key, a
//! quota, a provider-side rule) and reopen their failed records.
//!
//! It works through a snapshot of `{ns}.dead`: each matching message is re-published
//! to its lane (confirmed) and its record reopened; each other message is re-published
//! to the dead-letter exchange (confirmed). Only then is the original acknowledged, so
//! an interruption can duplicate a message but never lose one; running it again is
//! safe (a reopened or finished job is not reopened twice).

use fluxq_common::job::{readable_batch, readable_id};
use fluxq_common::{Lane, Names};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use fluxq_wire::amqp::{self, AmqpError, ChannelSource};
use fluxq_wire::headers::{self, HDR_LANE, HDR_PUBLISHED_MS, HDR_REASON};
use fluxq_wire::{RedisStore, StoreError};

/// Which dead letters to replay; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    pub batch: Option<String>,
    pub reason_contains: Option<String>,
    /// Only these job ids (empty: any).
    pub ids: Vec<String>,
}

impl ReplayFilter {
    /// Whether a dead letter of job `id` and `batch` (each if readable) with `reason`
    /// matches.
    pub fn matches(&self, id: Option<&str>, batch: Option<&str>, reason: &str) -> bool {
        (self.ids.is_empty() || id.is_some_and(|id| self.ids.iter().any(|i| i == id)))
            && self.batch.as_deref().is_none_or(|b| batch == Some(b))
            && self
                .reason_contains
                .as_deref()
                .is_none_or(|s| reason.contains(s))
    }
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Dead letters looked at.
    pub examined: u64,
    /// Published again to their lane.
    pub replayed: u64,
    /// RedisStore reopened (failed → queued).
    pub reopened: u64,
    /// Left in the dead-letter queue.
    pub kept: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<lapin::Error> for ReplayError {
    fn from(e: lapin::Error) -> Self {
        ReplayError::Amqp(AmqpError::Broker(e))
    }
}

/// Replays the dead letters that match `filter`.
pub async fn replay_dead(
    source: &mut ChannelSource,
    records: &RedisStore,
    names: &Names,
    filter: &ReplayFilter,
) -> Result<ReplayReport, ReplayError> {
    let ch = source.channel().await?;
    let dead = names.dead_queue();
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let snapshot = ch
        .queue_declare(dead.as_str().into(), passive, FieldTable::default())
        .await?
        .message_count();
    let mut report = ReplayReport::default();
    for _ in 0..snapshot {
        let Some(msg) = ch
            .basic_get(dead.as_str().into(), BasicGetOptions::default())
            .await?
        else {
            break;
        };
        let d = msg.delivery;
        report.examined += 1;
        let reason = headers::header_str(&d.properties, HDR_REASON).unwrap_or_default();
        let batch = readable_batch(&d.data);
        let id = readable_id(&d.data);
        let message_id = id.map(|u| u.to_string()).unwrap_or_default();
        if filter.matches(
            id.map(|u| u.to_string()).as_deref(),
            batch.as_deref(),
            &reason,
        ) {
            if let Some(id) = id {
                let reopened = records.reopen(&id, batch.as_deref()).await?;
                report.reopened += u64::from(reopened);
            }
            let lane = headers::header_str(&d.properties, HDR_LANE)
                .and_then(|l| Lane::parse(&l))
                .unwrap_or_default();
            let mut fresh = FieldTable::default();
            headers::set_header_int(
                &mut fresh,
                HDR_PUBLISHED_MS,
                chrono::Utc::now().timestamp_millis(),
            );
            let props = amqp::job_properties(&message_id, fresh);
            amqp::publish_confirmed(&ch, &names.jobs_exchange(), lane.as_str(), &d.data, props)
                .await?;
            report.replayed += 1;
        } else {
            let props = d.properties.clone();
            amqp::publish_confirmed(&ch, &names.dead_exchange(), "", &d.data, props).await?;
            report.kept += 1;
        }
        d.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(report)
}
