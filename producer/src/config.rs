//! Command-line and environment configuration shared by fluxq's binaries.

use clap::{Args, Parser, Subcommand, ValueEnum};
use fluxq_common::{Lane, Names, ProviderKind};

/// Where RabbitMQ and Redis are and which namespace to use (every binary takes these).
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "FLUXQ_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// Redis URL.
    #[arg(
        long,
        env = "FLUXQ_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Prefix of every exchange, queue and Redis key.
    #[arg(long, env = "FLUXQ_NAMESPACE", default_value = "fluxq", value_parser = parse_names)]
    pub namespace: Names,
    /// Provider used when a job names none.
    #[arg(long, env = "FLUXQ_PROVIDER", default_value = "bfl", value_enum)]
    pub provider: ProviderArg,
}

fn parse_names(s: &str) -> Result<Names, String> {
    Names::new(s).map_err(|e| e.to_string())
}

/// `bfl` or `runware`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    Bfl,
    Runware,
}

impl From<ProviderArg> for ProviderKind {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Bfl => ProviderKind::Bfl,
            ProviderArg::Runware => ProviderKind::Runware,
        }
    }
}

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
    },
    /// Publishes dead-lettered jobs again and reopens their failed records.
    ReplayDead {
        /// Only jobs of this batch.
        #[arg(long)]
        batch: Option<String>,
        /// Only dead letters whose reason contains this text.
        #[arg(long)]
        reason_contains: Option<String>,
    },
    /// Counts by status, total cost, and the failed jobs with their errors.
    Status {
        /// The batch name.
        batch: String,
    },
}
