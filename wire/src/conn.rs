//! Where RabbitMQ and Redis are and which namespace to use: the settings every fluxq
//! binary takes (flags and `FLUXQ_*` environment variables).

use clap::{Args, ValueEnum};
use fluxq_common::{Names, ProviderKind};

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
