//! Finding RabbitMQ and Redis for the tests.

use std::time::Duration;

use tokio::sync::OnceCell;

/// Where the services are.
#[derive(Debug, Clone)]
pub struct Services {
    pub amqp_url: String,
    pub redis_url: String,
}

static SERVICES: OnceCell<Services> = OnceCell::const_new();
/// Containers started for this test binary, kept alive until it exits.
static CONTAINERS: std::sync::Mutex<Vec<Box<dyn std::any::Any + Send>>> =
    std::sync::Mutex::new(Vec::new());

/// The services of this test binary, found (or started) on first use.
pub async fn get() -> &'static Services {
    SERVICES.get_or_init(find).await
}

async fn find() -> Services {
    let amqp_env = std::env::var("FLUXQ_TEST_AMQP_URL").ok();
    let redis_env = std::env::var("FLUXQ_TEST_REDIS_URL").ok();
    let amqp_url = amqp_env
        .clone()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let redis_url = redis_env
        .clone()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
    let amqp_ok = reachable(&amqp_url, 5672).await;
    let redis_ok = reachable(&redis_url, 6379).await;
    if amqp_ok && redis_ok {
        return Services {
            amqp_url,
            redis_url,
        };
    }
    if docker_engine_present() {
        return containers(amqp_ok.then_some(amqp_url), redis_ok.then_some(redis_url)).await;
    }
    let mut missing = Vec::new();
    if !amqp_ok {
        missing.push(format!("RabbitMQ at {amqp_url}"));
    }
    if !redis_ok {
        missing.push(format!("Redis at {redis_url}"));
    }
    panic!(
        "integration tests need {} (set FLUXQ_TEST_AMQP_URL / FLUXQ_TEST_REDIS_URL, start the services, or run a Docker engine for testcontainers)",
        missing.join(" and ")
    );
}

async fn reachable(url: &str, default_port: u16) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = u.port().unwrap_or(default_port);
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect((host.as_str(), port))
        )
        .await,
        Ok(Ok(_))
    )
}

fn docker_engine_present() -> bool {
    std::path::Path::new("/var/run/docker.sock").exists()
        || std::env::var_os("DOCKER_HOST").is_some()
}

async fn containers(amqp: Option<String>, redis: Option<String>) -> Services {
    use testcontainers::GenericImage;
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;

    let amqp_url = match amqp {
        Some(u) => u,
        None => {
            let c = GenericImage::new("rabbitmq", "3.13")
                .with_exposed_port(5672.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Server startup complete"))
                .start()
                .await
                .expect("start a RabbitMQ container");
            let port = c.get_host_port_ipv4(5672).await.expect("RabbitMQ port");
            CONTAINERS.lock().map(|mut v| v.push(Box::new(c))).ok();
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
        }
    };
    let redis_url = match redis {
        Some(u) => u,
        None => {
            let c = GenericImage::new("redis", "7")
                .with_exposed_port(6379.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .start()
                .await
                .expect("start a Redis container");
            let port = c.get_host_port_ipv4(6379).await.expect("Redis port");
            CONTAINERS.lock().map(|mut v| v.push(Box::new(c))).ok();
            format!("redis://127.0.0.1:{port}/0")
        }
    };
    Services {
        amqp_url,
        redis_url,
    }
}
