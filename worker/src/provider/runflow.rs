//! Runflow's model-runs API (providers.md): `POST /v1/models/{model_id}/runs` with
//! `Authorization: Bearer`, poll `GET /v1/runs/{id}`, download the presigned image
//! URL of the succeeded run (signed afresh on every read); the run's `cost` (USD, a
//! decimal string) is recorded once it is final. The body is in [`body`], the run
//! object in [`reply`], error answers in [`error`], finding a run again in [`lookup`].
//!
//! Paying twice: the run's `client_ref` is the job id. A creation whose answer was
//! lost is looked up by it before anything is sent again, and so is every attempt
//! after the first (an earlier attempt's run may exist unrecorded). Only when no
//! live run is found is a new run created; when the lookup itself fails the lost
//! creation is an ambiguous submit ([`ambiguous_submit`]).

mod body;
mod error;
mod lookup;
pub mod reply;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxq_common::{Charge, Failure, FailureKind, JobSpec, MicroUsd, OutputFormat, pricing};
use reqwest::{Method, RequestBuilder};
use tracing::info;
use url::Url;
use uuid::Uuid;

use super::download::download_image;
use super::fetch::{Http, read_error_body, read_json_bytes};
use super::http::{key_allowed, transport_failure};
use super::{Endpoint, Image, PollStatus, Provider, Registered, Settings, Submitted, Task};
use crate::secret::ApiKey;
pub use error::answer_failure;
pub use lookup::{AMBIGUOUS_SUBMIT, ambiguous_submit};
use reply::{Phase, Run};

/// A Runflow client for one base URL and key. The key goes only to that origin
/// (redirects are not followed), never with image downloads.
#[derive(Debug, Clone)]
pub struct RunflowProvider {
    base: Url,
    key: ApiKey,
    http: Http,
}

/// Why a request got no answer fluxq could use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Nothing was created: the request never left (connection refused, DNS, TLS),
    /// or Runflow answered why not.
    #[error("{}", .0.reason)]
    NotCreated(Failure),
    /// The request was sent and no usable answer came back (timeout, connection
    /// lost, a cut-off or unreadable body, a gateway error, an `Idempotency-Key`
    /// conflict): a run may exist.
    #[error("{}", .0.reason)]
    Lost(Failure),
}

impl RequestError {
    fn into_failure(self) -> Failure {
        match self {
            RequestError::NotCreated(f) | RequestError::Lost(f) => f,
        }
    }
}

/// An answer read in full.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn failure(&self, what: &str) -> Failure {
        answer_failure(what, self.status, self.retry_after, &self.body)
    }
}

/// What a `GET /v1/runs/{id}` answer (HTTP status and body) says about the job: pure,
/// so the fuzzer drives it on arbitrary bytes.
pub fn parse_poll(status: u16, body: &[u8], job: &JobSpec) -> Result<PollStatus, Failure> {
    let answer = Answer {
        status,
        retry_after: None,
        body: body.to_vec(),
    };
    poll_answer(&answer, job)
}

fn poll_answer(answer: &Answer, job: &JobSpec) -> Result<PollStatus, Failure> {
    let what = "Runflow poll";
    if answer.status == 404 {
        // The run is gone (or never was): only a new run gives an image.
        let f = answer.failure(what);
        return Ok(PollStatus::Ended(Failure::transient(f.reason)));
    }
    if !answer.is_success() {
        return Err(answer.failure(what));
    }
    let run = Run::parse(&answer.body).ok_or_else(|| {
        Failure::transient(format!("{what} answered something that is not a run"))
    })?;
    Ok(RunflowProvider::status_of(job, &run))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RunflowProvider {
    pub fn new(base: Url, key: ApiKey, http: Http) -> Self {
        Self { base, key, http }
    }

    /// The body sent for `job` (for tests and snapshots).
    pub fn request_body(job: &JobSpec) -> serde_json::Value {
        serde_json::to_value(body::create(job)).unwrap_or_default()
    }

    /// The URL of `path` (segments, each escaped) on the configured origin.
    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Result<Url, Failure> {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|()| Failure::permanent("FLUXQ_RUNFLOW_URL is not a base URL"))?
            .clear()
            .extend(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// A request with the key, which goes only to the configured origin.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let allowed = key_allowed(&self.base, &url);
        let req = self.http.request(method, url);
        if allowed {
            req.bearer_auth(self.key.expose())
        } else {
            req
        }
    }

    /// Sends `req` and reads the answer (a success's JSON up to its cap, an error's
    /// start).
    async fn call(&self, what: &str, req: RequestBuilder) -> Result<Answer, RequestError> {
        let resp = req.send().await.map_err(|e| {
            let never_left = e.is_connect();
            let f = transport_failure(what, e);
            if never_left {
                RequestError::NotCreated(f)
            } else {
                RequestError::Lost(f)
            }
        })?;
        let status = resp.status().as_u16();
        let retry_after = error::retry_after(resp.headers(), now_unix());
        let body = if resp.status().is_success() {
            read_json_bytes(resp, what)
                .await
                .map_err(RequestError::Lost)?
        } else {
            read_error_body(resp).await.into_bytes()
        };
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// `POST /v1/models/{model_id}/runs`: the run Runflow made.
    async fn create(&self, job: &JobSpec, attempt: u32) -> Result<Run, RequestError> {
        let what = "Runflow submit";
        let model = body::model_id(job.model).map_err(RequestError::NotCreated)?;
        let mut path = vec!["v1", "models"];
        path.extend(model.split('/'));
        path.push("runs");
        let url = self.url(&path, &[]).map_err(RequestError::NotCreated)?;
        let req = self
            .request(Method::POST, url)
            .header("Idempotency-Key", format!("{}-{attempt}", job.id))
            .json(&body::create(job));
        let answer = self.call(what, req).await?;
        if answer.is_success() {
            return Run::parse(&answer.body).ok_or_else(|| {
                let quoted: String = String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(200)
                    .collect();
                RequestError::Lost(Failure::transient(format!(
                    "{what} answered HTTP {} without a readable run: {quoted}",
                    answer.status
                )))
            });
        }
        let failure = answer.failure(what);
        // A conflict on the Idempotency-Key: a run was made for it. A gateway's 502
        // or 504: the request may have reached Runflow.
        Err(match answer.status {
            409 | 502 | 504 => RequestError::Lost(failure),
            _ => RequestError::NotCreated(failure),
        })
    }

    /// What a run read by a poll means for the job.
    fn status_of(job: &JobSpec, run: &Run) -> PollStatus {
        match run.phase() {
            Phase::Working => PollStatus::Pending { progress: None },
            Phase::Failed | Phase::Cancelled => {
                let (kind, reason) = run.ended();
                PollStatus::Ended(Failure::new(kind, reason))
            }
            Phase::Succeeded => {
                let image_urls = run.image_urls();
                if image_urls.is_empty() {
                    return PollStatus::Ended(Failure::transient(format!(
                        "Runflow run {} {} without an image URL",
                        run.id,
                        run.status()
                    )));
                }
                let charge = run.charge(pricing::estimate(
                    job.provider,
                    job.model,
                    job.width,
                    job.height,
                    job.reference_images.len(),
                ));
                PollStatus::Ready {
                    image_urls,
                    charge: Some(charge),
                }
            }
        }
    }

    /// `GET /v1/auth/me`: the key works.
    async fn key_works(&self) -> Result<(), Failure> {
        let what = "Runflow auth";
        let url = self.url(&["v1", "auth", "me"], &[])?;
        let answer = self
            .call(what, self.request(Method::GET, url))
            .await
            .map_err(RequestError::into_failure)?;
        if answer.is_success() {
            Ok(())
        } else {
            Err(answer.failure(what))
        }
    }
}

/// The task of a run Runflow has (its id is polled as `/v1/runs/{id}`); its cost
/// comes with the final run.
fn accepted(run: Run) -> Submitted {
    Submitted {
        task: Task {
            id: run.id,
            polling_url: String::new(),
        },
        charge: Charge::Exact(MicroUsd(0)),
    }
}

impl Registered for RunflowProvider {
    const SETTINGS: Settings = Settings {
        name: "Runflow",
        key_flag: "runflow-api-key",
        key_env: "RUNFLOW_API_KEY",
        url_flag: "runflow-url",
        url_env: "FLUXQ_RUNFLOW_URL",
        default_url: "https://api.runflow.io",
    };

    fn build(endpoint: Endpoint, http: Http) -> Self {
        Self::new(endpoint.url, endpoint.key, http)
    }
}

impl Provider for RunflowProvider {
    /// The run's cost comes with its result.
    fn charges_with_result(&self) -> bool {
        true
    }

    /// `GET /v1/billing/balance`: money is left; where it shows no balance, `GET
    /// /v1/auth/me`: the key works.
    async fn probe(&self) -> Result<(), Failure> {
        let what = "Runflow balance";
        let url = self.url(&["v1", "billing", "balance"], &[])?;
        let answer = self
            .call(what, self.request(Method::GET, url))
            .await
            .map_err(RequestError::into_failure)?;
        if matches!(answer.status, 401 | 403) {
            return Err(answer.failure(what));
        }
        match answer
            .is_success()
            .then(|| reply::has_balance(&answer.body))
        {
            Some(Some(true)) => Ok(()),
            Some(Some(false)) => Err(Failure::new(
                FailureKind::AccountBlocked,
                "Runflow balance: nothing left",
            )),
            _ => self.key_works().await,
        }
    }

    /// Runflow chooses the run id: `_task_id` is not used; `attempt` keys the
    /// `Idempotency-Key` and, after the first, makes it look for an earlier run.
    async fn submit(
        &self,
        job: &JobSpec,
        _task_id: Uuid,
        attempt: u32,
    ) -> Result<Submitted, Failure> {
        body::model_id(job.model)?;
        body::check_limits(job)?;
        if attempt > 1
            && let Some(run) = self.earlier_run(job).await?
        {
            info!(run_id = %run.id, status = run.status(), attempt,
                "Found a run an earlier attempt made; polling it instead of paying again.");
            return Ok(accepted(run));
        }
        match self.create(job, attempt).await {
            Ok(run) => Ok(accepted(run)),
            Err(RequestError::NotCreated(f)) => Err(f),
            Err(RequestError::Lost(lost)) => self.find_lost(job, lost).await,
        }
    }

    async fn poll(&self, job: &JobSpec, task: &Task) -> Result<PollStatus, Failure> {
        let what = "Runflow poll";
        let url = self.url(&["v1", "runs", &task.id], &[])?;
        let answer = self
            .call(what, self.request(Method::GET, url))
            .await
            .map_err(RequestError::into_failure)?;
        poll_answer(&answer, job)
    }

    async fn download(&self, url: &str, expected: OutputFormat) -> Result<Image, Failure> {
        // A presigned object-store URL: the key is never sent with it.
        download_image(&self.http, &self.base, url, expected).await
    }
}
