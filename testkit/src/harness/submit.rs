//! Putting jobs in front of the worker: jobs as a user writes them, submitted the way
//! `producer submit` does, or raw bytes published as any AMQP client could.

use fluxq_common::{DelayTiers, Lane, ProviderKind};
use fluxq_wire::amqp;
use lapin::types::FieldTable;
use uuid::Uuid;

use super::Harness;

/// A job as a user would write it, with a prompt unique to the test.
pub fn job(prompt: &str, seed: u64) -> serde_json::Value {
    serde_json::json!({
        "id": Uuid::new_v4().to_string(),
        "model": "flux-2-pro",
        "prompt": prompt,
        "width": 512,
        "height": 512,
        "seed": seed,
    })
}

/// The id of a job built by [`job`].
pub fn id_of(job: &serde_json::Value) -> Uuid {
    job["id"].as_str().unwrap().parse().unwrap()
}

impl Harness {
    /// Submits jobs the way `producer submit` does (validated, recorded, confirmed).
    pub async fn submit(&self, jobs: &[serde_json::Value], batch: &str, lane: Lane) -> u64 {
        let text: String = jobs.iter().map(|j| format!("{j}\n")).collect();
        let prepared =
            fluxq_producer::submit::prepare(text.as_bytes(), Some(batch), ProviderKind::Bfl)
                .expect("valid jobs");
        let tiers = DelayTiers::for_policy(&self.worker_config().retry);
        let mut source = amqp::ChannelSource::new(
            &self.amqp_url,
            "fluxq-test-producer",
            self.names.clone(),
            tiers,
        );
        let n = fluxq_producer::submit::publish(
            &prepared,
            &mut source,
            &self.records,
            &self.names,
            lane,
            ProviderKind::Bfl,
        )
        .await
        .expect("publish");
        source.close().await;
        n
    }

    /// Publishes raw bytes to a lane, as any AMQP client could.
    pub async fn publish_raw(&self, body: &[u8], lane: Lane) {
        let props = amqp::job_properties("", FieldTable::default());
        amqp::publish_confirmed(
            &self.channel,
            &self.names.jobs_exchange(),
            lane.as_str(),
            body,
            props,
        )
        .await
        .expect("publish raw");
    }
}
