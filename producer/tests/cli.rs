//! The `producer` binary against the real RabbitMQ and Redis: every line is validated
//! before anything is published; ids are generated where missing; submitting the same
//! jobs again moves nothing twice; `status` reports a batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::Output;

use fluxq_common::{DelayTiers, Lane, Names, RetryPolicy};
use fluxq_testkit::process::run_producer;
use fluxq_testkit::{namespace, services};
use fluxq_wire::RedisStore;
use fluxq_wire::amqp;
use fluxq_wire::redis as records;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

#[path = "cli/spend.rs"]
mod spend;

struct Ns {
    names: Names,
    svc: services::Services,
    conn: lapin::Connection,
    records: RedisStore,
    redis: redis::aio::ConnectionManager,
}

impl Ns {
    async fn new() -> Self {
        let svc = services::get().await.clone();
        let names = namespace::fresh("p", 10);
        let conn = amqp::connect(&svc.amqp_url, "fluxq-producer-test")
            .await
            .unwrap();
        amqp::declare_topology(
            &conn,
            &names,
            &DelayTiers::for_policy(&RetryPolicy::default()),
        )
        .await
        .unwrap();
        let redis = records::connect(&svc.redis_url).await.unwrap();
        Self {
            records: RedisStore::new(redis.clone(), names.clone()),
            names,
            svc,
            conn,
            redis,
        }
    }

    fn producer(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_producer(&self.svc, self.names.namespace(), args, stdin)
    }

    async fn depth(&self, lane: Lane) -> u32 {
        let ch = self.conn.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                self.names.lane_queue(lane).as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        q.message_count()
    }

    async fn cleanup(self) {
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        namespace::cleanup(&self.conn, &self.redis, &self.names, &[&tiers]).await;
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_bad_lines_is_reported_line_by_line_and_nothing_is_published() {
    let ns = Ns::new().await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let lines = [
        r#"{"model":"flux-2-pro","prompt":"a good mug"}"#,
        r#"{"model":"flux-2-pro","prompt":"x","width":100,"height":512}"#,
        "",
        "not json at all",
        r#"{"model":"flux-2-pro","prompt":"another good mug","seed":3}"#,
        r#"{"model":"flux-2-pro","prompt":"x","colour":"red"}"#,
        r#"{"model":"flux-2-flex","prompt":"x","steps":80}"#,
    ];
    writeln!(file, "{}", lines.join("\n")).unwrap();
    let out = ns.producer(
        &["submit", file.path().to_str().unwrap(), "--batch", "bad"],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for expected in [
        "line 2: width: must be a multiple of 16 (got 100)",
        "line 4: body: not JSON",
        "line 6: colour: unknown field `colour`",
        "line 7: steps: must be between 1 and 50 (got 80)",
        "4 invalid line(s); nothing was published",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("line 1:") && !stderr.contains("line 5:"));
    assert_eq!(ns.depth(Lane::Bulk).await, 0);
    assert!(
        ns.records.batch("bad").await.unwrap().is_none(),
        "no record was written"
    );
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_jobs_are_published_recorded_once_and_reported() {
    let ns = Ns::new().await;
    let id_a = uuid::Uuid::new_v4();
    let id_b = uuid::Uuid::new_v4();
    let input = format!(
        "{}\n{}\n{}\n",
        serde_json::json!({"id": id_a, "model": "flux-2-pro", "prompt": "teapot", "metadata": {"sku": "TP-1"}}),
        serde_json::json!({"id": id_b, "model": "flux-2-flex", "prompt": "kettle", "steps": 20, "guidance": 3.5, "size": "square"}),
        serde_json::json!({"model": "flux-2-max", "prompt": "cup"}),
    );
    let out = ns.producer(
        &["submit", "-", "--batch", "kitchen", "--lane", "interactive"],
        Some(&input),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("published 3 job(s)") && stdout.contains("batch kitchen"),
        "{stdout}"
    );
    assert_eq!(ns.depth(Lane::Interactive).await, 3);
    assert_eq!(ns.depth(Lane::Bulk).await, 0);

    let batch = ns.records.batch("kitchen").await.unwrap().unwrap();
    assert_eq!(batch.total, 3);
    let a = ns.records.job(&id_a).await.unwrap();
    assert_eq!(
        (
            a["status"].as_str(),
            a["provider"].as_str(),
            a["model"].as_str(),
            a["batch"].as_str()
        ),
        ("queued", "bfl", "flux-2-pro", "kitchen")
    );
    assert_eq!(a["attempts"], "0");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&a["metadata"]).unwrap(),
        serde_json::json!({"sku": "TP-1"})
    );
    assert!(a.contains_key("created_at"));

    // The same two ids again: published again (harmless), counted once.
    let out = ns.producer(&["submit", "-", "--batch", "kitchen"], Some(&input));
    assert!(out.status.success());
    let batch = ns.records.batch("kitchen").await.unwrap().unwrap();
    assert_eq!(
        batch.total, 4,
        "two known ids are not counted again; the id-less line got a new id"
    );

    let out = ns.producer(&["status", "kitchen"], None);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains(
            "batch kitchen: 4 jobs, 0 done (succeeded 0, failed 0, moderated 0), cost 0 USD"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("in progress: 4 to go"), "{stdout}");

    let out = ns.producer(&["status", "no-such-batch"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("no batch named"));
    ns.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_in_the_lines_must_match_the_submissions() {
    let ns = Ns::new().await;
    let input = "{\"model\":\"flux-2-pro\",\"prompt\":\"a\",\"batch\":\"one\"}\n{\"model\":\"flux-2-pro\",\"prompt\":\"b\",\"batch\":\"two\"}\n";
    let out = ns.producer(&["submit", "-"], Some(input));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("line 2: batch: is \"two\" but the submission's batch is \"one\""),
        "{stderr}"
    );
    ns.cleanup().await;
}

/// Hostile input: duplicate ids, duplicate keys, bytes that are not UTF-8, a line
/// longer than the cap and a binary file are each reported with their line number,
/// the exit code is 2, and nothing reaches RabbitMQ or Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_refused_line_by_line_and_nothing_is_published() {
    let ns = Ns::new().await;
    let id = uuid::Uuid::new_v4();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let good = format!(r#"{{"id":"{id}","model":"flux-2-pro","prompt":"a mug"}}"#);
    file.write_all(good.as_bytes()).unwrap();
    file.write_all(b"\n").unwrap();
    file.write_all(good.replace("a mug", "another mug").as_bytes())
        .unwrap();
    file.write_all(b"\n").unwrap();
    file.write_all(br#"{"model":"flux-2-pro","prompt":"a","prompt":"b"}"#)
        .unwrap();
    file.write_all(b"\n").unwrap();
    file.write_all(b"{\"model\":\"flux-2-pro\",\"prompt\":\"caf\xe9\"}\n")
        .unwrap();
    let long = format!(
        r#"{{"model":"flux-2-pro","prompt":"x","metadata":{{"pad":"{}"}}}}"#,
        "y".repeat(20 * 1024 * 1024)
    );
    file.write_all(long.as_bytes()).unwrap();
    file.write_all(b"\n").unwrap();
    file.flush().unwrap();
    let out = ns.producer(&["submit", file.path().to_str().unwrap()], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    for expected in [
        format!("line 2: id: {id} already used on line 1"),
        "line 3: prompt: ".to_owned(),
        "line 4: not UTF-8".to_owned(),
        "line 5: longer than 8388608 bytes".to_owned(),
        "4 invalid line(s); nothing was published".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    assert!(!stderr.contains("line 1:"), "{stderr}");
    // A file of binary noise (NULs, invalid UTF-8, stray newlines).
    let mut noise = tempfile::NamedTempFile::new().unwrap();
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    noise.write_all(&bytes).unwrap();
    noise.flush().unwrap();
    let out = ns.producer(&["submit", noise.path().to_str().unwrap()], None);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("line 1: "), "{stderr}");
    assert_eq!(ns.depth(Lane::Bulk).await, 0);
    assert_eq!(ns.depth(Lane::Interactive).await, 0);
    let mut conn = ns.redis.clone();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", ns.names.namespace()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.is_empty(), "nothing is recorded: {keys:?}");
    ns.cleanup().await;
}

/// `producer status` never sends `KEYS` (it blocks Redis for the whole fleet): every
/// command it sends is watched with `MONITOR`; it finds the accounts with `SCAN`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_by_known_keys_and_scan_never_keys() {
    use futures_util::StreamExt;
    let ns = Ns::new().await;
    let out = ns.producer(
        &["submit", "-", "--batch", "watched"],
        Some(r#"{"model":"flux-2-pro","prompt":"a watched mug"}"#),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let account = "bfl:0123456789abcdef";
    let _: () = redis::cmd("HSET")
        .arg(ns.names.limiter_key(account, "state"))
        .arg(&["limit", "24", "max", "24", "throttled", "0"])
        .query_async(&mut ns.redis.clone())
        .await
        .unwrap();

    let client = redis::Client::open(ns.svc.redis_url.as_str()).unwrap();
    let monitor = client.get_async_monitor().await.unwrap();
    let mut commands = monitor.into_on_message::<String>();
    let (svc, namespace) = (ns.svc.clone(), ns.names.namespace().to_owned());
    let status = tokio::task::spawn_blocking(move || {
        run_producer(&svc, &namespace, &["status", "watched"], None)
    });
    let mut seen = Vec::new();
    let collect = async {
        while let Some(line) = commands.next().await {
            seen.push(line);
        }
    };
    let out = tokio::select! {
        out = status => out.unwrap(),
        () = collect => panic!("the monitor stopped"),
    };
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(account), "{stdout}");
    // What the monitor had not handed over yet.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), async {
        while let Some(line) = commands.next().await {
            seen.push(line);
        }
    })
    .await;
    let ours: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains(ns.names.namespace()))
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("\"SCAN\"")),
        "status looked the accounts up with SCAN: {ours:#?}"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains(&ns.names.batch_key("watched"))),
        "the monitor saw status read the batch: {ours:#?}"
    );
    let keys: Vec<&&String> = ours
        .iter()
        .filter(|l| l.to_ascii_uppercase().contains("\"KEYS\""))
        .collect();
    assert!(keys.is_empty(), "KEYS was sent: {keys:#?}");
    ns.cleanup().await;
}
