//! Settings about money and durability: how many submits whose answer was lost a
//! job may make, and how durable an outcome must be before its message is acked.

use std::time::Duration;

use clap::Args;
use fluxq_wire::store::WaitFor;

use super::ConfigError;

#[derive(Debug, Clone, Args)]
pub struct MoneyArgs {
    /// Submits a job may send whose answer is lost (possibly charged, unconfirmed:
    /// a timeout, a reset, a body cut off); at this many the job fails instead of
    /// submitting again. Providers whose submits are idempotent (Runware) never count.
    #[arg(long, env = "FLUXQ_MAX_AMBIGUOUS_SUBMITS", default_value = "2")]
    pub max_ambiguous_submits: u32,
    /// Replicas that must hold a job's outcome (Redis `WAIT`) before its message is
    /// acknowledged; 0 acknowledges once the primary answered. On Redis 7.2+ with
    /// its AOF on, the primary's fsync is awaited too (`WAITAOF`).
    #[arg(long, env = "FLUXQ_REDIS_WAIT_REPLICAS", default_value = "0")]
    pub redis_wait_replicas: u32,
    /// Milliseconds to wait for those replicas (at most 5000); an outcome not
    /// durable in time is not acknowledged: its message is handed back.
    #[arg(long, env = "FLUXQ_REDIS_WAIT_TIMEOUT_MS", default_value = "1000")]
    pub redis_wait_timeout_ms: u64,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyLimits {
    pub max_ambiguous_submits: u32,
    /// `None`: acknowledge once the primary answered.
    pub redis_wait: Option<WaitFor>,
}

impl Default for MoneyLimits {
    fn default() -> Self {
        Self {
            max_ambiguous_submits: 2,
            redis_wait: None,
        }
    }
}

impl MoneyArgs {
    pub fn into_limits(self) -> Result<MoneyLimits, ConfigError> {
        if self.max_ambiguous_submits == 0 {
            return Err(ConfigError {
                var: "FLUXQ_MAX_AMBIGUOUS_SUBMITS",
                problem: "must be at least 1 (the submit whose answer was lost is one)".into(),
            });
        }
        let max_wait = fluxq_wire::store::MAX_WAIT.as_millis() as u64;
        if !(1..=max_wait).contains(&self.redis_wait_timeout_ms) {
            return Err(ConfigError {
                var: "FLUXQ_REDIS_WAIT_TIMEOUT_MS",
                problem: format!("must be between 1 and {max_wait}"),
            });
        }
        let redis_wait = (self.redis_wait_replicas > 0).then(|| WaitFor {
            replicas: self.redis_wait_replicas,
            timeout: Duration::from_millis(self.redis_wait_timeout_ms),
        });
        Ok(MoneyLimits {
            max_ambiguous_submits: self.max_ambiguous_submits,
            redis_wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        money: MoneyArgs,
    }

    fn parse(args: &[&str]) -> Result<MoneyLimits, String> {
        let cli = Cli::try_parse_from(std::iter::once("worker").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.money.into_limits().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_wait_for_no_replica_and_allow_two_lost_answers() {
        assert_eq!(parse(&[]), Ok(MoneyLimits::default()));
        let l = parse(&[
            "--redis-wait-replicas",
            "2",
            "--redis-wait-timeout-ms",
            "250",
        ]);
        assert_eq!(
            l.map(|l| l.redis_wait),
            Ok(Some(WaitFor {
                replicas: 2,
                timeout: Duration::from_millis(250)
            }))
        );
        let bad = parse(&["--max-ambiguous-submits", "0"]).unwrap_err();
        assert!(bad.starts_with("FLUXQ_MAX_AMBIGUOUS_SUBMITS:"), "{bad}");
        let bad = parse(&["--redis-wait-timeout-ms", "60000"]).unwrap_err();
        assert!(bad.starts_with("FLUXQ_REDIS_WAIT_TIMEOUT_MS:"), "{bad}");
    }
}
