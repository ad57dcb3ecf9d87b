//! The `mock-provider` binary: the new knobs given as flags and as `MOCK_*`
//! environment variables reach `GET /_mock/config`, and `--help` documents them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failing test may panic"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mock-provider");

/// The binary, started on a free port; killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args` and `env`; returns it and its base URL.
fn start(args: &[&str], env: &[(&str, &str)]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    (Running(child), url)
}

async fn knobs(url: &str) -> Value {
    reqwest::get(format!("{url}/_mock/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_new_knobs_are_taken_from_flags() {
    let (_mock, url) = start(
        &[
            "--download-fail-rate",
            "0.3",
            "--download-fail-first",
            "2",
            "--lookup-fail-rate",
            "0.5",
            "--cost-override",
            "1e30",
            "--poll-progress-override",
            "NaN",
            "--poll-body-pad-bytes",
            "1048576",
            "--chunked-image-bytes",
            "200000000",
            "--runflow-max-queued",
            "7",
            "--runflow-idempotency",
            "false",
            "--runflow-output-shape",
            "image_urls",
        ],
        &[],
    );
    let k = knobs(&url).await;
    assert_eq!(
        [
            &k["download_fail_rate"],
            &k["download_fail_first"],
            &k["lookup_fail_rate"],
            &k["cost_override"],
            &k["poll_progress_override"],
            &k["poll_body_pad_bytes"],
            &k["chunked_image_bytes"],
            &k["runflow_max_queued"],
            &k["runflow_idempotency"],
            &k["runflow_output_shape"],
        ],
        [
            &json!(0.3),
            &json!(2),
            &json!(0.5),
            &json!(1e30),
            &json!("NaN"),
            &json!(1_048_576),
            &json!(200_000_000),
            &json!(7),
            &json!(false),
            &json!("image_urls"),
        ]
    );
}

#[tokio::test]
async fn the_new_knobs_are_taken_from_the_environment() {
    let (_mock, url) = start(
        &[],
        &[
            ("MOCK_DOWNLOAD_FAIL_RATE", "1"),
            ("MOCK_DOWNLOAD_FAIL_FIRST", "3"),
            ("MOCK_COST_OVERRIDE", "\"-1\""),
            ("MOCK_POLL_PROGRESS_OVERRIDE", "-5"),
            ("MOCK_RUNFLOW_OUTPUT_SHAPE", "image"),
        ],
    );
    let k = knobs(&url).await;
    assert_eq!(
        (
            k["download_fail_rate"].clone(),
            k["download_fail_first"].clone(),
            k["cost_override"].clone(),
            k["poll_progress_override"].clone(),
            k["runflow_output_shape"].clone(),
            k["runflow_idempotency"].clone(),
        ),
        (
            json!(1.0),
            json!(3),
            json!("-1"),
            json!(-5),
            json!("image"),
            json!(true)
        )
    );
}

#[test]
fn help_documents_every_new_knob() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    for name in [
        "download-fail-rate",
        "download-fail-first",
        "lookup-fail-rate",
        "cost-override",
        "poll-progress-override",
        "poll-body-pad-bytes",
        "chunked-image-bytes",
        "runflow-max-queued",
        "runflow-idempotency",
        "runflow-output-shape",
    ] {
        assert!(
            text.contains(&format!("--{name}")),
            "--{name} missing from --help"
        );
        let env = format!("MOCK_{}", name.replace('-', "_").to_uppercase());
        assert!(text.contains(&env), "{env} missing from --help");
    }
}
