//! The producer's command line: subcommands and their flags.

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use fluxq_common::Lane;
use fluxq_wire::ConnArgs;

/// `bulk` or `interactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LaneArg {
    Bulk,
    Interactive,
}

impl From<LaneArg> for Lane {
    fn from(l: LaneArg) -> Self {
        match l {
            LaneArg::Bulk => Lane::Bulk,
            LaneArg::Interactive => Lane::Interactive,
        }
    }
}

/// Which schema `producer schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaArg {
    Job,
    Openapi,
}

/// fluxq's producer: validates and publishes jobs, and reports on batches.
#[derive(Debug, Parser)]
#[command(name = "producer", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validates every line of a JSON Lines file of jobs, then publishes them all.
    Submit {
        /// The file (`-` for standard input).
        file: String,
        /// Batch of the jobs (default: the jobs' own, else a new name).
        #[arg(long)]
        batch: Option<String>,
        /// Lane to publish to.
        #[arg(long, value_enum, default_value = "bulk")]
        lane: LaneArg,
        /// Show progress until every job of the batch is final.
        #[arg(long)]
        wait: bool,
        /// Validate, then print the estimated cost by provider and model; publish nothing.
        #[arg(long, conflicts_with = "wait")]
        dry_run: bool,
        /// Longest line read, in bytes; a longer one is an error naming its line.
        #[arg(long, default_value_t = crate::submit::DEFAULT_MAX_LINE_BYTES)]
        max_line_bytes: usize,
        /// The most the batch may spend, in USD, set before anything is published:
        /// a job whose estimate no longer fits ends `cancelled` (see `producer budget`).
        #[arg(long, value_parser = crate::spend::cli::parse_usd)]
        budget_usd: Option<fluxq_common::MicroUsd>,
    },
    /// Cancels a batch (or one job): nothing of it is submitted from then on; jobs
    /// not yet submitted end `cancelled`, jobs at the provider finish.
    Cancel(crate::spend::cli::CancelArgs),
    /// Reopens the cancelled jobs of a batch (or one job) and publishes them again,
    /// or (`--lane`) consumes again a lane paused with `producer pause`.
    Resume(crate::spend::cli::ResumeArgs),
    /// Sets or raises a batch's budget; raising it reopens the jobs it cancelled.
    Budget(crate::spend::cli::BudgetArgs),
    /// Publishes dead-lettered jobs again and reopens their failed records.
    ReplayDead {
        /// Only jobs of this batch.
        #[arg(long)]
        batch: Option<String>,
        /// Only dead letters whose reason contains this text.
        #[arg(long)]
        reason_contains: Option<String>,
    },
    /// A batch: counts by status, total cost, and the failed jobs with their errors.
    /// Without a batch: the fleet (provider accounts, today's spend against the daily
    /// budget, paused lanes).
    Status {
        /// The batch name.
        batch: Option<String>,
    },
    /// Pauses a lane fleet-wide: within 2 s no worker starts a job of it (jobs in
    /// flight finish); its messages wait in RabbitMQ until `producer resume --lane`.
    Pause {
        /// The lane to pause.
        #[arg(long, value_enum)]
        lane: LaneArg,
    },
    /// Sets the daily budget per provider account (overrides the workers'
    /// FLUXQ_DAILY_BUDGET_USD at once, no redeploy), or clears the override.
    DailyBudget(DailyBudgetArgs),
    /// Prints a generated schema: `job` (JSON Schema of the job message) or `openapi`.
    Schema {
        #[arg(value_enum)]
        which: SchemaArg,
    },
    /// Serves the HTTP API (see docs/api.md) until SIGTERM or SIGINT.
    Serve(Box<crate::http::ServeArgs>),
    /// Delivers completion callbacks only (as `producer serve` does besides the API).
    Notify(crate::notify::NotifyArgs),
}

/// The daily budget to set (`--usd`), or `--clear`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("budget").required(true).args(["usd", "clear"])))]
pub struct DailyBudgetArgs {
    /// USD per provider account per UTC day, e.g. `250` or `12.5` (`0`: no budget).
    #[arg(long)]
    pub usd: Option<String>,
    /// Remove the override: the workers' FLUXQ_DAILY_BUDGET_USD applies again.
    #[arg(long)]
    pub clear: bool,
}
