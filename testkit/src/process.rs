//! The workspace's binaries as processes: the `worker` started with a clean
//! environment pointed at a test's services, JSON logs collected line by line, the
//! metrics address read from its log, SIGTERM sent as Kubernetes does; the `producer`
//! run to completion.
//!
//! A binary is found next to the running test or benchmark, where Cargo builds a
//! package's binaries for its own tests and benchmarks: a test starts the binaries of
//! its own package (the worker's tests the worker, the producer's the producer).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::services::Services;

/// The path of the workspace binary `name`: `target/<profile>/<name>`, next to the
/// running test or benchmark (`target/<profile>/deps/<test>`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let mut dir = exe.parent().expect("the test's directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built (Cargo builds it for the tests and benchmarks of its own package)",
        path.display()
    );
    path
}

/// Starts `producer serve` on a free port against `svc` under `namespace`, with one
/// write token, no rate limit and images read from `output_dir`; returns the process
/// (killed when dropped) and the API's base URL, once it listens.
pub async fn serve_api(
    svc: &Services,
    namespace: &str,
    token: &str,
    output_dir: &std::path::Path,
) -> (Child, String) {
    let mut child = Command::new(bin_path("producer"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .env("FLUXQ_AMQP_URL", &svc.amqp_url)
        .env("FLUXQ_REDIS_URL", &svc.redis_url)
        .env("FLUXQ_NAMESPACE", namespace)
        .env("FLUXQ_API_TOKENS", format!("bench:{token}:write"))
        .env("FLUXQ_API_RATE", "0")
        .env("FLUXQ_OUTPUT_DIR", output_dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start producer serve");
    let stdout = child.stdout.take().expect("serve's stdout");
    let first = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("serve's first line")
        .expect("serve printed its address");
    let base = first
        .strip_prefix("serving the HTTP API on ")
        .expect("serve's first line names its address")
        .to_owned();
    (child, base)
}

/// Runs the `producer` binary with `args` against `svc` under `namespace`, writing
/// `stdin` to it (or nothing), and waits for it to exit.
pub fn run_producer(svc: &Services, namespace: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = std::process::Command::new(bin_path("producer"))
        .env("FLUXQ_AMQP_URL", &svc.amqp_url)
        .env("FLUXQ_REDIS_URL", &svc.redis_url)
        .env("FLUXQ_NAMESPACE", namespace)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the producer binary");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// A running worker process and what it has written to stderr so far.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl WorkerProcess {
    /// Starts the binary with only `env` (plus `PATH`), JSON logs and metrics on a
    /// free port of 127.0.0.1 unless `env` says otherwise.
    pub fn start(env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(bin_path("worker"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FLUXQ_LOG_FORMAT", "json")
            .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the worker binary");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = tokio::spawn(async move {
            let mut r = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = r.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a stderr line that parses as JSON and satisfies `pred`.
    pub async fn wait_log(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = tokio::time::Instant::now();
        loop {
            let found = self
                .lines()
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .find(|v| pred(v));
            if let Some(v) = found {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the worker never logged {what}:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address the metrics server bound (from its log line).
    pub async fn metrics_addr(&self) -> SocketAddr {
        let line = self
            .wait_log("the metrics address", |v| {
                v["message"] == "Serving /metrics, /healthz and /readyz."
            })
            .await;
        line["addr"].as_str().unwrap().parse().unwrap()
    }

    /// Sends SIGKILL and reaps the process.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL the worker");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("worker is running").to_string();
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit (failing after `timeout`) and for its last lines.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("worker still running after {timeout:?}"))
            .unwrap();
        if let Some(r) = self.reader.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
        }
        status
    }

    /// Everything the worker wrote to stdout (after it exited).
    pub async fn stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            s.read_to_string(&mut out).await.unwrap();
        }
        out
    }
}

/// `GET http://{addr}{path}`: status and body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Polls `path` until it answers `status`, failing after 20 s.
pub async fn wait_status(addr: SocketAddr, path: &str, status: u16) -> String {
    let start = tokio::time::Instant::now();
    loop {
        let (s, body) = get(addr, path).await;
        if s == status {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{path} still says {s} {body:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
