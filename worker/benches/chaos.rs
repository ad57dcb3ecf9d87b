//! The chaos run (not a test; `scripts/chaos` runs it): 2,000 jobs through 3 worker
//! processes while workers are SIGKILLed every 3 s and replaced, the RabbitMQ node is
//! killed with -9 and restarted once, and Redis stops answering for 10 s (SIGSTOP,
//! then SIGCONT). It uses its own RabbitMQ node and Redis server on free ports and the
//! mock provider in this process (latency 200–800 ms, 5% transient faults, 5% of
//! image downloads failing, 2% of accepted submits whose answer is cut off), then
//! prints its figures and exits non-zero if any of them shows a loss: lost (not
//! final) = 0; succeeded = total but for jobs failed only for lost answers
//! (`FLUXQ_MAX_AMBIGUOUS_SUBMITS`); jobs whose provider submissions exceed their
//! recorded attempts = 0; jobs submitted again without a failed task or a lost answer
//! in between = 0; batch cost + unconfirmed = what the provider billed; events = one
//! per job.
//!
//! `CHAOS_JOBS`, `CHAOS_WORKERS`, `CHAOS_SECONDS` (kill interval; 0: no kills),
//! `CHAOS_BROKER_DOWN` (seconds RabbitMQ stays dead, 2), `CHAOS_REDIS_DOWN` (seconds
//! Redis does not answer, 10) and `CHAOS_REDIS_KILL=1` (kill Redis and restart it on
//! its append-only file instead of stopping it) vary it; `scripts/outage` runs it
//! with a minute of each outage and no kills;
//! `CHAOS_CANCEL_AT=50` cancels the batch (`producer cancel`) once that percent of
//! its jobs is final: then `cancelled` counts as done, and the figures add how many
//! submissions reached the provider after the cancel returned;
//! `CHAOS_LOG_DIR` keeps each worker's log there (`RUST_LOG` sets their filter).
//! When a check fails it also prints the records of the unfinished jobs and how many
//! messages each queue holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use fluxq_common::{DelayTiers, Lane, Names, ProviderKind, RetryPolicy};
use fluxq_mock_provider::{MockConfig, MockProvider};
use fluxq_producer::submit;
use fluxq_testkit::servers;
use fluxq_wire::RedisStore;
use fluxq_wire::amqp::ChannelSource;
use fluxq_wire::redis as records;
use rand::Rng;
use redis::AsyncCommands;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Fleet {
    children: Vec<tokio::process::Child>,
    spawned: u64,
    amqp_url: String,
    redis_url: String,
    names: Names,
    mock_url: String,
    out: std::path::PathBuf,
}

impl Fleet {
    fn spawn(&mut self) {
        self.spawned += 1;
        let (log, filter) = match std::env::var_os("CHAOS_LOG_DIR") {
            Some(dir) => {
                let path = std::path::Path::new(&dir).join(format!("chaos-{}.log", self.spawned));
                let file = std::fs::File::create(&path).expect("create a worker log");
                let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
                (Stdio::from(file), filter)
            }
            None => (Stdio::null(), "error".to_owned()),
        };
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_worker"))
            .env("RUST_LOG", filter)
            .env("FLUXQ_AMQP_URL", &self.amqp_url)
            .env("FLUXQ_REDIS_URL", &self.redis_url)
            .env("FLUXQ_NAMESPACE", self.names.namespace())
            .env("FLUXQ_BFL_URL", &self.mock_url)
            .env("BFL_API_KEY", "mock-key")
            .env("FLUXQ_OUTPUT_DIR", &self.out)
            .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0")
            .env("FLUXQ_WORKER_ID", format!("chaos-{}", self.spawned))
            .env("FLUXQ_LEASE", "5")
            .env("FLUXQ_RETRY_BASE_MS", "500")
            .env("FLUXQ_RETRY_CAP", "5")
            .env("FLUXQ_MAX_ATTEMPTS", "20")
            .env("FLUXQ_MAX_AMBIGUOUS_SUBMITS", "3")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start a worker (scripts/chaos builds it)");
        self.children.push(child);
    }

    async fn kill_one(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let i = rand::rng().random_range(0..self.children.len());
        let mut c = self.children.swap_remove(i);
        let _ = c.kill().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let total = env_or("CHAOS_JOBS", 2000);
    let workers = env_or("CHAOS_WORKERS", 3) as usize;
    let kill_every = env_or("CHAOS_SECONDS", 3);
    let every = Duration::from_secs(kill_every.max(1));
    let broker_down = Duration::from_secs(env_or("CHAOS_BROKER_DOWN", 2));
    let redis_down = Duration::from_secs(env_or("CHAOS_REDIS_DOWN", 10));
    let redis_kill = env_or("CHAOS_REDIS_KILL", 0) == 1;
    let cancel_at = env_or("CHAOS_CANCEL_AT", 0);
    let rabbit = servers::Rabbit::start().await;
    let mut redis_srv = servers::Redis::start().await;
    let names = Names::new("chaos").unwrap();
    let mock = MockProvider::start(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig {
            latency_min: Duration::from_millis(200),
            latency_max: Duration::from_millis(800),
            submit_fail_rate: 0.05,
            poll_fail_rate: 0.05,
            error_rate: 0.05,
            download_fail_rate: 0.05,
            drop_after_accept_rate: 0.02,
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let redis = records::connect(&redis_srv.url()).await.unwrap();
    let recs = RedisStore::new(redis.clone(), names.clone());
    let kill_plan = if kill_every == 0 {
        "no kills".to_owned()
    } else {
        format!("SIGKILL one every {every:?}")
    };
    let redis_outage = if redis_kill { "killed" } else { "stopped" };
    println!(
        "chaos: {total} jobs, {workers} workers, {kill_plan}; RabbitMQ on :{} (killed once, down {broker_down:?}), Redis on :{} ({redis_outage} once, {redis_down:?})",
        rabbit.port, redis_srv.port
    );

    let ids: Vec<uuid::Uuid> = (0..total).map(|_| uuid::Uuid::new_v4()).collect();
    let text: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("{{\"id\":\"{id}\",\"model\":\"flux-2-pro\",\"prompt\":\"chaos job {i}\",\"width\":512,\"height\":512,\"seed\":{i}}}\n"))
        .collect();
    let prepared = submit::prepare(text.as_bytes(), Some("chaos"), ProviderKind::Bfl).unwrap();
    let mut source = ChannelSource::new(
        &rabbit.url(),
        "fluxq-chaos",
        names.clone(),
        DelayTiers::for_policy(&RetryPolicy::default()),
    );
    submit::publish(
        &prepared,
        &mut source,
        &recs,
        &names,
        Lane::Bulk,
        ProviderKind::Bfl,
    )
    .await
    .unwrap();
    source.close().await;

    let mut fleet = Fleet {
        children: Vec::new(),
        spawned: 0,
        amqp_url: rabbit.url(),
        redis_url: redis_srv.url(),
        names: names.clone(),
        mock_url: mock.base_url(),
        out: out.path().to_path_buf(),
    };
    for _ in 0..workers {
        fleet.spawn();
    }
    let start = Instant::now();
    let canceller =
        (cancel_at > 0).then(|| tokio::spawn(cancel_when(recs.clone(), total * cancel_at / 100)));
    let (mut broker_killed, mut redis_stopped) = (false, false);
    let mut kills = 0;
    let deadline = Duration::from_secs(600);
    let finished = loop {
        tokio::time::sleep(every).await;
        let s = recs.batch("chaos").await.ok().flatten().unwrap_or_default();
        if s.is_finished() {
            break true;
        }
        if start.elapsed() > deadline {
            break false;
        }
        if kill_every > 0 {
            fleet.kill_one().await;
            kills += 1;
            fleet.spawn();
        }
        let done = s.done();
        if !broker_killed && done >= total / 4 {
            broker_killed = true;
            println!(
                "  t={:.0}s: kill -9 RabbitMQ, down {broker_down:?} ({done} done)",
                start.elapsed().as_secs_f64()
            );
            rabbit.kill().await;
            tokio::time::sleep(broker_down).await;
            rabbit.boot().await;
        } else if broker_killed && !redis_stopped && done >= total / 2 {
            redis_stopped = true;
            println!(
                "  t={:.0}s: Redis {redis_outage} for {redis_down:?} ({done} done)",
                start.elapsed().as_secs_f64()
            );
            if redis_kill {
                redis_srv.kill();
                tokio::time::sleep(redis_down).await;
                redis_srv.boot().await;
            } else {
                redis_srv.signal("STOP");
                tokio::time::sleep(redis_down).await;
                redis_srv.signal("CONT");
            }
        }
    };
    let elapsed = start.elapsed();
    for mut c in fleet.children.drain(..) {
        let _ = c.kill().await;
    }

    // Figures, from Redis and from what the provider saw.
    let cancelled_at_ms = match canceller {
        Some(c) if c.is_finished() => c.await.ok(),
        Some(c) => {
            c.abort();
            None
        }
        None => None,
    };
    let stats = mock.stats();
    let batch = recs.batch("chaos").await.unwrap().unwrap_or_default();
    let mut conn = redis.clone();
    let mut lost = 0u64;
    let mut failed_for_lost_answers = 0u64;
    let mut ambiguous_total = 0u64;
    let mut over_submitted = 0u64;
    let mut resubmitted_without_failure = 0u64;
    let mut statuses: HashMap<String, u64> = HashMap::new();
    let mut unfinished = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let prompt = format!("chaos job {i}");
        let rec: HashMap<String, String> = conn.hgetall(names.job_key(id)).await.unwrap();
        let status = rec
            .get("status")
            .cloned()
            .unwrap_or_else(|| "missing".into());
        let error = rec.get("error").map(String::as_str).unwrap_or("");
        let ambiguous: u64 = rec
            .get("ambiguous_submits")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        ambiguous_total += ambiguous;
        if status == "failed" && error.contains("answer was lost") {
            failed_for_lost_answers += 1;
        } else if status != "succeeded" && status != "cancelled" {
            lost += 1;
            unfinished.push((*id, rec.clone()));
        }
        *statuses.entry(status).or_default() += 1;
        let attempts: u64 = rec
            .get("attempts")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let accepted = stats
            .submissions_by_prompt
            .get(&prompt)
            .copied()
            .unwrap_or(0);
        if accepted > attempts {
            over_submitted += 1;
        }
        let failed_tasks = stats.errors_by_prompt.get(&prompt).copied().unwrap_or(0);
        if accepted > failed_tasks + ambiguous + 1 {
            resubmitted_without_failure += 1;
        }
    }
    let events: redis::streams::StreamRangeReply =
        conn.xrange_all(names.events_key()).await.unwrap();
    let event_ids: HashSet<String> = events
        .ids
        .iter()
        .filter_map(|e| e.get::<String>("id"))
        .collect();

    println!(
        "chaos: {} in {:.1} s; {kills} workers SIGKILLed, {} started",
        if finished {
            "finished"
        } else {
            "DID NOT FINISH"
        },
        elapsed.as_secs_f64(),
        fleet.spawned
    );
    println!("  statuses: {statuses:?}");
    println!(
        "  provider: {} submissions ({} accepted tasks errored, {} answers cut off), {} submit faults, {} poll faults, {} download faults, billed {} micro-USD",
        stats.submissions,
        stats.errors,
        stats.dropped_responses,
        stats.submit_errors,
        stats.poll_errors,
        stats.download_errors,
        stats.micro_usd_billed
    );
    println!(
        "  records: cost {} + unconfirmed {} micro-USD ({} submits whose answer was lost; batch {}), {failed_for_lost_answers} jobs failed for lost answers",
        batch.cost.0, batch.unconfirmed.0, ambiguous_total, batch.ambiguous_submits
    );
    if let Some(at) = cancelled_at_ms {
        let last = stats.last_submit_ms();
        println!(
            "  cancel: at {cancel_at}% returned; {} jobs cancelled; last submission {} ms after the cancel returned",
            batch.cancelled,
            last as i64 - at as i64
        );
    }
    let checks = [
        (
            "jobs succeeded or cancelled, or failed only for lost answers",
            batch.succeeded + batch.cancelled + failed_for_lost_answers,
            total,
        ),
        ("jobs lost", lost, 0),
        (
            "jobs with more provider submissions than recorded attempts",
            over_submitted,
            0,
        ),
        (
            "jobs submitted again without a failed task in between",
            resubmitted_without_failure,
            0,
        ),
        (
            "batch cost + unconfirmed (micro-USD) vs billed by the provider",
            batch.cost.0 + batch.unconfirmed.0,
            stats.micro_usd_billed,
        ),
        (
            "submits whose answer was lost: jobs' vs batch's count",
            ambiguous_total,
            batch.ambiguous_submits,
        ),
        ("events in the stream", events.ids.len() as u64, total),
        (
            "distinct job ids in the stream",
            event_ids.len() as u64,
            total,
        ),
    ];
    let mut ok = finished;
    for (what, got, want) in checks {
        let mark = if got == want { "ok " } else { "BAD" };
        ok &= got == want;
        println!("  {mark} {what}: {got} (want {want})");
    }
    if !ok {
        for (id, rec) in unfinished.iter().take(20) {
            let mut fields: Vec<_> = rec.iter().collect();
            fields.sort();
            println!("  unfinished {id}: {fields:?}");
        }
        print_queue_depths(&rabbit.url(), &names).await;
    }
    mock.shutdown().await;
    drop(rabbit);
    redis_srv.kill();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Messages ready in each of the namespace's queues (passive declares; a queue that
/// does not exist is said so).
async fn print_queue_depths(url: &str, names: &Names) {
    let Ok(conn) = fluxq_wire::amqp::connect(url, "fluxq-chaos-report").await else {
        println!("  queues: RabbitMQ does not answer");
        return;
    };
    // The workers' policy (FLUXQ_RETRY_BASE_MS=500, FLUXQ_RETRY_CAP=5) and the default.
    let policies = [
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(5),
            ..RetryPolicy::default()
        },
        RetryPolicy::default(),
    ];
    let mut queues = vec![
        names.lane_queue(Lane::Bulk),
        names.lane_queue(Lane::Interactive),
        names.dead_queue(),
    ];
    for p in &policies {
        for &t in DelayTiers::for_policy(p).all() {
            let q = names.delay_queue(t);
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
    }
    for q in queues {
        let Ok(ch) = conn.create_channel().await else {
            return;
        };
        let opts = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match ch
            .queue_declare(q.as_str().into(), opts, Default::default())
            .await
        {
            Ok(d) => println!(
                "  queue {q}: {} ready, {} consumers",
                d.message_count(),
                d.consumer_count()
            ),
            Err(e) => println!("  queue {q}: {e}"),
        }
    }
}

/// Cancels the batch once `at` of its jobs are final (retrying through outages);
/// returns when the cancel returned, in Unix ms.
async fn cancel_when(recs: RedisStore, at: u64) -> u64 {
    loop {
        let done = recs
            .batch("chaos")
            .await
            .ok()
            .flatten()
            .map_or(0, |s| s.done());
        if done >= at {
            match fluxq_producer::spend::cancel_batch(&recs, "chaos", Some("chaos")).await {
                Ok(o) => {
                    let ms = chrono_ms();
                    println!("  cancel at {done} done: {o}");
                    return ms;
                }
                Err(e) => println!("  cancel failed ({e}); trying again"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn chrono_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
