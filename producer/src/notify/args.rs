//! The notifier's flags and environment variables, shared by `producer serve` and
//! `producer notify`, validated into [`Settings`].

use std::time::Duration;

use clap::Args;

use super::policy::CallbackPolicy;

/// `FLUXQ_CALLBACK_SECRET` as given; `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret(s.to_owned()))
}

/// A duration such as `86400`, `90s`, `30m`, `24h` (plain numbers are seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 86400, 90s, 30m or 24h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

/// Settings of completion-callback delivery.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Key of the callbacks' HMAC-SHA256 signatures; without it no callback is delivered.
    #[arg(long, env = "FLUXQ_CALLBACK_SECRET", hide_env_values = true, value_parser = secret)]
    pub callback_secret: Option<Secret>,
    /// How long after a job's final status its callback is still tried (e.g. 24h).
    #[arg(long, env = "FLUXQ_CALLBACK_MAX_AGE", default_value = "24h", value_parser = parse_duration)]
    pub callback_max_age: Duration,
    /// Milliseconds one delivery may take (connect, send, answer).
    #[arg(long, env = "FLUXQ_CALLBACK_TIMEOUT_MS", default_value_t = 10_000)]
    pub callback_timeout_ms: u64,
    /// Milliseconds before the first retry; each retry waits twice as long (with jitter).
    #[arg(long, env = "FLUXQ_CALLBACK_BACKOFF_MS", default_value_t = 5_000)]
    pub callback_backoff_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    #[arg(
        long,
        env = "FLUXQ_CALLBACK_BACKOFF_MAX_MS",
        default_value_t = 3_600_000
    )]
    pub callback_backoff_max_ms: u64,
    /// Deliveries in flight at once in this process.
    #[arg(long, env = "FLUXQ_CALLBACK_CONCURRENCY", default_value_t = 16)]
    pub callback_concurrency: usize,
    /// Hosts (`host` or `host:port`, comma separated) callbacks may reach over plain
    /// http or at an internal address; every other callback is https to a public address.
    #[arg(long, env = "FLUXQ_CALLBACK_ALLOW_HOSTS", default_value = "")]
    pub callback_allow_hosts: String,
}

/// [`NotifyArgs`] checked: what the notifier runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub secret: Secret,
    pub max_age: Duration,
    pub timeout: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
    pub concurrency: usize,
    pub policy: CallbackPolicy,
}

impl NotifyArgs {
    /// The settings, or `None` without a secret (callbacks are then not delivered here).
    pub fn settings(&self) -> Result<Option<Settings>, String> {
        let Some(secret) = self.callback_secret.clone().filter(|s| !s.0.is_empty()) else {
            return Ok(None);
        };
        if secret.0.len() < 16 {
            return Err("FLUXQ_CALLBACK_SECRET: must be at least 16 characters".into());
        }
        let policy = CallbackPolicy::parse(&self.callback_allow_hosts)
            .map_err(|e| format!("FLUXQ_CALLBACK_ALLOW_HOSTS: {e}"))?;
        Ok(Some(Settings {
            secret,
            max_age: self.callback_max_age,
            timeout: Duration::from_millis(self.callback_timeout_ms.max(1)),
            backoff: Duration::from_millis(self.callback_backoff_ms.max(1)),
            backoff_max: Duration::from_millis(
                self.callback_backoff_max_ms.max(self.callback_backoff_ms),
            ),
            concurrency: self.callback_concurrency.max(1),
            policy,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("86400"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("h").is_err());
    }
}
