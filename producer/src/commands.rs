//! Every `producer` command, run from parsed arguments: what the binary does, callable
//! in-process (tests pass their own output streams).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use fluxq_common::{DelayTiers, Lane, MicroUsd, Names, ProviderKind, RetryPolicy};
use fluxq_wire::amqp::{AmqpError, ChannelSource};
use fluxq_wire::{RedisStore, StoreError};

use crate::config::{Cli, Command, DailyBudgetArgs};
use crate::replay::{ReplayError, ReplayFilter, replay_dead};
use crate::status;
use crate::submit::{self, SubmitError};

/// Why a command could not finish (the binary prints it after `error: `).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("connect to RabbitMQ and declare the topology: {0}")]
    Broker(#[source] AmqpError),
    #[error("connect to Redis: {0}")]
    Redis(#[source] StoreError),
    #[error("read the validated jobs: {0}")]
    Spool(#[source] std::io::Error),
    #[error("write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the validation task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Serve(#[from] crate::http::ServeError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error(transparent)]
    Spend(#[from] crate::spend::SpendError),
}

/// Runs one command; reports go to `out`, problems with the input to `err`. The exit
/// code follows the contract: 0 done, 1 not found, 2 invalid input (nothing published).
pub async fn run(
    cli: Cli,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<ExitCode, CommandError> {
    let names = cli.conn.namespace.clone();
    let provider = ProviderKind::from(cli.conn.provider);
    let conn = &cli.conn;
    if let Err((var, problem)) = fluxq_wire::check_urls(conn) {
        writeln!(err, "{var}: {problem}")?;
        return Ok(ExitCode::from(2));
    }
    match cli.command {
        Command::Submit {
            file,
            batch,
            lane,
            wait,
            dry_run,
            max_line_bytes,
            budget_usd,
        } => {
            let input: Box<dyn std::io::Read + Send> = if file == "-" {
                Box::new(std::io::stdin())
            } else {
                let f = std::fs::File::open(&file).map_err(|source| CommandError::Open {
                    path: file.clone(),
                    source,
                })?;
                Box::new(f)
            };
            let prepared = match tokio::task::spawn_blocking(move || {
                submit::prepare_with(input, batch.as_deref(), provider, max_line_bytes)
            })
            .await?
            {
                Ok(p) => p,
                Err(SubmitError::Invalid { errors, count }) => {
                    for e in &errors {
                        writeln!(err, "line {}: {}", e.line, e.error)?;
                    }
                    if count as usize > errors.len() {
                        writeln!(err, "... and {} more", count as usize - errors.len())?;
                    }
                    writeln!(err, "{count} invalid line(s); nothing was published")?;
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            };
            if dry_run {
                let estimate =
                    crate::estimate::estimate(&prepared, provider).map_err(CommandError::Spool)?;
                write!(out, "{}", estimate.report())?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut source = channel_source(&conn.amqp_url, &names);
            source.channel().await.map_err(CommandError::Broker)?;
            let store = store(&conn.redis_url, &names).await?;
            if let Some(budget) = budget_usd {
                // Before the first message: no job of the batch is submitted unchecked.
                store.set_budget(&prepared.batch, budget, true).await?;
            }
            let lane = Lane::from(lane);
            let n = submit::publish(&prepared, &mut source, &store, &names, lane, provider).await?;
            writeln!(
                out,
                "published {n} job(s) to {} (lane {}), batch {}",
                names.jobs_exchange(),
                lane.as_str(),
                prepared.batch
            )?;
            source.close().await;
            if wait {
                let every = if std::io::stderr().is_terminal() {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(1)
                };
                let s = status::wait(&store, &prepared.batch, every).await?;
                let failed = store
                    .failed_jobs(&prepared.batch, status::MAX_LISTED_FAILURES)
                    .await?;
                write!(out, "{}", status::report(&prepared.batch, &s, &failed))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ReplayDead {
            batch,
            reason_contains,
        } => {
            let mut source = channel_source(&conn.amqp_url, &names);
            let store = store(&conn.redis_url, &names).await?;
            let filter = ReplayFilter {
                batch,
                reason_contains,
                ..Default::default()
            };
            let r = replay_dead(&mut source, &store, &names, &filter).await?;
            writeln!(
                out,
                "examined {} dead letter(s): replayed {} (records reopened {}), kept {}",
                r.examined, r.replayed, r.reopened, r.kept
            )?;
            source.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { batch: None } => {
            let store = store(&conn.redis_url, &names).await?;
            write!(out, "{}", status::fleet_report(&store).await?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { batch: Some(batch) } => {
            let store = store(&conn.redis_url, &names).await?;
            let Some(s) = store.batch(&batch).await? else {
                writeln!(err, "no batch named {batch:?}")?;
                return Ok(ExitCode::FAILURE);
            };
            let failed = store
                .failed_jobs(&batch, status::MAX_LISTED_FAILURES)
                .await?;
            write!(out, "{}", status::report(&batch, &s, &failed))?;
            write!(out, "{}", status::limiter_report(&store).await?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel(args) => {
            let store = store(&conn.redis_url, &names).await?;
            Ok(crate::spend::cli::cancel(args, &store, out, err).await?)
        }
        Command::Resume(args) => {
            let store = store(&conn.redis_url, &names).await?;
            // One of batch, --job, --lane (an argument group).
            if let Some(lane) = args.lane.map(Lane::from) {
                let changed = crate::lanes::resume(&store, lane).await?;
                writeln!(out, "{}", crate::lanes::resume_report(lane, &changed))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut source = channel_source(&conn.amqp_url, &names);
            let code = crate::spend::cli::resume(args, &store, &mut source, out, err).await;
            source.close().await;
            Ok(code?)
        }
        Command::Budget(args) => {
            let store = store(&conn.redis_url, &names).await?;
            let mut source = channel_source(&conn.amqp_url, &names);
            let code = crate::spend::cli::budget(args, &store, &mut source, out, err).await;
            source.close().await;
            Ok(code?)
        }
        Command::Pause { lane } => {
            let store = store(&conn.redis_url, &names).await?;
            let lane = Lane::from(lane);
            let changed = crate::lanes::pause(&store, lane).await?;
            writeln!(out, "{}", crate::lanes::pause_report(lane, &changed))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::DailyBudget(DailyBudgetArgs { usd, clear }) => {
            let usd = match (usd, clear) {
                (Some(u), false) => match MicroUsd::parse_usd(u.trim()) {
                    Some(m) => Some(m),
                    None => {
                        writeln!(
                            err,
                            "--usd: must be an amount of USD such as 250 or 12.5 (got {u:?})"
                        )?;
                        return Ok(ExitCode::from(2));
                    }
                },
                _ => None,
            };
            let store = store(&conn.redis_url, &names).await?;
            crate::daily_budget::set(&store, usd).await?;
            writeln!(out, "{}", crate::daily_budget::report(usd))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { which } => {
            let doc = crate::http::server::document();
            let v = match which {
                crate::config::SchemaArg::Job => crate::http::openapi::job_schema(&doc),
                crate::config::SchemaArg::Openapi => doc,
            };
            let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::other)?;
            writeln!(out, "{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            let shutdown = tokio_util::sync::CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            crate::http::serve(*args, conn, out, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Notify(args) => {
            let settings = match args.settings() {
                Ok(Some(s)) => s,
                Ok(None) => {
                    writeln!(err, "FLUXQ_CALLBACK_SECRET: producer notify needs it")?;
                    return Ok(ExitCode::from(2));
                }
                Err(problem) => {
                    writeln!(err, "{problem}")?;
                    return Ok(ExitCode::from(2));
                }
            };
            let shutdown = tokio_util::sync::CancellationToken::new();
            tokio::spawn(cancel_on_signal(shutdown.clone()));
            writeln!(out, "delivering completion callbacks")?;
            out.flush()?;
            crate::notify::run(settings, &conn.redis_url, names, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Cancels `token` at the first SIGTERM or SIGINT.
async fn cancel_on_signal(token: tokio_util::sync::CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
    token.cancel();
}

fn channel_source(url: &str, names: &Names) -> ChannelSource {
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    ChannelSource::new(url, "fluxq-producer", names.clone(), tiers)
}

async fn store(url: &str, names: &Names) -> Result<RedisStore, CommandError> {
    let redis = fluxq_wire::redis::connect(url)
        .await
        .map_err(CommandError::Redis)?;
    Ok(RedisStore::new(redis, names.clone()))
}
