//! The worker's configuration: clap arguments (each also an environment variable)
//! validated into typed values at start. Library code never reads the environment.
//! The providers' keys and URLs are in [`providers`], made from the registry.

mod input;
mod money;
mod providers;

use std::num::NonZeroU16;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use fluxq_common::{Names, ProviderKind, RetryPolicy};
use fluxq_wire::ConnArgs;

pub use crate::config_error::ConfigError;
pub use crate::provider::{Endpoint, Endpoints};
use crate::schedule::PollSchedule;
pub use input::{InputArgs, InputLimits};
pub use money::{MoneyArgs, MoneyLimits};
pub use providers::ProviderArgs;

/// fluxq's worker: runs image-generation jobs from RabbitMQ until SIGTERM/SIGINT.
#[derive(Debug, Parser)]
#[command(name = "worker", version, about)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub providers: ProviderArgs,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub money: MoneyArgs,
    /// Jobs this process holds at once (RabbitMQ prefetch per lane); interactive jobs
    /// may run an eighth more (at least one) on top, so a bulk backlog never keeps
    /// them waiting.
    #[arg(long, env = "FLUXQ_CONCURRENCY", default_value = "32")]
    pub concurrency: NonZeroU16,
    /// Tasks in flight at the provider, across all workers.
    #[arg(long, env = "FLUXQ_PROVIDER_CONCURRENCY", default_value = "24")]
    pub provider_concurrency: NonZeroU16,
    /// Seconds a provider slot lasts unrenewed (a killed worker's slots return after it).
    #[arg(long, env = "FLUXQ_SLOT_LEASE", default_value = "30")]
    pub slot_lease: u64,
    /// Submits per second across the fleet (0: no limit beyond the concurrency).
    #[arg(long, env = "FLUXQ_SUBMIT_RATE", default_value = "0")]
    pub submit_rate: f64,
    /// Submits allowed in a burst above the rate.
    #[arg(long, env = "FLUXQ_SUBMIT_BURST", default_value = "10")]
    pub submit_burst: u32,
    /// Polls per second across the fleet (0: no limit).
    #[arg(long, env = "FLUXQ_POLL_RATE", default_value = "0")]
    pub poll_rate: f64,
    /// Polls allowed in a burst above the rate.
    #[arg(long, env = "FLUXQ_POLL_BURST", default_value = "20")]
    pub poll_burst: u32,
    /// Milliseconds between probes of a blocked account (402/403).
    #[arg(long, env = "FLUXQ_BREAKER_PROBE_MS", default_value = "15000")]
    pub breaker_probe_ms: u64,
    /// What each provider account may spend per UTC day, fleet-wide, in USD (0: no
    /// limit); at it the account's breaker opens and jobs wait. `producer
    /// daily-budget` overrides it without a redeploy.
    #[arg(long, env = "FLUXQ_DAILY_BUDGET_USD", default_value = "0")]
    pub daily_budget_usd: String,
    /// Interactive slots per bulk slot when both lanes wait.
    #[arg(long, env = "FLUXQ_INTERACTIVE_WEIGHT", default_value = "4")]
    pub interactive_weight: u32,
    /// Where downloaded images are written.
    #[arg(long, env = "FLUXQ_OUTPUT_DIR", default_value = "./output")]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub output: crate::output::OutputArgs,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`off` for nowhere).
    #[arg(long, env = "FLUXQ_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: crate::http_server::MetricsAddr,
    /// Seconds jobs in flight get to finish after SIGTERM before they are handed back.
    #[arg(long, env = "FLUXQ_SHUTDOWN_GRACE", default_value = "25")]
    pub shutdown_grace: u64,
    /// Ceiling of the first retry delay, in milliseconds.
    #[arg(long, env = "FLUXQ_RETRY_BASE_MS", default_value = "2000")]
    pub retry_base_ms: u64,
    /// Longest retry delay, in seconds.
    #[arg(long, env = "FLUXQ_RETRY_CAP", default_value = "300")]
    pub retry_cap: u64,
    /// Provider submissions a job may use.
    #[arg(long, env = "FLUXQ_MAX_ATTEMPTS", default_value = "8")]
    pub max_attempts: u32,
    /// Times a job may submit again because the image of a task it paid for could
    /// not be downloaded at all (the task gone, its URL refused for good).
    #[arg(long, env = "FLUXQ_MAX_REPAID_DOWNLOADS", default_value = "1")]
    pub max_repaid_downloads: u32,
    /// Wait before the first poll of a task, in milliseconds.
    #[arg(long, env = "FLUXQ_POLL_INITIAL_MS", default_value = "500")]
    pub poll_initial_ms: u64,
    /// Longest wait between polls, in milliseconds.
    #[arg(long, env = "FLUXQ_POLL_MAX_MS", default_value = "3000")]
    pub poll_max_ms: u64,
    /// Seconds a job may wait for its provider task before it is retried (resuming the task).
    #[arg(long, env = "FLUXQ_JOB_DEADLINE", default_value = "600")]
    pub job_deadline: u64,
    /// Seconds a job's lease lasts without renewal (a killed worker's jobs are free again after it).
    #[arg(long, env = "FLUXQ_LEASE", default_value = "30")]
    pub lease: u64,
    /// Seconds any one HTTP request to a provider may take.
    #[arg(long, env = "FLUXQ_HTTP_TIMEOUT", default_value = "30")]
    pub http_timeout: u64,
    /// This worker's name in leases and logs (default: host name or `worker`, pid, random suffix).
    #[arg(long, env = "FLUXQ_WORKER_ID")]
    pub worker_id: Option<String>,
    /// Log format.
    #[arg(long, env = "FLUXQ_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// `text` for terminals, `json` (one object per line) for containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Fleet-wide provider limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    pub provider_concurrency: u16,
    pub slot_lease: Duration,
    /// (requests per second, burst); `None`: unlimited.
    pub submit_rate: Option<(f64, u32)>,
    pub poll_rate: Option<(f64, u32)>,
    pub breaker_probe: Duration,
    pub interactive_weight: u32,
    /// `FLUXQ_DAILY_BUDGET_USD` (0: none).
    pub daily_budget: fluxq_common::MicroUsd,
}

/// Everything the worker needs, validated.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub amqp_url: fluxq_wire::SecretUrl,
    pub redis_url: fluxq_wire::SecretUrl,
    pub names: Names,
    pub default_provider: ProviderKind,
    /// The providers given a key, and where they are.
    pub endpoints: Endpoints,
    pub concurrency: u16,
    pub limits: LimitsConfig,
    pub output_dir: PathBuf,
    /// `FLUXQ_OUTPUT_URL`: wins over `output_dir` when set.
    pub output_url: Option<crate::output::OutputTarget>,
    pub s3: crate::output::S3Settings,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub shutdown_grace: Duration,
    pub retry: RetryPolicy,
    pub poll: PollSchedule,
    pub job_deadline: Duration,
    pub max_repaid_downloads: u32,
    pub lease: Duration,
    pub http_timeout: Duration,
    /// Message and image size caps, download hosts.
    pub input: InputLimits,
    /// Submits whose answer was lost a job may make; replicas an outcome waits for.
    pub money: MoneyLimits,
    pub worker_id: String,
}

/// `worker-<pid>-<4 hex>`: unique enough to tell workers apart in leases and logs.
pub fn default_worker_id() -> String {
    format!(
        "worker-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..4]
    )
}

fn rate(var: &'static str, per_second: f64, burst: u32) -> Result<Option<(f64, u32)>, ConfigError> {
    if !per_second.is_finite() || per_second < 0.0 {
        return Err(ConfigError {
            var,
            problem: format!(
                "must be a number of requests per second, 0 for no limit (got {per_second})"
            ),
        });
    }
    Ok((per_second > 0.0).then_some((per_second, burst.max(1))))
}

fn positive(var: &'static str, v: u64) -> Result<u64, ConfigError> {
    if v == 0 {
        return Err(ConfigError {
            var,
            problem: "must be greater than 0".into(),
        });
    }
    Ok(v)
}

impl WorkerArgs {
    /// Validates the arguments into a [`WorkerConfig`].
    pub fn into_config(self) -> Result<WorkerConfig, ConfigError> {
        let retry = RetryPolicy {
            base: Duration::from_millis(positive("FLUXQ_RETRY_BASE_MS", self.retry_base_ms)?),
            factor: 2,
            cap: Duration::from_secs(positive("FLUXQ_RETRY_CAP", self.retry_cap)?),
            max_attempts: positive("FLUXQ_MAX_ATTEMPTS", u64::from(self.max_attempts))? as u32,
        };
        if retry.cap < retry.base {
            return Err(ConfigError {
                var: "FLUXQ_RETRY_CAP",
                problem: "must not be below FLUXQ_RETRY_BASE_MS".into(),
            });
        }
        let poll = PollSchedule {
            initial: Duration::from_millis(positive(
                "FLUXQ_POLL_INITIAL_MS",
                self.poll_initial_ms,
            )?),
            max: Duration::from_millis(positive("FLUXQ_POLL_MAX_MS", self.poll_max_ms)?),
            ..PollSchedule::default()
        };
        let lease = Duration::from_secs(positive("FLUXQ_LEASE", self.lease)?);
        if lease < Duration::from_secs(3) {
            return Err(ConfigError {
                var: "FLUXQ_LEASE",
                problem: "must be at least 3 seconds".into(),
            });
        }
        let (output_url, s3) = self.output.into_settings()?;
        fluxq_wire::check_urls(&self.conn)
            .map_err(|(var, problem)| ConfigError { var, problem })?;
        Ok(WorkerConfig {
            amqp_url: fluxq_wire::SecretUrl::new(self.conn.amqp_url),
            redis_url: fluxq_wire::SecretUrl::new(self.conn.redis_url),
            names: self.conn.namespace,
            default_provider: self.conn.provider.into(),
            endpoints: self.providers.into_endpoints(),
            concurrency: self.concurrency.get(),
            limits: LimitsConfig {
                provider_concurrency: self.provider_concurrency.get(),
                slot_lease: Duration::from_secs(positive("FLUXQ_SLOT_LEASE", self.slot_lease)?),
                submit_rate: rate("FLUXQ_SUBMIT_RATE", self.submit_rate, self.submit_burst)?,
                poll_rate: rate("FLUXQ_POLL_RATE", self.poll_rate, self.poll_burst)?,
                breaker_probe: Duration::from_millis(positive(
                    "FLUXQ_BREAKER_PROBE_MS",
                    self.breaker_probe_ms,
                )?),
                interactive_weight: self.interactive_weight,
                daily_budget: fluxq_common::MicroUsd::parse_usd(self.daily_budget_usd.trim())
                    .ok_or_else(|| ConfigError {
                        var: "FLUXQ_DAILY_BUDGET_USD",
                        problem: format!(
                            "must be an amount of USD such as 250 or 12.5, 0 for none (got {:?})",
                            self.daily_budget_usd
                        ),
                    })?,
            },
            output_dir: self.output_dir,
            output_url,
            s3,
            metrics_addr: self.metrics_addr.0,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            retry,
            poll,
            job_deadline: Duration::from_secs(positive("FLUXQ_JOB_DEADLINE", self.job_deadline)?),
            max_repaid_downloads: self.max_repaid_downloads,
            lease,
            http_timeout: Duration::from_secs(positive("FLUXQ_HTTP_TIMEOUT", self.http_timeout)?),
            input: self.input.into_limits()?,
            money: self.money.into_limits()?,
            worker_id: self.worker_id.unwrap_or_else(default_worker_id),
        })
    }
}

impl WorkerConfig {
    /// The defaults of every setting, for `names` (tests and benchmarks start here).
    pub fn defaults(names: Names) -> Self {
        let mut args = WorkerArgs::parse_from(["worker"]);
        args.conn.namespace = names;
        args.providers.clear_keys();
        args.output = crate::output::OutputArgs::default();
        match args.into_config() {
            Ok(c) => c,
            // The defaults are valid by construction (tested below).
            Err(e) => unreachable!("default configuration is invalid: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_contract() {
        let c = WorkerArgs::try_parse_from(["worker"])
            .map_err(|e| e.to_string())
            .and_then(|a| a.into_config().map_err(|e| e.to_string()));
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.concurrency, 32);
        assert_eq!(c.limits.provider_concurrency, 24);
        assert_eq!(c.limits.submit_rate, None);
        assert_eq!(c.limits.interactive_weight, 4);
        assert_eq!(c.limits.daily_budget, fluxq_common::MicroUsd(0));
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.names.namespace(), "fluxq");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let args = WorkerArgs::try_parse_from(["worker", "--lease", "1"])
            .unwrap_or_else(|e| panic!("{e}"));
        let err = args
            .into_config()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("FLUXQ_LEASE:"), "{err}");
        assert!(WorkerArgs::try_parse_from(["worker", "--concurrency", "0"]).is_err());
        let args = WorkerArgs::try_parse_from(["worker", "--daily-budget-usd", "lots"])
            .unwrap_or_else(|e| panic!("{e}"));
        let err = args.into_config().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("FLUXQ_DAILY_BUDGET_USD:")));
        assert!(WorkerArgs::try_parse_from(["worker", "--namespace", "a b"]).is_err());
    }

    #[test]
    fn every_registered_provider_takes_a_key_and_a_url() {
        for r in crate::provider::REGISTERED {
            let s = r.settings;
            let (key, url) = (format!("--{}", s.key_flag), format!("--{}", s.url_flag));
            let args = ["worker", &key, "sk-1", &url, "http://127.0.0.1:1/x"];
            let c = WorkerArgs::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(|a| a.into_config().map_err(|e| e.to_string()))
                .unwrap_or_else(|e| panic!("{}: {e}", r.kind));
            let e = c.endpoints.get(r.kind);
            assert_eq!(e.map(|e| e.key.expose()), Some("sk-1"), "{}", r.kind);
            assert_eq!(e.map(|e| e.url.as_str()), Some("http://127.0.0.1:1/x"));
        }
        let args = WorkerArgs::try_parse_from(["worker", "--runware-api-key", " "]);
        assert!(args.is_err(), "an empty key is refused");
    }

    #[test]
    fn keys_do_not_show_in_debug_output() {
        let args = WorkerArgs::try_parse_from(["worker", "--bfl-api-key", "sk-secret-123"])
            .unwrap_or_else(|e| panic!("{e}"));
        let c = args.into_config().unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{c:?}").contains("sk-secret-123"));
        assert_eq!(
            c.endpoints
                .get(ProviderKind::Bfl)
                .map(|e| e.key.expose().to_owned())
                .as_deref(),
            Some("sk-secret-123")
        );
    }
}
