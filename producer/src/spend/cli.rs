//! The command line of spend control: `producer cancel`, `producer resume` and
//! `producer budget` (their flags, and running them with the contract's exit codes:
//! 0 done, also when there was nothing to do; 1 no such batch or job).

use std::io::Write;
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use fluxq_common::MicroUsd;
use fluxq_wire::RedisStore;
use fluxq_wire::amqp::ChannelSource;
use uuid::Uuid;

use super::SpendError;

/// `producer cancel BATCH [--reason TEXT] | --job ID`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["batch", "job"])))]
pub struct CancelArgs {
    /// The batch to cancel.
    pub batch: Option<String>,
    /// Cancel only this job.
    #[arg(long)]
    pub job: Option<Uuid>,
    /// Why (kept in each cancelled job's `error`: "cancelled: <reason>").
    #[arg(long)]
    pub reason: Option<String>,
}

/// `producer resume BATCH | --job ID | --lane LANE`: one of them (a group, so other
/// things to resume are one more field).
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["batch", "job", "lane"])))]
pub struct ResumeArgs {
    /// The batch whose cancelled jobs are reopened and published again.
    pub batch: Option<String>,
    /// Only this cancelled job.
    #[arg(long)]
    pub job: Option<Uuid>,
    /// A lane paused with `producer pause --lane` (see [`crate::lanes`]).
    #[arg(long, value_enum)]
    pub lane: Option<crate::config::LaneArg>,
}

/// `producer budget BATCH --usd X`.
#[derive(Debug, Clone, Args)]
pub struct BudgetArgs {
    /// The batch.
    pub batch: String,
    /// The most the batch may spend, in USD (e.g. `2.00`); raising it reopens the
    /// jobs the old one cancelled.
    #[arg(long, value_parser = parse_usd)]
    pub usd: MicroUsd,
}

/// A USD amount with at most 6 decimals (`1`, `0.045`, `2.00`).
pub fn parse_usd(s: &str) -> Result<MicroUsd, String> {
    MicroUsd::parse_usd(s.trim())
        .ok_or_else(|| format!("{s:?} is not an amount of USD (e.g. 1.50, at most 6 decimals)"))
}

/// Runs `producer cancel`.
pub async fn cancel(
    args: CancelArgs,
    store: &RedisStore,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, SpendError> {
    let reason = args.reason.as_deref();
    let said = match (&args.job, &args.batch) {
        (Some(id), _) => super::cancel_job(store, id, reason)
            .await
            .map(|o| o.to_string()),
        (None, Some(b)) => super::cancel_batch(store, b, reason)
            .await
            .map(|o| o.to_string()),
        (None, None) => Err(SpendError::NotFound("name a batch or --job".to_owned())),
    };
    report(said, out, err)
}

/// Runs `producer resume`.
pub async fn resume(
    args: ResumeArgs,
    store: &RedisStore,
    source: &mut ChannelSource,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, SpendError> {
    let said = match (&args.job, &args.batch) {
        (Some(id), _) => super::resume_job(store, source, id)
            .await
            .map(|o| o.to_string()),
        (None, Some(b)) => super::resume_batch(store, source, b)
            .await
            .map(|o| o.to_string()),
        (None, None) => Err(SpendError::NotFound("name a batch or --job".to_owned())),
    };
    report(said, out, err)
}

/// Runs `producer budget`.
pub async fn budget(
    args: BudgetArgs,
    store: &RedisStore,
    source: &mut ChannelSource,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, SpendError> {
    let said = super::set_budget(store, source, &args.batch, args.usd)
        .await
        .map(|o| o.to_string());
    report(said, out, err)
}

/// Prints what a call did (exit 0), or that there is no such batch or job (exit 1).
fn report(
    said: Result<String, SpendError>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, SpendError> {
    let written = match said {
        Ok(text) => writeln!(out, "{text}").map(|()| ExitCode::SUCCESS),
        Err(SpendError::NotFound(what)) => writeln!(err, "{what}").map(|()| ExitCode::FAILURE),
        Err(e) => return Err(e),
    };
    written.map_err(SpendError::Output)
}
