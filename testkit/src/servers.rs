//! Private RabbitMQ nodes and Redis servers on free ports, for tests and the chaos run
//! that kill and restart them without disturbing the machine's own services.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A free TCP port on 127.0.0.1 (below 40000, so `port + 20000` is a valid port too).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if port < 40000 && port > 1024 {
            return port;
        }
    }
}

async fn wait_port(port: u16, timeout: Duration, what: &str) {
    let start = tokio::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < timeout,
            "{what} did not listen on {port} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A RabbitMQ node of its own (`rabbitmq-server` with its own name, ports, data).
#[derive(Debug)]
pub struct Rabbit {
    pub port: u16,
    dir: tempfile::TempDir,
    /// The `rabbitmq-server` processes started (one per boot), reaped on kill.
    started: std::sync::Mutex<Vec<std::process::Child>>,
}

impl Rabbit {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let r = Self {
            port,
            dir,
            started: std::sync::Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(r.path().join("mnesia")).expect("mkdir");
        std::fs::create_dir_all(r.path().join("log")).expect("mkdir");
        std::fs::write(r.path().join("enabled_plugins"), "[].\n").expect("write");
        std::fs::write(
            r.path().join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .expect("write");
        let chown = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(r.path())
            .status();
        assert!(
            chown.is_ok_and(|s| s.success()),
            "chown the node's directory to rabbitmq"
        );
        r.boot().await;
        r
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self) -> Command {
        let p = self.path();
        let mut c = Command::new("rabbitmq-server");
        c.env(
            "RABBITMQ_NODENAME",
            format!("fluxqt{}@localhost", self.port),
        )
        .env("RABBITMQ_NODE_PORT", self.port.to_string())
        .env(
            "RABBITMQ_DIST_PORT",
            (u32::from(self.port) + 20000).to_string(),
        )
        .env("RABBITMQ_MNESIA_BASE", p.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", p.join("log"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", p.join("enabled_plugins"))
        .env("RABBITMQ_PID_FILE", p.join("pid"))
        .env("RABBITMQ_FEATURE_FLAGS_FILE", p.join("feature_flags"))
        .env("RABBITMQ_CONFIG_FILE", p.join("rabbitmq"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    /// Starts the node (again) on the same data, waiting until it listens.
    pub async fn boot(&self) {
        let _ = std::fs::remove_file(self.path().join("pid"));
        let child = self.command().spawn().expect("run rabbitmq-server");
        self.started.lock().map(|mut v| v.push(child)).ok();
        wait_port(self.port, Duration::from_secs(90), "RabbitMQ").await;
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the node's VM.
    pub fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.path().join("pid")).expect("node pid file");
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.trim())
            .status();
    }

    /// `kill -9` of the node's VM.
    pub async fn kill(&self) {
        let pid = std::fs::read_to_string(self.path().join("pid")).expect("node pid file");
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        self.reap();
        let start = tokio::time::Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_ok()
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "RabbitMQ did not die"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Rabbit {
    /// Waits for the `rabbitmq-server` processes whose node is gone.
    fn reap(&self) {
        if let Ok(mut started) = self.started.lock() {
            for mut c in started.drain(..) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.path().join("pid")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        self.reap();
    }
}

/// A Redis server of its own, with AOF (fsync always) so a restart keeps the data,
/// as production Redis for fluxq is configured; or a replica of one.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    /// The primary's port, for a replica.
    replica_of: Option<u16>,
}

impl Redis {
    pub async fn start() -> Self {
        let mut r = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            replica_of: None,
        };
        r.boot().await;
        r
    }

    /// A replica of `primary` (`--replicaof`), returned once its link is up.
    pub async fn replica_of(primary: &Redis) -> Self {
        let mut r = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            replica_of: Some(primary.port),
        };
        r.boot().await;
        let client = redis::Client::open(r.url()).expect("replica URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the replica");
        let start = tokio::time::Instant::now();
        loop {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut conn)
                .await
                .expect("INFO replication");
            if info.contains("master_link_status:up") {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the replica never synced: {info}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again) on the same data. `FLUXQ_TEST_REDIS_SERVER` names
    /// another `redis-server` binary (e.g. a newer one), else the one on `PATH`.
    pub async fn boot(&mut self) {
        let bin =
            std::env::var("FLUXQ_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(bin)
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .args(
                self.replica_of
                    .map(|p| {
                        vec![
                            "--replicaof".to_owned(),
                            "127.0.0.1".to_owned(),
                            p.to_string(),
                        ]
                    })
                    .unwrap_or_default(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server");
        self.child = Some(child);
        wait_port(self.port, Duration::from_secs(20), "Redis").await;
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the server.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
