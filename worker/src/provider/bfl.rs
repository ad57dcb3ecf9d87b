//! Black Forest Labs' API (providers.md): `POST /v1/{model}` with `x-key`, poll the
//! returned `polling_url`, download `result.sample` before it expires.

use std::collections::BTreeMap;

use fluxq_common::failure::gateway_lost_answer;
use fluxq_common::failure::{PollOutcome, classify_bfl_status};
use fluxq_common::{Charge, CostUnit, Failure, JobSpec, Model, OutputFormat, pricing};
use serde::{Deserialize, Serialize};
use url::Url;

use super::fetch::{Http, read_json, read_json_bytes};
use super::http::{key_allowed, response_failure, transport_failure};
use super::{Endpoint, Image, PollStatus, Provider, Registered, Settings, Submitted, Task};
use crate::secret::ApiKey;

/// A BFL client for one base URL and key.
#[derive(Debug, Clone)]
pub struct BflProvider {
    base: Url,
    key: ApiKey,
    http: Http,
}

#[derive(Debug, Serialize, PartialEq)]
struct SubmitBody<'a> {
    prompt: &'a str,
    width: u32,
    height: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    safety_tolerance: Option<u8>,
    output_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    guidance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_upsampling: Option<bool>,
    #[serde(flatten)]
    input_images: BTreeMap<String, &'a str>,
}

#[derive(Debug, Deserialize)]
struct SubmitReply {
    id: String,
    polling_url: Option<String>,
    /// Credits, as any JSON: checked before it is recorded (see [`Charge`]).
    #[serde(default)]
    cost: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PollReply {
    status: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
    /// Any JSON: a value that is not a finite number in 0..=1 is ignored.
    #[serde(default)]
    progress: Option<serde_json::Value>,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

impl BflProvider {
    pub fn new(base: Url, key: ApiKey, http: Http) -> Self {
        Self { base, key, http }
    }

    fn endpoint(&self, path: &str) -> Result<Url, Failure> {
        self.base
            .join(path)
            .map_err(|e| Failure::permanent(format!("bad BFL URL for {path}: {e}")))
    }

    /// The JSON body BFL gets for `job` (pro/max take no steps, guidance or upsampling;
    /// references go to `input_image`, `input_image_2` … `input_image_8`).
    fn body(job: &JobSpec) -> SubmitBody<'_> {
        let flex = job.model == Model::Flux2Flex;
        let input_images = job
            .reference_images
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let name = if i == 0 {
                    "input_image".to_owned()
                } else {
                    format!("input_image_{}", i + 1)
                };
                (name, r.as_str())
            })
            .collect();
        SubmitBody {
            prompt: &job.prompt,
            width: job.width,
            height: job.height,
            seed: job.seed,
            safety_tolerance: job.safety_tolerance,
            output_format: job.output_format.as_str(),
            steps: job.steps.filter(|_| flex),
            guidance: job.guidance.filter(|_| flex),
            prompt_upsampling: job.prompt_upsampling.filter(|_| flex),
            input_images,
        }
    }

    /// The polling URL to use: the provider's, if it is an http(s) URL, else `get_result`.
    fn polling_url(&self, task: &Task) -> Result<Url, Failure> {
        match Url::parse(&task.polling_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
            _ => {
                let mut u = self.endpoint("/v1/get_result")?;
                u.query_pairs_mut().append_pair("id", &task.id);
                Ok(u)
            }
        }
    }
}

impl Registered for BflProvider {
    const SETTINGS: Settings = Settings {
        name: "BFL",
        key_flag: "bfl-api-key",
        key_env: "BFL_API_KEY",
        url_flag: "bfl-url",
        url_env: "FLUXQ_BFL_URL",
        default_url: "https://api.bfl.ai",
    };

    fn build(endpoint: Endpoint, http: Http) -> Self {
        Self::new(endpoint.url, endpoint.key, http)
    }
}

impl Provider for BflProvider {
    /// `GET /v1/credits`: the account works if the key is accepted and credits remain.
    async fn probe(&self) -> Result<(), Failure> {
        let url = self.endpoint("/v1/credits")?;
        let resp = self
            .http
            .get(url)
            .header("x-key", self.key.expose())
            .send()
            .await
            .map_err(|e| transport_failure("BFL credits", e))?;
        if !resp.status().is_success() {
            return Err(response_failure("BFL credits", resp).await);
        }
        let credits = read_json_bytes(resp, "BFL credits")
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("credits").and_then(serde_json::Value::as_f64))
            .unwrap_or(0.0);
        if credits > 0.0 {
            Ok(())
        } else {
            Err(Failure::new(
                fluxq_common::FailureKind::AccountBlocked,
                format!("BFL credits: {credits}"),
            ))
        }
    }

    /// BFL chooses its own task ids: `_task_id` is not used.
    async fn submit(
        &self,
        job: &JobSpec,
        _task_id: uuid::Uuid,
        _attempt: u32,
    ) -> Result<Submitted, Failure> {
        let url = self.endpoint(&format!("/v1/{}", job.model.as_str()))?;
        let resp = self
            .http
            .post(url)
            .header("x-key", self.key.expose())
            .json(&Self::body(job))
            .send()
            .await
            .map_err(|e| transport_failure("BFL submit", e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let failure = response_failure("BFL submit", resp).await;
            return Err(if gateway_lost_answer(status) {
                failure.with_answer_lost()
            } else {
                failure
            });
        }
        // Accepted, but without a readable id: the task may exist and be billed.
        let reply: SubmitReply = read_json(resp, "BFL submit")
            .await
            .map_err(Failure::with_answer_lost)?;
        // No cost reported: the price-table estimate is recorded (documented).
        let estimate = pricing::estimate(
            job.provider,
            job.model,
            job.width,
            job.height,
            job.reference_images.len(),
        );
        let charge = Charge::from_json(reply.cost.as_ref(), CostUnit::Credits, estimate);
        Ok(Submitted {
            task: Task {
                id: reply.id,
                polling_url: reply.polling_url.unwrap_or_default(),
            },
            charge,
        })
    }

    async fn poll(&self, _job: &JobSpec, task: &Task) -> Result<PollStatus, Failure> {
        let url = self.polling_url(task)?;
        let mut req = self.http.get(url.clone());
        if key_allowed(&self.base, &url) {
            req = req.header("x-key", self.key.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| transport_failure("BFL poll", e))?;
        if !resp.status().is_success() {
            return Err(response_failure("BFL poll", resp).await);
        }
        let body = read_json_bytes(resp, "BFL poll").await?;
        parse_poll(&body, &task.id)
    }

    async fn download(&self, url: &str, expected: OutputFormat) -> Result<Image, Failure> {
        // A signed delivery URL: the key is never sent with it.
        super::download::download_image(&self.http, &self.base, url, expected).await
    }
}

/// What a BFL poll answer (`body`, already capped at 1 MiB) says about task `task_id`.
/// Pure, so hostile answers are fuzzed (`fuzz/`): whatever the bytes, it returns.
pub fn parse_poll(body: &[u8], task_id: &str) -> Result<PollStatus, Failure> {
    let reply: PollReply = serde_json::from_slice(body)
        .map_err(|e| Failure::transient(format!("BFL poll answered unreadable JSON: {e}")))?;
    Ok(match classify_bfl_status(&reply.status) {
        PollOutcome::InProgress => PollStatus::Pending {
            progress: super::sane_progress(reply.progress.as_ref()),
        },
        PollOutcome::Ready => {
            let sample = reply
                .result
                .as_ref()
                .and_then(|r| r.get("sample"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            match sample {
                // BFL's charge was recorded at submit.
                Some(image_url) => PollStatus::Ready {
                    image_urls: vec![image_url],
                    charge: None,
                },
                None => PollStatus::Ended(Failure::transient(
                    "BFL task is Ready without result.sample",
                )),
            }
        }
        PollOutcome::Failed(kind) => {
            let details = reply.details.map(|d| format!(": {d}")).unwrap_or_default();
            let details: String = details.chars().take(300).collect();
            PollStatus::Ended(Failure::new(
                kind,
                format!("BFL task {task_id} ended {}{details}", reply.status),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluxq_common::{JobMessage, ProviderKind};

    #[test]
    fn bodies_follow_the_model_rules() {
        let msg: JobMessage = serde_json::from_value(serde_json::json!({
            "id": "0b8f3f5e-8a4e-4f0c-9d3e-2b1f6c7a9e10", "model": "flux-2-flex", "prompt": "a mug",
            "steps": 32, "guidance": 3.5, "reference_images": ["https://x/1.jpg", "https://x/2.jpg"], "seed": 7
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let spec = msg
            .validate(ProviderKind::Bfl)
            .unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::to_value(BflProvider::body(&spec)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            body,
            serde_json::json!({"prompt": "a mug", "width": 1024, "height": 1024, "seed": 7, "output_format": "jpeg",
                "steps": 32, "guidance": 3.5, "input_image": "https://x/1.jpg", "input_image_2": "https://x/2.jpg"})
        );
    }

    #[test]
    fn hostile_poll_answers_are_read_without_panicking() {
        let pending = |b: &str| match parse_poll(b.as_bytes(), "t") {
            Ok(PollStatus::Pending { progress }) => progress,
            other => panic!("{b}: {other:?}"),
        };
        assert_eq!(pending(r#"{"status":"Pending","progress":0.5}"#), Some(0.5));
        for odd in ["1e-30", "-5", "1e300", "\"NaN\"", "null", "{}"] {
            let p = pending(&format!(r#"{{"status":"Pending","progress":{odd}}}"#));
            assert!(p.is_none_or(|p| (0.0..=1.0).contains(&p)), "{odd}: {p:?}");
        }
        match parse_poll(br#"{"status":"Ready"}"#, "t") {
            Ok(PollStatus::Ended(f)) => {
                assert!(f.reason.contains("without result.sample"), "{f:?}")
            }
            other => panic!("{other:?}"),
        }
        match parse_poll(br#"{"status":"Ready","result":{"sample":7}}"#, "t") {
            Ok(PollStatus::Ended(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            parse_poll(br#"{"progress":0.5}"#, "t").is_err(),
            "no status"
        );
        assert!(parse_poll(b"\xff\x00", "t").is_err());
    }
}
