//! `mock-provider`: serves the mock provider API until SIGTERM or SIGINT.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Parser};
use fluxq_mock_provider::{MockConfig, MockProvider, RunflowOutputShape};
use serde_json::Value;
use tracing_subscriber::EnvFilter;

/// A faithful simulator of the BFL, Runware and Runflow APIs for fluxq's demo, tests
/// and benchmarks. Every knob can also be changed at run time with `POST /_mock/config`
/// (the field of the same name; see mock-provider/README.md).
#[derive(Debug, Parser)]
#[command(name = "mock-provider", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "MOCK_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// The API key accepted (BFL `x-key`, Runware and Runflow `Authorization: Bearer`).
    #[arg(
        long,
        env = "MOCK_API_KEY",
        default_value = "mock-key",
        hide_env_values = true
    )]
    api_key: String,
    /// Generation time in milliseconds: fixed ("200") or uniform in a range ("200..800").
    #[arg(long, env = "MOCK_LATENCY_MS", default_value = "0", value_parser = parse_latency)]
    latency_ms: (u64, u64),
    /// Most tasks in flight (submitted, not finished); more get 429 (Runflow: stay `queued`).
    #[arg(long, env = "MOCK_MAX_IN_FLIGHT")]
    max_in_flight: Option<u32>,
    /// Most Runflow runs waiting in `queued` beyond the cap; more get 429. Unbounded when absent.
    #[arg(long, env = "MOCK_RUNFLOW_MAX_QUEUED")]
    runflow_max_queued: Option<u32>,
    /// Fraction (0–1) of submits answered 500/503 at random.
    #[arg(long, env = "MOCK_SUBMIT_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    submit_fail_rate: f64,
    /// Fraction (0–1) of polls answered 500/503 at random.
    #[arg(long, env = "MOCK_POLL_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    poll_fail_rate: f64,
    /// Fraction (0–1) of accepted tasks that end `Error`.
    #[arg(long, env = "MOCK_ERROR_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Fraction (0–1) of submits answered 429 at random.
    #[arg(long, env = "MOCK_THROTTLE_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    throttle_rate: f64,
    /// Fraction (0–1) of accepted tasks whose answer is cut off (a lost connection).
    #[arg(long, env = "MOCK_DROP_AFTER_ACCEPT_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    drop_after_accept_rate: f64,
    /// Fraction (0–1) of image downloads answered 500/503 at random.
    #[arg(long, env = "MOCK_DOWNLOAD_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    download_fail_rate: f64,
    /// The first N downloads of each task's image(s) are answered 500/503.
    #[arg(long, env = "MOCK_DOWNLOAD_FAIL_FIRST", default_value_t = 0)]
    download_fail_first: u32,
    /// The first N submits are refused for lack of credits while the account check
    /// says it has some (a breaker that flaps).
    #[arg(long, env = "MOCK_REFUSE_CREDITS_FIRST", default_value_t = 0)]
    refuse_credits_first: u32,
    /// Fraction (0–1) of Runflow run searches (`GET /v1/runs?q=…`) answered 500/503.
    #[arg(long, env = "MOCK_LOOKUP_FAIL_RATE", default_value_t = 0.0, value_parser = parse_rate)]
    lookup_fail_rate: f64,
    /// Put this raw value in place of `cost` in every reply that reports one (BFL
    /// submit, Runware results, Runflow runs); billing is unchanged. JSON (`1e30`,
    /// `-1`, `"0.05"`), or else a string (`NaN`).
    #[arg(long, env = "MOCK_COST_OVERRIDE", value_parser = parse_raw)]
    cost_override: Option<Value>,
    /// Put this raw value in place of `progress` in BFL `Pending` replies (`1e-30`,
    /// `-5`, …): JSON, or else a string.
    #[arg(long, env = "MOCK_POLL_PROGRESS_OVERRIDE", value_parser = parse_raw)]
    poll_progress_override: Option<Value>,
    /// Pad every poll reply (BFL, Runware `getResponse`, Runflow runs) with a
    /// `mock_padding` string of this many bytes (still valid JSON).
    #[arg(long, env = "MOCK_POLL_BODY_PAD_BYTES", default_value_t = 0)]
    poll_body_pad_bytes: u64,
    /// Serve images as chunked bodies of exactly this many bytes, without Content-Length.
    #[arg(long, env = "MOCK_CHUNKED_IMAGE_BYTES")]
    chunked_image_bytes: Option<u64>,
    /// Hand out this URL as BFL's `result.sample` (a hostile reply).
    #[arg(long, env = "MOCK_SAMPLE_URL_OVERRIDE")]
    sample_url_override: Option<String>,
    /// Whether Runflow honours `Idempotency-Key` on single runs (`true` or `false`).
    #[arg(long, env = "MOCK_RUNFLOW_IDEMPOTENCY", default_value_t = true, action = ArgAction::Set)]
    runflow_idempotency: bool,
    /// Where a succeeded Runflow run puts its image URL: `outputs`, `image_urls` or `image`.
    #[arg(long, env = "MOCK_RUNFLOW_OUTPUT_SHAPE", default_value = "outputs", value_parser = parse_shape)]
    runflow_output_shape: RunflowOutputShape,
    /// Prompts containing this word are moderated (even seed: Request, odd: Content).
    #[arg(long, env = "MOCK_MODERATION_WORD")]
    moderation_word: Option<String>,
    /// Prompts containing this word are refused with 422 (a provider-side rule).
    #[arg(long, env = "MOCK_REJECT_WORD")]
    reject_word: Option<String>,
    /// Starting credit balance (1 credit = 0.01 USD); unlimited when absent.
    #[arg(long, env = "MOCK_CREDITS")]
    credits: Option<f64>,
    /// Seed of the mock's random choices, for reproducible runs.
    #[arg(long, env = "MOCK_RNG_SEED")]
    rng_seed: Option<u64>,
    /// Seconds a finished task is remembered before `Task not found`.
    #[arg(long, env = "MOCK_TASK_TTL_SECS", default_value_t = 600)]
    task_ttl_secs: u64,
    /// Seconds an image URL stays valid after the task is Ready.
    #[arg(long, env = "MOCK_DOWNLOAD_TTL_SECS", default_value_t = 600)]
    download_ttl_secs: u64,
    /// `retry_after` seconds announced with every 429 (Runflow: `Retry-After`, left out when 0).
    #[arg(long, env = "MOCK_RETRY_AFTER_SECS", default_value_t = 1)]
    retry_after_secs: u64,
    /// Base of the URLs handed out; by default the Host the client called.
    #[arg(long, env = "MOCK_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log as JSON lines (for containers).
    #[arg(long, env = "MOCK_LOG_JSON")]
    log_json: bool,
}

fn parse_latency(s: &str) -> Result<(u64, u64), String> {
    let bad = |_| format!("expected milliseconds like \"200\" or \"200..800\", got {s:?}");
    let (min, max) = match s.split_once("..") {
        Some((min, max)) => (
            min.trim().parse().map_err(bad)?,
            max.trim().parse().map_err(bad)?,
        ),
        None => {
            let ms = s.trim().parse().map_err(bad)?;
            (ms, ms)
        }
    };
    if max < min {
        return Err(format!("latency range {s:?} ends before it starts"));
    }
    Ok((min, max))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!("expected a fraction between 0 and 1, got {s:?}")),
    }
}

/// A raw reply value: JSON when it parses, else the text as a JSON string.
fn parse_raw(s: &str) -> Result<Value, String> {
    Ok(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())))
}

fn parse_shape(s: &str) -> Result<RunflowOutputShape, String> {
    RunflowOutputShape::parse(s)
        .ok_or_else(|| format!("expected outputs, image_urls or image, got {s:?}"))
}

impl Args {
    fn config(self) -> anyhow::Result<MockConfig> {
        if self.credits.is_some_and(|c| !c.is_finite() || c < 0.0) {
            bail!("MOCK_CREDITS must be a non-negative number");
        }
        Ok(MockConfig {
            api_key: self.api_key,
            latency_min: Duration::from_millis(self.latency_ms.0),
            latency_max: Duration::from_millis(self.latency_ms.1),
            max_in_flight: self.max_in_flight,
            runflow_max_queued: self.runflow_max_queued,
            submit_fail_rate: self.submit_fail_rate,
            poll_fail_rate: self.poll_fail_rate,
            error_rate: self.error_rate,
            throttle_rate: self.throttle_rate,
            drop_after_accept_rate: self.drop_after_accept_rate,
            download_fail_rate: self.download_fail_rate,
            download_fail_first: self.download_fail_first,
            refuse_credits_first: self.refuse_credits_first,
            lookup_fail_rate: self.lookup_fail_rate,
            cost_override: self.cost_override,
            poll_progress_override: self.poll_progress_override,
            poll_body_pad_bytes: self.poll_body_pad_bytes,
            chunked_image_bytes: self.chunked_image_bytes,
            sample_url_override: self.sample_url_override,
            runflow_idempotency: self.runflow_idempotency,
            runflow_output_shape: self.runflow_output_shape,
            moderation_word: self.moderation_word,
            reject_word: self.reject_word,
            credits: self.credits,
            task_ttl: Duration::from_secs(self.task_ttl_secs),
            download_ttl: Duration::from_secs(self.download_ttl_secs),
            rng_seed: self.rng_seed,
            retry_after_secs: self.retry_after_secs,
            public_url: self.public_url,
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let listen = args.listen;
    let config = args.config()?;
    // Handlers go in before the URL is printed, so a signal sent right after it is caught.
    let signals = shutdown_signals().context("install signal handlers")?;
    tracing::info!(?config, "Starting the mock provider.");
    let mock = MockProvider::start(listen, config)
        .await
        .with_context(|| format!("listen on {listen}"))?;
    println!("mock-provider listening on http://{}", mock.local_addr());
    signals.await;
    tracing::info!("Shutting down.");
    mock.shutdown().await;
    Ok(())
}

/// Installs the SIGTERM and SIGINT handlers now; the future resolves on either.
#[cfg(unix)]
fn shutdown_signals() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signals() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
