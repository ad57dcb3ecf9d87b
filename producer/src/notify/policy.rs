//! Where a callback may go: `https` to a public address, or, for hosts the deployment
//! lists in `FLUXQ_CALLBACK_ALLOW_HOSTS`, also plain `http` and internal addresses.
//! A host name is resolved and every address checked before the delivery, and the
//! client connects only to addresses the same check passes ([`PublicOnly`]), so a
//! name that later resolves elsewhere (DNS rebinding) is refused too.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use fluxq_common::addr::is_internal;
use url::{Host, Url};

/// A host (and port, if given) allowed over http and at internal addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

/// The rule callbacks' URLs are held to.
#[derive(Debug, Clone, Default)]
pub struct CallbackPolicy {
    allowed: Arc<Vec<Allowed>>,
}

fn host_text(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(d) => Some(d.to_ascii_lowercase()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(format!("[{ip}]")),
    }
}

impl CallbackPolicy {
    /// Parses `host[:port],…` (IPv6 in brackets).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let url = Url::parse(&format!("http://{entry}"))
                .map_err(|_| format!("{entry:?} is not host or host:port"))?;
            let host = host_text(&url).ok_or_else(|| format!("{entry:?} names no host"))?;
            allowed.push(Allowed {
                host,
                port: url.port(),
            });
        }
        Ok(Self {
            allowed: Arc::new(allowed),
        })
    }

    fn allows(&self, host: &str, port: Option<u16>) -> bool {
        self.allowed
            .iter()
            .any(|a| a.host == host && a.port.is_none_or(|p| Some(p) == port))
    }

    /// The URL to POST to, or why it is refused (stored on the job as the reason).
    pub async fn check(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|e| format!("callback_url is not a URL: {e}"))?;
        let host = host_text(&url).ok_or("callback_url names no host")?;
        let port = url.port_or_known_default();
        let listed = self.allows(&host, port);
        match url.scheme() {
            "https" => {}
            "http" if listed => {}
            s => {
                return Err(format!(
                    "callback_url must be https ({s}: is allowed only to FLUXQ_CALLBACK_ALLOW_HOSTS)"
                ));
            }
        }
        if listed {
            return Ok(url);
        }
        let addrs: Vec<IpAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => tokio::net::lookup_host((host.as_str(), port.unwrap_or(443)))
                .await
                .map_err(|e| format!("callback_url's host {host} does not resolve: {e}"))?
                .map(|a| a.ip())
                .collect(),
        };
        if let Some(ip) = addrs.iter().find(|ip| is_internal(**ip)) {
            return Err(format!(
                "callback_url's host {host} is an internal address ({ip}); only hosts in FLUXQ_CALLBACK_ALLOW_HOSTS may be"
            ));
        }
        Ok(url)
    }

    /// The DNS resolver the delivery client uses: it answers only with public
    /// addresses, except for listed hosts.
    pub fn resolver(&self) -> PublicOnly {
        PublicOnly {
            policy: self.clone(),
        }
    }
}

/// A resolver that refuses names resolving to an internal address (unless listed).
#[derive(Debug, Clone)]
pub struct PublicOnly {
    policy: CallbackPolicy,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let listed = self.policy.allowed.iter().any(|a| a.host == host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !listed && addrs.iter().any(|a| is_internal(a.ip())) {
                return Err(format!("{host} resolves to an internal address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_https_to_public_addresses_unless_listed() {
        let p = CallbackPolicy::parse("127.0.0.1:9999, hooks.internal").unwrap_or_default();
        assert!(p.check("https://8.8.8.8/hook").await.is_ok());
        for (bad, why) in [
            ("http://8.8.8.8/hook", "must be https"),
            ("https://169.254.169.254/latest", "internal address"),
            ("https://10.0.0.7/hook", "internal address"),
            ("https://[::1]/hook", "internal address"),
            ("https://127.0.0.1:9998/hook", "internal address"),
            ("https://localhost/hook", "internal address"),
            ("ftp://8.8.8.8/x", "must be https"),
        ] {
            let e = p.check(bad).await.err().unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(
            p.check("http://127.0.0.1:9999/hook").await.is_ok(),
            "listed with its port"
        );
        assert!(
            p.check("http://hooks.internal/x").await.is_ok(),
            "listed, any port"
        );
        assert!(p.check("http://hooks.internal:81/x").await.is_ok());
        assert!(CallbackPolicy::parse("not a host:port:x").is_err());
    }
}
