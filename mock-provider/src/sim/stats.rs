//! [`Stats`]: the mock's exact counters, kept up to date as requests arrive
//! (never computed by scanning tasks), served by `GET /_mock/stats`.

use std::collections::HashMap;

use fluxq_common::pricing::MICRO_USD_PER_CREDIT;
use serde::{Deserialize, Serialize};

use super::api::Api;
pub use super::per_provider::{ByProvider, ProviderStats};
use super::task::Outcome;

/// Counters since start (or the last `POST /_mock/reset-stats`). The top-level
/// counters cover every API (a Runware `imageInference` task counts as one submit, a
/// `getResponse` task as one poll); [`Stats::by_provider`] splits the main ones.
///
/// Per-prompt maps are keyed by the prompt exactly as submitted;
/// `submissions_by_seed_prompt` is keyed by `"{seed}:{prompt}"` where `seed` is the
/// seed the request gave, or empty when it gave none (`":a cat"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every submit request, whatever its answer.
    pub submit_requests: u64,
    /// Submits accepted (answered 200 with an id), each billed.
    pub submissions: u64,
    pub submissions_by_prompt: HashMap<String, u64>,
    pub submissions_by_seed_prompt: HashMap<String, u64>,
    /// Submit requests that passed auth and validation, per prompt, whatever their answer.
    pub submit_requests_by_prompt: HashMap<String, u64>,
    /// Unix milliseconds of each of those requests, per prompt, in arrival order.
    pub submit_times_ms_by_prompt: HashMap<String, Vec<u64>>,
    /// Requests refused for a missing or wrong API key (403).
    pub unauthorized: u64,
    /// Submits refused by validation (422).
    pub invalid: u64,
    /// 429s returned, at the cap or at random.
    pub throttled: u64,
    /// Of `throttled`, those because `max_in_flight` was reached.
    pub throttled_at_cap: u64,
    /// Submits refused for lack of credits (402).
    pub insufficient_credits: u64,
    /// 500/503 answered to submits.
    pub submit_errors: u64,
    /// 500/503 answered to polls.
    pub poll_errors: u64,
    /// `submit_errors + poll_errors`.
    pub server_errors: u64,
    /// Tasks submitted and not yet final, now (Runflow runs waiting in `queued`
    /// included).
    pub in_flight: u64,
    /// The most tasks ever in flight at once.
    pub max_in_flight_seen: u64,
    /// Poll requests, whatever their answer.
    pub polls: u64,
    /// Polls answered `Task not found`.
    pub not_found: u64,
    /// Tasks that ended `Ready`.
    pub ready: u64,
    /// Tasks that ended `Error`.
    pub errors: u64,
    /// Tasks that ended moderated, either way.
    pub moderated: u64,
    pub request_moderated: u64,
    pub content_moderated: u64,
    /// Images served.
    pub downloads: u64,
    /// Of `downloads`, those whose request carried a key (`x-key` or `Authorization`).
    pub downloads_with_key: u64,
    /// Image requests refused: expired or forged URL (403), unknown task (404).
    pub downloads_refused: u64,
    /// 500/503 answered to image requests (`download_fail_first`, `download_fail_rate`).
    #[serde(default)]
    pub download_errors: u64,
    /// 500/503 answered to searches of runs (`lookup_fail_rate`).
    #[serde(default)]
    pub lookup_errors: u64,
    /// Total billed, in credits (1 credit = 0.01 USD): `micro_usd_billed / 10_000`.
    pub credits_billed: f64,
    /// Total billed, exactly, in micro-USD.
    pub micro_usd_billed: u64,
    /// Micro-USD billed per prompt.
    pub billed_by_prompt: HashMap<String, u64>,
    /// Accepted tasks that end `Error` (`error_rate`), per prompt; counted when the
    /// task is accepted, since its outcome is decided then.
    #[serde(default)]
    pub errors_by_prompt: HashMap<String, u64>,
    /// Credit balance left; `None` when unlimited.
    pub credits_remaining: Option<f64>,
    /// Tasks remembered now (they are forgotten `task_ttl` after they finish).
    /// Sum of the generation times of tasks that became final, in milliseconds:
    /// with `first_submit_ms` and `last_completion_ms`, the provider-side utilization.
    pub generation_ms_total: u64,
    /// Unix milliseconds of the first accepted submit.
    pub first_submit_ms: Option<u64>,
    /// Unix milliseconds at which the last task became final.
    pub last_completion_ms: Option<u64>,
    pub tasks_stored: u64,
    /// Accepted tasks whose answer was cut off mid-body (`drop_after_accept_rate`).
    #[serde(default)]
    pub dropped_responses: u64,
    /// The main counters per API.
    #[serde(default)]
    pub by_provider: ByProvider,
}

impl Stats {
    /// When the last submit request (of any prompt) arrived, Unix ms; 0 if none did.
    pub fn last_submit_ms(&self) -> u64 {
        self.submit_times_ms_by_prompt
            .values()
            .flatten()
            .max()
            .copied()
            .unwrap_or(0)
    }

    /// Records a task reaching its final status.
    pub(crate) fn record_final(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ready => self.ready += 1,
            Outcome::Error => self.errors += 1,
            Outcome::RequestModerated => {
                self.moderated += 1;
                self.request_moderated += 1;
            }
            Outcome::ContentModerated => {
                self.moderated += 1;
                self.content_moderated += 1;
            }
        }
    }

    /// The counters of one API.
    pub(crate) fn provider_mut(&mut self, api: Api) -> &mut ProviderStats {
        self.by_provider.get_mut(api)
    }

    /// Records an accepted, billed submit of `images` images.
    pub(crate) fn record_submission(
        &mut self,
        api: Api,
        prompt: &str,
        seed: Option<i64>,
        micro_usd: u64,
        images: u32,
    ) {
        let p = self.provider_mut(api);
        p.submissions += 1;
        p.images += u64::from(images.max(1));
        p.micro_usd_billed += micro_usd;
        self.submissions += 1;
        *self
            .submissions_by_prompt
            .entry(prompt.to_owned())
            .or_default() += 1;
        let seed = seed.map(|s| s.to_string()).unwrap_or_default();
        *self
            .submissions_by_seed_prompt
            .entry(format!("{seed}:{prompt}"))
            .or_default() += 1;
        self.micro_usd_billed += micro_usd;
        self.credits_billed = self.micro_usd_billed as f64 / MICRO_USD_PER_CREDIT as f64;
        *self.billed_by_prompt.entry(prompt.to_owned()).or_default() += micro_usd;
    }

    /// Records a submit request that passed auth and validation.
    pub(crate) fn record_submit_request(&mut self, prompt: &str, unix_ms: u64) {
        *self
            .submit_requests_by_prompt
            .entry(prompt.to_owned())
            .or_default() += 1;
        self.submit_times_ms_by_prompt
            .entry(prompt.to_owned())
            .or_default()
            .push(unix_ms);
    }

    /// Records the generation time of a task that just became final.
    pub(crate) fn record_generation(&mut self, generation_ms: u64, finish_unix_ms: u64) {
        self.generation_ms_total += generation_ms;
        self.last_completion_ms = Some(
            self.last_completion_ms
                .map_or(finish_unix_ms, |l| l.max(finish_unix_ms)),
        );
    }

    /// Records a 500/503.
    pub(crate) fn record_fault(&mut self, on_submit: bool) {
        if on_submit {
            self.submit_errors += 1;
        } else {
            self.poll_errors += 1;
        }
        self.server_errors += 1;
    }

    /// A copy without the per-prompt maps, in constant time.
    pub(crate) fn summary(&mut self) -> Stats {
        let by_prompt = std::mem::take(&mut self.submissions_by_prompt);
        let by_seed_prompt = std::mem::take(&mut self.submissions_by_seed_prompt);
        let billed = std::mem::take(&mut self.billed_by_prompt);
        let errors = std::mem::take(&mut self.errors_by_prompt);
        let requests = std::mem::take(&mut self.submit_requests_by_prompt);
        let times = std::mem::take(&mut self.submit_times_ms_by_prompt);
        let summary = self.clone();
        self.submit_requests_by_prompt = requests;
        self.submit_times_ms_by_prompt = times;
        self.submissions_by_prompt = by_prompt;
        self.submissions_by_seed_prompt = by_seed_prompt;
        self.billed_by_prompt = billed;
        self.errors_by_prompt = errors;
        summary
    }

    /// Counters back to zero; the live figures (`in_flight`) are kept and the
    /// high-water mark restarts from them.
    pub(crate) fn reset(&mut self) {
        let in_flight = self.in_flight;
        *self = Stats {
            in_flight,
            max_in_flight_seen: in_flight,
            ..Stats::default()
        };
    }
}
