//! The signature of a completion callback: `X-Fluxq-Signature: t=<unix>,v1=<hex>`,
//! where `<hex>` is the HMAC-SHA256, keyed with `FLUXQ_CALLBACK_SECRET`, of
//! `"<t>.<body>"`. The receiver recomputes it over the raw body and compares in
//! constant time; `t` lets it refuse old (replayed) deliveries.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header a callback's signature travels in.
pub const HEADER: &str = "X-Fluxq-Signature";

fn mac(secret: &[u8], t: u64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length (a long one is hashed): this never fails, and
    // an empty MAC would only ever fail to verify.
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        return Vec::new();
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// The header's value for `body` sent at Unix time `t`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body)))
}

/// Why a signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the header is not t=<unix>,v1=<hex>")]
    Malformed,
    #[error("the signature is {0} s old (tolerance {1} s)")]
    TooOld(u64, u64),
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks a signature header against the raw `body` at Unix time `now`, refusing one
/// made more than `tolerance` seconds away from it (what a receiver does; the docs
/// show the same in Python and Node).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: u64,
) -> Result<(), VerifyError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => v1.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let age = now.abs_diff(t);
    if age > tolerance {
        return Err(VerifyError::TooOld(age, tolerance));
    }
    let expected = mac(secret, t, body);
    if v1.iter().any(|v| bool::from(v.as_slice().ct_eq(&expected))) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_hmac_sha256_of_t_dot_body() {
        // Computed independently: Python's
        // hmac.new(b"Jefe", b"1700000000.{}", hashlib.sha256).hexdigest().
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, b"{}"),
            "t=1700000000,v1=d3793e2b4103edfbd98cc19591832f5fad701d413db9fcae0ae7dab8184ed207"
        );
    }

    #[test]
    fn verify_accepts_its_own_and_refuses_changes() {
        let s = b"whsec-test";
        let h = signature(s, 1000, b"{\"id\":1}");
        assert_eq!(verify(s, &h, b"{\"id\":1}", 1010, 300), Ok(()));
        assert_eq!(
            verify(s, &h, b"{\"id\":2}", 1010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &h, b"{\"id\":1}", 1010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(s, &h, b"{\"id\":1}", 2000, 300),
            Err(VerifyError::TooOld(1000, 300))
        );
        assert_eq!(verify(s, "v1=00", b"", 0, 300), Err(VerifyError::Malformed));
    }
}
