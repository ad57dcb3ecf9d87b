//! HTTP plumbing shared by the provider clients: where an API key may be sent,
//! and turning transport errors and error responses into classified failures.

use std::time::Duration;

use fluxq_common::failure::classify_http_status;
use fluxq_common::{Failure, FailureKind};
use url::{Host, Url};

/// Largest error body quoted in a failure reason.
const MAX_QUOTED_BODY: usize = 300;

/// Builds the HTTP client every provider uses: timeouts on everything, no redirects
/// (a redirect must not carry the key elsewhere), and up to `connections` idle
/// connections kept per host: one for each job that may run at once, so a full
/// worker reuses its connections instead of opening (and closing) one per request.
pub fn client(timeout: Duration, connections: usize) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(connections)
        .user_agent(concat!("fluxq/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The domain of BFL's documented regional polling hosts (`api.eu.bfl.ai`, …).
const BFL_DOMAIN: &str = "bfl.ai";

/// Whether the API key configured for `base` may be sent to `target`: exactly the
/// configured origin (scheme, host and port), or, for a BFL base URL, one of BFL's
/// regional polling hosts on `*.bfl.ai` over https on port 443.
pub fn key_allowed(base: &Url, target: &Url) -> bool {
    let same_origin = base.scheme() == target.scheme()
        && base.host() == target.host()
        && base.port_or_known_default() == target.port_or_known_default();
    if same_origin {
        return true;
    }
    let bfl = |u: &Url| match u.host() {
        Some(Host::Domain(d)) => d
            .to_ascii_lowercase()
            .strip_suffix(BFL_DOMAIN)
            .is_some_and(|rest| rest.ends_with('.')),
        _ => false,
    };
    bfl(base)
        && bfl(target)
        && target.scheme() == "https"
        && target.port_or_known_default() == Some(443)
}

/// A transport error (connect, timeout, body) as a transient failure. The URL is
/// left out: it may name hosts, never keys, but the message stays short.
///
/// A request that never left (the connection, DNS or TLS failed: `is_connect`; or
/// it could not be built) is only that; any other error came after the request was
/// sent, so its answer is lost ([`Failure::answer_lost`]): a timeout waiting for
/// it, a reset, a body cut off.
pub fn transport_failure(what: &str, e: reqwest::Error) -> Failure {
    let never_left = e.is_connect() || e.is_builder();
    let kind = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "failed"
    };
    let failure = Failure::transient(format!("{what} {kind}: {}", e.without_url()));
    if never_left {
        failure
    } else {
        failure.with_answer_lost()
    }
}

/// An unsuccessful HTTP response as a classified failure, quoting the start of its body.
pub async fn response_failure(what: &str, resp: reqwest::Response) -> Failure {
    let status = resp.status().as_u16();
    let header_retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let body = super::fetch::read_error_body(resp).await;
    let body_retry = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64));
    let retry_after = body_retry
        .or(header_retry)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)));
    let mut quoted: String = body.chars().take(MAX_QUOTED_BODY).collect();
    if body.len() > quoted.len() {
        quoted.push('…');
    }
    let kind = classify_http_status(status);
    let reason = format!("{what} answered HTTP {status}: {}", quoted.trim());
    Failure::new(kind, reason).with_retry_after(if kind == FailureKind::Throttled {
        retry_after
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[tokio::test]
    async fn a_request_that_never_left_is_told_from_one_whose_answer_was_lost() {
        let client = client(Duration::from_secs(2), 1).unwrap_or_else(|e| panic!("{e}"));
        // Nothing listens: the request never left.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = closed.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/v1/flux-2-pro");
        let e = client.post(&url).send().await.err();
        let f = transport_failure("BFL submit", e.unwrap_or_else(|| panic!("sent")));
        assert!(!f.answer_lost, "{}", f.reason);
        // A server that reads the request and closes without answering: sent, lost.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
            }
        });
        let e = client
            .post(format!("http://{addr}/v1/flux-2-pro"))
            .body("{}")
            .send()
            .await
            .err();
        let f = transport_failure("BFL submit", e.unwrap_or_else(|| panic!("answered")));
        assert!(f.answer_lost, "{}", f.reason);
    }

    #[test]
    fn keys_go_only_to_the_provider() {
        let base = u("https://api.bfl.ai");
        assert!(key_allowed(
            &base,
            &u("https://api.bfl.ai/v1/get_result?id=1")
        ));
        assert!(key_allowed(
            &base,
            &u("https://api.eu4.bfl.ai/v1/get_result?id=1")
        ));
        assert!(!key_allowed(
            &base,
            &u("http://api.eu4.bfl.ai/v1/get_result")
        ));
        assert!(!key_allowed(&base, &u("https://bfl.ai.evil.example/")));
        assert!(!key_allowed(&base, &u("https://evilbfl.ai/")));
        assert!(!key_allowed(
            &base,
            &u("https://delivery.example.net/x.jpg")
        ));
        let mock = u("http://127.0.0.1:8089");
        assert!(key_allowed(
            &mock,
            &u("http://127.0.0.1:8089/v1/get_result?id=1")
        ));
        assert!(!key_allowed(
            &mock,
            &u("http://127.0.0.1:9999/v1/get_result?id=1")
        ));
        assert!(!key_allowed(&mock, &u("http://10.0.0.1:8089/")));
        let two_labels = u("https://bfl.ai");
        assert!(!key_allowed(&two_labels, &u("https://x.ai/")));
        assert!(!key_allowed(
            &base,
            &u("https://api.bfl.ai:8443/v1/get_result")
        ));
        assert!(!key_allowed(
            &base,
            &u("https://api.eu.bfl.ai:8443/v1/get_result")
        ));
        assert!(key_allowed(
            &base,
            &u("https://api.eu.bfl.ai:443/v1/get_result")
        ));
        let runware = u("https://api.runware.ai/v1");
        assert!(!key_allowed(&runware, &u("https://im.runware.ai/x")));
        let runflow = u("https://api.runflow.io");
        assert!(key_allowed(
            &runflow,
            &u("https://api.runflow.io/v1/runs/r1")
        ));
        assert!(!key_allowed(
            &runflow,
            &u("https://bucket.s3.amazonaws.com/r1.jpg?X-Amz-Signature=1")
        ));
        assert!(!key_allowed(
            &runflow,
            &u("http://api.runflow.io/v1/runs/r1")
        ));
    }
}
