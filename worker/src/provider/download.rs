//! Downloading an image from a provider's delivery URL: only from the hosts expected
//! (the provider's own, or `FLUXQ_DOWNLOAD_HOSTS`), over https unless the provider
//! itself is plain http, never to a private address the provider does not live on,
//! at most `FLUXQ_MAX_IMAGE_BYTES`, and only bytes that are the image format claimed.

use std::net::IpAddr;

use fluxq_common::addr::is_internal;
use fluxq_common::{Failure, FailureKind, OutputFormat};
use url::{Host, Url};

use super::Image;
use super::fetch::{Http, TooLarge, read_capped};
use super::http::{response_failure, transport_failure};

/// The URL without its query (signatures) and fragment, for failure reasons.
fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// Whether `host` is `pattern`: an exact host, or `*.domain` for any subdomain.
fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => !pattern.is_empty() && host == pattern,
    }
}

/// Why an image URL is not fetched, if it is not: the scheme, the host and the
/// address are checked against the provider's base URL and `allowed` hosts.
pub fn refuse_url(base: &Url, url: &Url, allowed: &[String]) -> Option<String> {
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => base.scheme() == "http",
        _ => false,
    };
    if !scheme_ok {
        return Some(format!(
            "provider returned an image URL with a scheme that is not allowed: {}",
            shown(url)
        ));
    }
    let same_host = url.host() == base.host();
    let allowed_host = match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            same_host || allowed.iter().any(|p| host_matches(p, &d))
        }
        Some(Host::Ipv4(ip)) => {
            same_host
                || !is_internal(IpAddr::V4(ip))
                    && allowed.iter().any(|p| host_matches(p, &ip.to_string()))
        }
        Some(Host::Ipv6(ip)) => {
            same_host
                || !is_internal(IpAddr::V6(ip))
                    && allowed.iter().any(|p| host_matches(p, &format!("[{ip}]")))
        }
        None => false,
    };
    (!allowed_host).then(|| {
        format!(
            "provider returned an image URL outside the allowed hosts: {}",
            shown(url)
        )
    })
}

/// Whether `bytes` start with the magic bytes of `format`.
pub fn has_magic(format: OutputFormat, bytes: &[u8]) -> bool {
    match format {
        OutputFormat::Jpeg => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        OutputFormat::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        OutputFormat::Webp => {
            bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
        }
    }
}

/// Downloads an image from a provider's delivery URL, without any API key. A URL
/// from an unexpected place, an image over the cap or bytes that are not the format
/// claimed are permanent failures (asking again gives the same answer); an HTTP or
/// transport error is transient (an expired or refused URL is not the job's fault).
pub async fn download_image(
    http: &Http,
    base: &Url,
    url: &str,
    expected: OutputFormat,
) -> Result<Image, Failure> {
    let url =
        Url::parse(url).map_err(|e| Failure::permanent(format!("image URL is not a URL: {e}")))?;
    if let Some(reason) = refuse_url(base, &url, &http.download_hosts) {
        return Err(Failure::permanent(reason));
    }
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| transport_failure("image download", e))?;
    if !resp.status().is_success() {
        let mut f = response_failure("image download", resp).await;
        f.kind = FailureKind::Transient;
        return Err(f);
    }
    let format = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(OutputFormat::from_content_type)
        .unwrap_or(expected);
    let bytes = match read_capped(resp, http.max_image_bytes, "image download").await? {
        Ok(bytes) => bytes,
        Err(TooLarge(cap)) => {
            return Err(Failure::permanent(format!(
                "image larger than {cap} bytes (FLUXQ_MAX_IMAGE_BYTES); not downloaded"
            )));
        }
    };
    if bytes.is_empty() {
        return Err(Failure::transient("image download returned no bytes"));
    }
    if !has_magic(format, &bytes) {
        return Err(Failure::permanent(format!(
            "image download is not a {} image (wrong magic bytes)",
            format.as_str()
        )));
    }
    Ok(Image {
        bytes: bytes.into(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn images_come_only_from_expected_places() {
        let hosts: Vec<String> = ["*.bfl.ai", "im.runware.ai"].map(String::from).to_vec();
        let bfl = u("https://api.bfl.ai");
        assert_eq!(
            refuse_url(&bfl, &u("https://delivery-eu.bfl.ai/x.jpg?sig=1"), &hosts),
            None
        );
        assert_eq!(
            refuse_url(&bfl, &u("https://im.runware.ai/x.jpg"), &hosts),
            None
        );
        for bad in [
            "http://delivery-eu.bfl.ai/x.jpg",
            "https://evil.example/x.jpg",
            "https://bfl.ai.evil.example/x.jpg",
            "http://169.254.169.254/latest/meta-data/",
            "https://127.0.0.1/x.jpg",
            "https://[::1]/x.jpg",
            "https://10.0.0.1/x.jpg",
            "file:///etc/passwd",
        ] {
            let r = refuse_url(&bfl, &u(bad), &hosts);
            assert!(r.is_some(), "{bad} should be refused");
        }
        let r = refuse_url(&bfl, &u("https://evil.example/x.jpg?sig=secret"), &hosts)
            .unwrap_or_default();
        assert_eq!(
            r,
            "provider returned an image URL outside the allowed hosts: https://evil.example/x.jpg"
        );
        let mock = u("http://127.0.0.1:8089");
        assert_eq!(
            refuse_url(&mock, &u("http://127.0.0.1:8089/_mock/images/1"), &hosts),
            None
        );
        assert!(refuse_url(&mock, &u("http://169.254.169.254/"), &hosts).is_some());
    }

    #[test]
    fn magic_bytes_are_checked() {
        assert!(has_magic(OutputFormat::Jpeg, &[0xff, 0xd8, 0xff, 0xe0]));
        assert!(!has_magic(OutputFormat::Jpeg, b"<html>"));
        assert!(has_magic(OutputFormat::Png, b"\x89PNG\r\n\x1a\n...."));
        assert!(has_magic(OutputFormat::Webp, b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(!has_magic(OutputFormat::Webp, b"RIFF\0\0\0\0WAVE"));
    }
}
