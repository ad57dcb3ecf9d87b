//! Benchmark of the dashboard (not a test: it prints figures). `cargo bench -p
//! fluxq-producer --bench dashboard` runs, against the local RabbitMQ and Redis, the
//! release `producer serve` on a scratch namespace, `BENCH_RUNS` times (default 3):
//! 1. the page of a batch of `BENCH_JOBS` (default 10,000) jobs, as the record scripts
//!    leave them (most succeeded with an image, 5 % failed with one of five errors, so
//!    the errors are grouped: every job's status is read), `BENCH_PAGES` (default 30)
//!    times: median and max time to the whole HTML; and the same page filtered to
//!    `failed` (the gallery filter reads every status too);
//! 2. thumbnails of `BENCH_THUMBS` (default 20) distinct 1024×1024 PNGs: fresh (read,
//!    decoded, scaled, encoded) and again from the cache; medians.
//!
//! The namespace's queues and keys are removed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;
use std::time::{Duration, Instant};

use fluxq_common::{DelayTiers, RetryPolicy};
use fluxq_testkit::{namespace, services};
use fluxq_wire::{amqp, redis as records};
use redis::AsyncCommands;

const TOKEN: &str = "bench-token-0123456789abcdef";
const BATCH: &str = "bench-dashboard";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A 1024×1024 PNG with enough detail that decoding and scaling do real work.
fn picture(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(1024, 1024, |x, y| {
        let v = x.wrapping_mul(31 + seed) ^ y.wrapping_mul(17) ^ (x * y).wrapping_add(seed);
        image::Rgb([
            (v & 0xff) as u8,
            ((v >> 8) & 0xff) as u8,
            ((x + y) & 0xff) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Writes the batch's records as `create` and `finish` leave them; returns the ids of
/// the first `thumbs` succeeded jobs, whose images are real files in `dir`.
async fn write_batch(
    redis: &mut redis::aio::ConnectionManager,
    names: &fluxq_common::Names,
    jobs: u64,
    thumbs: u64,
    dir: &std::path::Path,
) -> Vec<String> {
    let now = chrono::Utc::now().to_rfc3339();
    let mut with_images = Vec::new();
    let (mut succeeded, mut failed) = (0u64, 0u64);
    for chunk in (1..=jobs).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for &place in chunk {
            let id = uuid::Uuid::new_v4();
            let key = names.job_key(&id);
            let fail = place % 20 == 0;
            let image = dir.join(format!("{id}.png"));
            pipe.hset_multiple(
                &key,
                &[
                    ("status", if fail { "failed" } else { "succeeded" }),
                    ("attempts", "1"),
                    ("provider", "bfl"),
                    ("model", "flux-2-pro"),
                    ("batch", BATCH),
                    ("created_at", now.as_str()),
                    ("updated_at", now.as_str()),
                    ("finished_at", now.as_str()),
                    ("cost_usd", "0.03"),
                ],
            )
            .ignore();
            if fail {
                let error = format!("BFL submit answered HTTP 422: rule {}", place % 5);
                pipe.hset(&key, "error", error).ignore();
                pipe.sadd(names.batch_failed_key(BATCH), id.to_string())
                    .ignore();
                failed += 1;
            } else {
                pipe.hset(&key, "image_path", image.display().to_string())
                    .ignore();
                succeeded += 1;
                if (with_images.len() as u64) < thumbs {
                    with_images.push((id.to_string(), image));
                }
            }
            pipe.zadd(names.batch_jobs_key(BATCH), id.to_string(), place)
                .ignore();
        }
        let () = pipe.query_async(redis).await.unwrap();
    }
    let () = redis::pipe()
        .hset_multiple(
            names.batch_key(BATCH),
            &[
                ("total", jobs),
                ("succeeded", succeeded),
                ("failed", failed),
                ("moderated", 0),
                ("cost_micro_usd", jobs * 30_000),
            ],
        )
        .ignore()
        .zadd(
            names.batches_key(),
            BATCH,
            chrono::Utc::now().timestamp_millis(),
        )
        .ignore()
        .query_async(redis)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (i, (id, path)) in with_images.into_iter().enumerate() {
        std::fs::write(&path, picture(i as u32)).unwrap();
        ids.push(id);
    }
    ids
}

/// Times `GET path` (the whole body read) with the session `cookie`.
async fn time_get(client: &reqwest::Client, url: &str, cookie: &str) -> (Duration, usize) {
    let start = Instant::now();
    let r = client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let n = r.bytes().await.unwrap().len();
    (start.elapsed(), n)
}

/// One run: (page median, page max, filtered median, thumbnail fresh, cached, page bytes).
async fn run(svc: &services::Services, jobs: u64, pages: u64, thumbs: u64) -> [f64; 6] {
    let names = namespace::fresh("bench", 8);
    let conn = amqp::connect(&svc.amqp_url, "fluxq-bench").await.unwrap();
    let tiers = DelayTiers::for_policy(&RetryPolicy::default());
    amqp::declare_topology(&conn, &names, &tiers).await.unwrap();
    let mut redis = records::connect(&svc.redis_url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = std::fs::canonicalize(dir.path()).unwrap();
    let ids = write_batch(&mut redis, &names, jobs, thumbs, &dir_path).await;
    let (child, base) =
        fluxq_testkit::process::serve_api(svc, names.namespace(), TOKEN, &dir_path).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = client
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let page = format!("{base}/batches/{BATCH}");
    let _ = time_get(&client, &page, &cookie).await; // warm the connection and scripts
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..pages {
        let (d, n) = time_get(&client, &page, &cookie).await;
        times.push(d);
        bytes = n;
    }
    let max = times.iter().max().copied().unwrap_or_default();
    let page_median = median(times);
    let mut filtered = Vec::new();
    for _ in 0..pages {
        filtered.push(
            time_get(&client, &format!("{page}?status=failed"), &cookie)
                .await
                .0,
        );
    }
    let (mut fresh, mut cached) = (Vec::new(), Vec::new());
    for id in &ids {
        fresh.push(
            time_get(&client, &format!("{base}/jobs/{id}/thumbnail"), &cookie)
                .await
                .0,
        );
    }
    for id in &ids {
        cached.push(
            time_get(&client, &format!("{base}/jobs/{id}/thumbnail"), &cookie)
                .await
                .0,
        );
    }
    drop(child);
    namespace::cleanup(&conn, &redis, &names, &[&tiers]).await;
    let _ = redis.del::<_, ()>(names.batches_key()).await;
    [
        ms(page_median),
        ms(max),
        ms(median(filtered)),
        ms(median(fresh)),
        ms(median(cached)),
        bytes as f64,
    ]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let svc = services::get().await.clone();
    let (runs, jobs, pages, thumbs) = (
        env_or("BENCH_RUNS", 3),
        env_or("BENCH_JOBS", 10_000),
        env_or("BENCH_PAGES", 30),
        env_or("BENCH_THUMBS", 20),
    );
    println!(
        "dashboard: a batch of {jobs} jobs (5 % failed), {pages} page loads, {thumbs} thumbnails of 1024x1024 PNGs, {runs} runs"
    );
    let mut all = Vec::new();
    for i in 1..=runs {
        let r = run(&svc, jobs, pages, thumbs).await;
        println!(
            "run {i}: batch page median {:.1} ms (max {:.1} ms, {:.0} KiB); filtered to failed {:.1} ms; thumbnail fresh {:.1} ms, cached {:.2} ms",
            r[0],
            r[1],
            r[5] / 1024.0,
            r[2],
            r[3],
            r[4]
        );
        all.push(r);
    }
    let range = |k: usize| {
        let lo = all.iter().map(|r| r[k]).fold(f64::INFINITY, f64::min);
        let hi = all.iter().map(|r| r[k]).fold(0.0, f64::max);
        format!("{lo:.2}–{hi:.2} ms")
    };
    println!(
        "over {runs} runs: batch page median {}, filtered {}, thumbnail fresh {}, cached {}",
        range(0),
        range(2),
        range(3),
        range(4)
    );
}
