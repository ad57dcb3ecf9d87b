//! Runware's task API (providers.md): one endpoint taking a JSON array of tasks with
//! `Authorization: Bearer`; `imageInference` with async delivery, polled with
//! `getResponse`; the cost (USD) arrives with the results.
//!
//! The `taskUUID` is chosen by the worker and kept across retries of a submit whose
//! answer was lost or failed: `conflictTaskUUID` then means "already submitted", and
//! the job goes on polling that task. The request body is in [`body`], the answers and
//! the classification of error codes in [`reply`].

mod body;
pub mod reply;

use bytes::Bytes;
use fluxq_common::failure::classify_http_status;
use fluxq_common::{Charge, Failure, FailureKind, JobSpec, MicroUsd, OutputFormat, pricing};
use serde::Serialize;
use tracing::info;
use url::Url;
use uuid::Uuid;

use super::download::download_image;
use super::fetch::{Http, read_json_bytes};
use super::http::transport_failure;
use super::{Endpoint, Image, PollStatus, Provider, Registered, Settings, Submitted, Task};
use crate::secret::ApiKey;
use reply::Envelope;

/// Longest unreadable body quoted in a failure reason.
const MAX_QUOTED_BODY: usize = 300;

/// A Runware client for one endpoint and key. The key goes only to that endpoint
/// (redirects are not followed), never with image downloads.
#[derive(Debug, Clone)]
pub struct RunwareProvider {
    endpoint: Url,
    key: ApiKey,
    http: Http,
}

/// An answer: HTTP status, the envelope if the body is one, the body.
struct Answer {
    status: u16,
    envelope: Option<Envelope>,
    body: Bytes,
}

impl Answer {
    /// The failure for an answer that says nothing usable about our task.
    fn failure(&self, what: &str) -> Failure {
        let quoted: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(MAX_QUOTED_BODY)
            .collect();
        let kind = if (200..300).contains(&self.status) {
            FailureKind::Transient
        } else {
            classify_http_status(self.status)
        };
        Failure::new(
            kind,
            format!("{what} answered HTTP {}: {}", self.status, quoted.trim()),
        )
    }
}

impl RunwareProvider {
    pub fn new(endpoint: Url, key: ApiKey, http: Http) -> Self {
        Self {
            endpoint,
            key,
            http,
        }
    }

    /// The `imageInference` task this client sends for `job` (for tests and snapshots).
    pub fn request_body(job: &JobSpec, task_uuid: Uuid) -> serde_json::Value {
        serde_json::to_value([body::inference(job, task_uuid)]).unwrap_or_default()
    }

    async fn post<T: Serialize + ?Sized>(&self, what: &str, tasks: &T) -> Result<Answer, Failure> {
        let resp = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(self.key.expose())
            .json(tasks)
            .send()
            .await
            .map_err(|e| transport_failure(what, e))?;
        let status = resp.status().as_u16();
        // A connection lost while reading the answer is a transport failure too.
        let body = Bytes::from(read_json_bytes(resp, what).await?);
        Ok(Answer {
            status,
            envelope: Envelope::parse(&body),
            body,
        })
    }
}

impl Registered for RunwareProvider {
    const SETTINGS: Settings = Settings {
        name: "Runware",
        key_flag: "runware-api-key",
        key_env: "RUNWARE_API_KEY",
        url_flag: "runware-url",
        url_env: "FLUXQ_RUNWARE_URL",
        default_url: "https://api.runware.ai/v1",
    };

    fn build(endpoint: Endpoint, http: Http) -> Self {
        Self::new(endpoint.url, endpoint.key, http)
    }
}

impl Provider for RunwareProvider {
    /// The `taskUUID` is the worker's: kept across retries of a submission.
    fn chooses_task_id(&self) -> bool {
        true
    }

    /// The cost comes with the result (`includeCost`).
    fn charges_with_result(&self) -> bool {
        true
    }

    async fn submit(
        &self,
        job: &JobSpec,
        task_id: Uuid,
        _attempt: u32,
    ) -> Result<Submitted, Failure> {
        body::check_limits(job)?;
        let what = "Runware submit";
        let answer = self.post(what, &[body::inference(job, task_id)]).await?;
        let accepted = Submitted {
            task: Task {
                id: task_id.to_string(),
                polling_url: String::new(),
            },
            // Runware reports the cost with the results, not here.
            charge: Charge::Exact(MicroUsd(0)),
        };
        let Some(envelope) = &answer.envelope else {
            return Err(answer.failure(what));
        };
        if let Some(error) = envelope.error_for(&task_id) {
            if error.is_conflict() {
                info!(task_uuid = %task_id, "Runware already has this task; polling it instead of submitting again.");
                return Ok(accepted);
            }
            return Err(error.failure(what, answer.status, &task_id));
        }
        let ours = envelope.items_for(&task_id).next().is_some();
        if ours && (200..300).contains(&answer.status) {
            return Ok(accepted);
        }
        Err(answer.failure(what))
    }

    async fn poll(&self, job: &JobSpec, task: &Task) -> Result<PollStatus, Failure> {
        let Ok(id) = Uuid::parse_str(&task.id) else {
            let f = Failure::transient(format!(
                "recorded Runware task id {:?} is not a UUID",
                task.id
            ));
            return Ok(PollStatus::Ended(f));
        };
        let what = "Runware poll";
        let request = serde_json::json!([{ "taskType": "getResponse", "taskUUID": id }]);
        let answer = self.post(what, &request).await?;
        poll_answer(&answer, job, id)
    }

    async fn download(&self, url: &str, expected: OutputFormat) -> Result<Image, Failure> {
        // A delivery URL: the key is never sent with it.
        download_image(&self.http, &self.endpoint, url, expected).await
    }
}

/// What a `getResponse` answer (HTTP `status`, `body` already capped at 1 MiB) says
/// about task `id` of `job`. Pure, so hostile answers are fuzzed (`fuzz/`): whatever
/// the bytes, it returns.
pub fn parse_poll(
    status: u16,
    body: &[u8],
    job: &JobSpec,
    id: Uuid,
) -> Result<PollStatus, Failure> {
    let answer = Answer {
        status,
        envelope: Envelope::parse(body),
        body: Bytes::copy_from_slice(body),
    };
    poll_answer(&answer, job, id)
}

fn poll_answer(answer: &Answer, job: &JobSpec, id: Uuid) -> Result<PollStatus, Failure> {
    let what = "Runware poll";
    let Some(envelope) = answer.envelope.as_ref().filter(|_| answer.status < 500) else {
        // A failed poll says nothing about the task: the caller polls again.
        return Err(answer.failure(what));
    };
    if let Some(error) = envelope.error_for(&id).filter(|e| e.task_uuid.is_some()) {
        let failure = error.failure("Runware task", answer.status, &id);
        return match failure.kind {
            FailureKind::AccountBlocked | FailureKind::Throttled => Err(failure),
            _ => Ok(PollStatus::Ended(failure)),
        };
    }
    let items: Vec<_> = envelope.items_for(&id).collect();
    if items.iter().any(|i| i.status.as_deref() == Some("error")) {
        let f = Failure::transient(format!("Runware task {id} ended in error"));
        return Ok(PollStatus::Ended(f));
    }
    let done: Vec<_> = items
        .iter()
        .filter(|i| i.status.as_deref() == Some("success"))
        .collect();
    let wanted = job.number_results.max(1) as usize;
    if done.len() < wanted {
        if !(200..300).contains(&answer.status) {
            return Err(answer.failure(what));
        }
        let progress = (wanted > 1).then(|| done.len() as f64 / wanted as f64);
        return Ok(PollStatus::Pending { progress });
    }
    let image_urls: Option<Vec<String>> = done
        .iter()
        .take(wanted)
        .map(|i| i.image_url.clone())
        .collect();
    let Some(image_urls) = image_urls else {
        let f = Failure::transient(format!("Runware task {id} succeeded without imageURL"));
        return Ok(PollStatus::Ended(f));
    };
    // No cost reported (includeCost ignored?): record the price-table estimate.
    let one = pricing::estimate(
        job.provider,
        job.model,
        job.width,
        job.height,
        job.reference_images.len(),
    );
    let charge = reply::total_cost(done.iter().take(wanted).map(|i| **i), one)
        .unwrap_or_else(|| Charge::Estimated(MicroUsd(one.0.saturating_mul(wanted as u64))));
    Ok(PollStatus::Ready {
        image_urls,
        charge: Some(charge),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxq_common::{JobMessage, ProviderKind};

    #[test]
    fn the_contract_maps_onto_runware_fields() {
        let msg: JobMessage = serde_json::from_value(serde_json::json!({
            "id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10", "provider": "runware", "model": "flux-2-flex",
            "prompt": "a mug", "width": 1344, "height": 768, "steps": 32, "guidance": 3.5, "seed": 7,
            "reference_images": ["https://x/1.jpg"], "output_format": "webp",
            "prompt_upsampling": false, "safety_tolerance": 6, "number_results": 2
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let spec = msg
            .validate(ProviderKind::Bfl)
            .unwrap_or_else(|e| panic!("{e}"));
        let id = Uuid::nil();
        assert_eq!(
            RunwareProvider::request_body(&spec, id),
            serde_json::json!([{"taskType": "imageInference", "taskUUID": id, "model": "bfl:6@1",
                "positivePrompt": "a mug", "width": 1344, "height": 768, "seed": 7, "steps": 32,
                "CFGScale": 3.5, "numberResults": 2, "outputType": "URL", "outputFormat": "WEBP",
                "deliveryMethod": "async", "includeCost": true,
                "inputs": {"referenceImages": ["https://x/1.jpg"]},
                "providerSettings": {"bfl": {"promptUpsampling": false, "safetyTolerance": 6}}}])
        );
        assert!(body::check_limits(&spec).is_ok());
        let mut too_wide = spec.clone();
        too_wide.width = 2064;
        let f = body::check_limits(&too_wide)
            .err()
            .unwrap_or_else(|| panic!("2064 wide was accepted"));
        assert_eq!(f.kind, FailureKind::Permanent, "{}", f.reason);
    }

    #[test]
    fn hostile_get_response_answers_are_read_without_panicking() {
        let job: JobMessage = serde_json::from_value(serde_json::json!({
            "id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10", "model": "flux-2-pro", "prompt": "a mug",
            "provider": "runware"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let job = job
            .validate(ProviderKind::Runware)
            .unwrap_or_else(|e| panic!("{e}"));
        let id = Uuid::from_u128(7);
        let poll = |status: u16, body: String| parse_poll(status, body.as_bytes(), &job, id);
        let item = |extra: &str| format!(r#"{{"data":[{{"taskUUID":"{id}"{extra}}}]}}"#);
        assert!(matches!(
            poll(200, item(r#","status":"processing""#)),
            Ok(PollStatus::Pending { .. })
        ));
        match poll(
            200,
            item(r#","status":"success","imageURL":"https://im.runware.ai/x.jpg","cost":-1e308"#),
        ) {
            Ok(PollStatus::Ready { image_urls, .. }) => assert_eq!(image_urls.len(), 1),
            other => panic!("{other:?}"),
        }
        match poll(200, item(r#","status":"success""#)) {
            Ok(PollStatus::Ended(f)) => assert!(f.reason.contains("without imageURL"), "{f:?}"),
            other => panic!("{other:?}"),
        }
        // Nothing about our task: an error (poll again) or still pending, never an image.
        for garbage in [
            "",
            "[]",
            "{\"data\":7}",
            "null",
            "{\"errors\":[{}]}",
            "\u{0}",
        ] {
            let r = poll(200, garbage.to_owned());
            assert!(
                !matches!(r, Ok(PollStatus::Ready { .. })),
                "{garbage}: {r:?}"
            );
        }
        assert!(poll(503, item(r#","status":"success""#)).is_err());
    }
}
