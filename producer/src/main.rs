//! The `producer` binary: parses the command line and runs one command.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fluxq_common::{DelayTiers, ProviderKind, RetryPolicy};
use fluxq_producer::config::{Cli, Command};
use fluxq_producer::submit::{self, SubmitError};
use fluxq_producer::{amqp, records, status};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let names = cli.conn.namespace.clone();
    let provider = ProviderKind::from(cli.conn.provider);
    match cli.command {
        Command::Submit {
            file,
            batch,
            lane,
            wait,
            dry_run,
        } => {
            let input: Box<dyn std::io::Read + Send> = if file == "-" {
                Box::new(std::io::stdin())
            } else {
                Box::new(std::fs::File::open(&file).with_context(|| format!("open {file}"))?)
            };
            let batch_arg = batch.clone();
            let prepared = match tokio::task::spawn_blocking(move || {
                submit::prepare(input, batch_arg.as_deref(), provider)
            })
            .await?
            {
                Ok(p) => p,
                Err(SubmitError::Invalid { errors, count }) => {
                    for e in &errors {
                        eprintln!("line {}: {}", e.line, e.error);
                    }
                    if count as usize > errors.len() {
                        eprintln!("... and {} more", count as usize - errors.len());
                    }
                    eprintln!("{count} invalid line(s); nothing was published");
                    return Ok(std::process::ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            };
            if dry_run {
                let estimate = fluxq_producer::estimate::estimate(&prepared, provider)
                    .context("read the validated jobs")?;
                print!("{}", estimate.report());
                return Ok(std::process::ExitCode::SUCCESS);
            }
            let tiers = DelayTiers::for_policy(&RetryPolicy::default());
            let mut source = amqp::ChannelSource::new(
                &cli.conn.amqp_url,
                "fluxq-producer",
                names.clone(),
                tiers,
            );
            source
                .channel()
                .await
                .context("connect to RabbitMQ and declare the topology")?;
            let redis = records::connect(&cli.conn.redis_url)
                .await
                .context("connect to Redis")?;
            let recs = records::Records::new(redis, names.clone());
            let n = submit::publish(&prepared, &mut source, &recs, &names, lane.into(), provider)
                .await?;
            println!(
                "published {n} job(s) to {} (lane {}), batch {}",
                names.jobs_exchange(),
                lane_name(lane),
                prepared.batch
            );
            source.close().await;
            if wait {
                let every = if std::io::stderr().is_terminal() {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(1)
                };
                let s = status::wait(&recs, &prepared.batch, every).await?;
                let failed = recs
                    .failed_jobs(&prepared.batch, status::MAX_LISTED_FAILURES)
                    .await?;
                print!("{}", status::report(&prepared.batch, &s, &failed));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ReplayDead {
            batch,
            reason_contains,
        } => {
            let tiers = DelayTiers::for_policy(&RetryPolicy::default());
            let mut source = amqp::ChannelSource::new(
                &cli.conn.amqp_url,
                "fluxq-producer",
                names.clone(),
                tiers,
            );
            let redis = records::connect(&cli.conn.redis_url)
                .await
                .context("connect to Redis")?;
            let recs = records::Records::new(redis, names.clone());
            let filter = fluxq_producer::replay::ReplayFilter {
                batch,
                reason_contains,
            };
            let r =
                fluxq_producer::replay::replay_dead(&mut source, &recs, &names, &filter).await?;
            println!(
                "examined {} dead letter(s): replayed {} (records reopened {}), kept {}",
                r.examined, r.replayed, r.reopened, r.kept
            );
            source.close().await;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Status { batch } => {
            let redis = records::connect(&cli.conn.redis_url)
                .await
                .context("connect to Redis")?;
            let recs = records::Records::new(redis, names);
            let Some(s) = recs.batch(&batch).await? else {
                eprintln!("no batch named {batch:?}");
                return Ok(std::process::ExitCode::FAILURE);
            };
            let failed = recs
                .failed_jobs(&batch, status::MAX_LISTED_FAILURES)
                .await?;
            print!("{}", status::report(&batch, &s, &failed));
            print!("{}", status::limiter_report(&recs).await?);
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

fn lane_name(lane: fluxq_producer::config::LaneArg) -> &'static str {
    fluxq_common::Lane::from(lane).as_str()
}
