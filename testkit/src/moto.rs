//! An S3-compatible server for tests: moto's server from PyPI (`scripts/ensure-moto`
//! installs it into a cached venv the first time), on a free port of 127.0.0.1.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A moto S3 server on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

impl Moto {
    /// Starts moto's server (installed by `scripts/ensure-moto`) on a free port.
    pub async fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/ensure-moto");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .await;
        let out = out.unwrap_or_else(|e| panic!("run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} could not provide moto_server (needs python3 and PyPI the first time); see its output above"
        );
        let bin = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("start {bin}: {e}"));
            let start = tokio::time::Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // lost the port to someone else: try another
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return Self {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        _child: child,
                    };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("moto_server ({bin}) did not start on 127.0.0.1");
    }

    /// Creates bucket `name` (a plain PUT; moto needs no signature for it).
    pub async fn create_bucket(&self, name: &str) {
        let created = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "create bucket: {}",
            created.status()
        );
    }
}
