//! The `worker` binary: parse configuration, set up logging and signals, run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use fluxq_worker::config::LogFormat;
use fluxq_worker::{WorkerArgs, run};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

fn main() -> ExitCode {
    let args = WorkerArgs::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: log collectors get plain text.
        .with_ansi(std::io::stderr().is_terminal());
    match args.log_format {
        // One object per line; span fields (job_id, batch...) at the top level.
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(fluxq_worker::json_log::FlatJson)
            .init(),
        LogFormat::Text => builder.init(),
    }
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        match run(config, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// First SIGTERM/SIGINT: graceful shutdown. Second: exit at once (unacknowledged
/// messages return to their queues; recorded provider tasks are resumed elsewhere).
async fn signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        warn!("Could not install signal handlers.");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    info!("Shutdown requested; finishing jobs in flight (signal again to exit at once).");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    warn!("Second signal: exiting now.");
    std::process::exit(0);
}
