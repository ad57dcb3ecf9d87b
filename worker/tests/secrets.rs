//! Passwords in connection URLs never reach a log line: a malformed URL stops the
//! worker at start with one line naming the variable (password hidden), and a
//! well-formed one that cannot connect is logged redacted on every reconnection.

use std::process::{Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "pw-9f3k2-never-logged";

fn worker(amqp_url: &str, redis_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_worker"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FLUXQ_AMQP_URL", amqp_url)
        .env("FLUXQ_REDIS_URL", redis_url)
        .env("FLUXQ_METRICS_ADDR", "127.0.0.1:0")
        .env("FLUXQ_NAMESPACE", "secrets-test")
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[test]
fn a_malformed_amqp_url_stops_the_worker_without_printing_its_password() {
    for url in [
        format!("amqp:guest:{PASSWORD}@127.0.0.1"),
        format!("amqp//guest:{PASSWORD}@127.0.0.1:5672"),
    ] {
        let out = worker(&url, "redis://127.0.0.1:6379/0")
            .output()
            .expect("run the worker");
        let logs = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{logs}");
        assert!(logs.contains("FLUXQ_AMQP_URL"), "{logs}");
        assert!(!logs.contains(PASSWORD), "the password leaked:\n{logs}");
    }
    let out = worker(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        &format!("redis:/:{PASSWORD}@127.0.0.1"),
    )
    .output()
    .expect("run the worker");
    let logs = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{logs}");
    assert!(logs.contains("FLUXQ_REDIS_URL"), "{logs}");
    assert!(!logs.contains(PASSWORD), "the password leaked:\n{logs}");
}

#[test]
fn reconnection_warnings_show_urls_redacted() {
    // Nothing listens on port 1: every connection attempt fails and is logged.
    let mut child = worker(
        &format!("amqp://guest:{PASSWORD}@127.0.0.1:1/%2f"),
        &format!("redis://:{PASSWORD}@127.0.0.1:1/0"),
    )
    .spawn()
    .expect("start the worker");
    std::thread::sleep(Duration::from_secs(3));
    let _ = child.kill();
    let out = child.wait_with_output().expect("collect the logs");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logs.contains("Redis is not answering"), "{logs}");
    assert!(!logs.contains(PASSWORD), "the password leaked:\n{logs}");
}
