//! The real `producer serve` binary for tests: started on a free port with a test's
//! services, its address read from its first line, killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::Harness;

/// A token with the `write` scope, and one with `read`.
pub const WRITE: &str = "writer-token-0123456789";
pub const READ: &str = "reader-token-0123456789";

/// A running server.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

/// The environment of a server on `h`'s services with the two test tokens.
pub fn env(h: &Harness) -> Vec<(&'static str, String)> {
    vec![
        ("FLUXQ_AMQP_URL", h.amqp_url.clone()),
        ("FLUXQ_REDIS_URL", h.redis_url.clone()),
        ("FLUXQ_NAMESPACE", h.names.namespace().into()),
        ("FLUXQ_OUTPUT_DIR", h.output_path().display().to_string()),
        (
            "FLUXQ_API_TOKENS",
            format!("ci:{WRITE}:write,viewer:{READ}:read"),
        ),
        ("FLUXQ_API_RATE", "0".into()),
    ]
}

impl Server {
    /// Starts `producer serve --listen 127.0.0.1:0` with exactly `env` (plus `PATH`).
    pub async fn start(env: &[(&str, String)], args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_producer"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start producer serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("producer serve said nothing within 30 s")
            .unwrap()
            .expect("producer serve exited before listening");
        let base = first
            .strip_prefix("serving the HTTP API on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        Self {
            child,
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with `token`: status and JSON body (`Null` if not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut r = self.client.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `POST path` of `body` with the write token and extra headers.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let mut r = self
            .client
            .post(self.url(path))
            .bearer_auth(WRITE)
            .json(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (
            status,
            headers,
            resp.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Polls `GET /v1/jobs/{id}` until its status is `status`.
    pub async fn wait_job(&self, id: &str, status: &str, timeout: Duration) -> serde_json::Value {
        let start = tokio::time::Instant::now();
        loop {
            let (code, job) = self.get(&format!("/v1/jobs/{id}"), Some(READ)).await;
            if code == 200 && job["status"] == status {
                return job;
            }
            assert!(
                start.elapsed() < timeout,
                "job {id} not {status} after {timeout:?}: {code} {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
