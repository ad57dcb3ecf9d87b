//! Every header fluxq puts on a message, with typed reads and writes.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Header: why a message was dead-lettered.
pub const HDR_REASON: &str = "x-fluxq-reason";
/// Header: provider submissions made for the job so far.
pub const HDR_ATTEMPTS: &str = "x-fluxq-attempts";
/// Header: the delay tier a retried message waited in, in milliseconds.
pub const HDR_DELAY_MS: &str = "x-fluxq-delay-ms";
/// Header: when the message was (re)published, in Unix milliseconds.
pub const HDR_PUBLISHED_MS: &str = "x-fluxq-published-ms";
/// Header: the delay tier a retry is routed to (`{ms}ms`, see `Names::delay_tier`).
/// No `x-` prefix: the headers exchange ignores such headers when matching.
pub const HDR_TIER: &str = "fluxq-tier";
/// Header: the lane a dead-lettered message came from.
pub const HDR_LANE: &str = "x-fluxq-lane";

/// Header: when the job was first published, in Unix milliseconds (carried across
/// retries, for the end-to-end duration metric).
pub const HDR_FIRST_PUBLISHED_MS: &str = "x-fluxq-first-published-ms";

/// Header: how often earlier copies of this message came back to their queue
/// unsettled (their `x-delivery-count`), carried over to each fresh copy.
pub const HDR_RETURNS: &str = "x-fluxq-returns";

/// Header set by quorum queues: how often this message came back to the queue
/// unsettled (nacked with requeue, or held by a channel that closed).
pub const HDR_DELIVERY_COUNT: &str = "x-delivery-count";

/// Headers only the broker sets (the delivery count, dead-lettering history): a
/// fresh copy of a message goes without them.
const BROKER_HEADERS: [&str; 8] = [
    HDR_DELIVERY_COUNT,
    "x-death",
    "x-first-death-reason",
    "x-first-death-queue",
    "x-first-death-exchange",
    "x-last-death-reason",
    "x-last-death-queue",
    "x-last-death-exchange",
];

pub(crate) fn str_value(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Adds a string header.
pub fn set_header_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(ShortString::from(key), str_value(value));
}

/// Adds an integer header.
pub fn set_header_int(headers: &mut FieldTable, key: &str, value: i64) {
    headers.insert(ShortString::from(key), AMQPValue::LongLongInt(value));
}

/// Reads an integer header, whatever integer width the publisher used.
pub fn header_int(props: &BasicProperties, key: &str) -> Option<i64> {
    let v = props.headers().as_ref()?.inner().get(key)?.clone();
    match v {
        AMQPValue::LongLongInt(i) => Some(i),
        AMQPValue::LongInt(i) => Some(i.into()),
        AMQPValue::LongUInt(i) => Some(i.into()),
        AMQPValue::ShortInt(i) => Some(i.into()),
        AMQPValue::ShortUInt(i) => Some(i.into()),
        AMQPValue::ShortShortInt(i) => Some(i.into()),
        AMQPValue::ShortShortUInt(i) => Some(i.into()),
        AMQPValue::Timestamp(i) => i64::try_from(i).ok(),
        _ => None,
    }
}

/// Reads a string header.
pub fn header_str(props: &BasicProperties, key: &str) -> Option<String> {
    match props.headers().as_ref()?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// Reads the first publication time of a message: the header kept across retries,
/// else its latest publication (a message never retried).
pub fn first_published_ms(props: &BasicProperties) -> Option<i64> {
    header_int(props, HDR_FIRST_PUBLISHED_MS).or_else(|| header_int(props, HDR_PUBLISHED_MS))
}

/// How often this message came back to its queue unsettled (`x-delivery-count`).
pub fn delivery_count(props: &BasicProperties) -> i64 {
    header_int(props, HDR_DELIVERY_COUNT).unwrap_or(0).max(0)
}

/// How often this message and the copies it was made from came back to their queue
/// unsettled: `x-fluxq-returns` plus `x-delivery-count`.
pub fn returns(props: &BasicProperties) -> i64 {
    header_int(props, HDR_RETURNS)
        .unwrap_or(0)
        .max(0)
        .saturating_add(delivery_count(props))
}

/// Headers of a fresh copy of `original` put back in its lane (a hand-back): its own
/// headers without the broker's, its returns so far carried in `x-fluxq-returns`,
/// and the time of this publication.
pub fn handed_back_headers(original: &BasicProperties) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(h) = original.headers() {
        for (k, v) in h.inner() {
            if !BROKER_HEADERS.contains(&k.as_str()) && k.as_str() != HDR_DELAY_MS {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(first) = first_published_ms(original) {
        set_header_int(&mut headers, HDR_FIRST_PUBLISHED_MS, first);
    }
    set_header_int(&mut headers, HDR_RETURNS, returns(original));
    set_header_int(&mut headers, HDR_PUBLISHED_MS, now_ms());
    headers
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Headers of a retry published to the delay tier `tier` (`{ms}ms`, see
/// `Names::delay_tier`) waiting `delay_ms`: the attempts so far, why, when, and the
/// first publication time and returns so far carried over from `original`.
pub fn retry_headers(
    original: &BasicProperties,
    attempts: i64,
    delay_ms: i64,
    tier: &str,
    reason: &str,
) -> FieldTable {
    let mut headers = FieldTable::default();
    set_header_int(&mut headers, HDR_ATTEMPTS, attempts);
    set_header_int(&mut headers, HDR_DELAY_MS, delay_ms);
    set_header_int(&mut headers, HDR_PUBLISHED_MS, now_ms());
    set_header_str(&mut headers, HDR_REASON, reason);
    if let Some(first) = first_published_ms(original) {
        set_header_int(&mut headers, HDR_FIRST_PUBLISHED_MS, first);
    }
    let returned = returns(original);
    if returned > 0 {
        set_header_int(&mut headers, HDR_RETURNS, returned);
    }
    set_header_str(&mut headers, HDR_TIER, tier);
    headers
}

/// Headers of a dead letter: why, after how many attempts, and from which lane.
pub fn dead_letter_headers(reason: &str, attempts: u32, lane: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    set_header_str(&mut headers, HDR_REASON, reason);
    set_header_int(&mut headers, HDR_ATTEMPTS, i64::from(attempts));
    set_header_str(&mut headers, HDR_LANE, lane);
    set_header_int(&mut headers, HDR_PUBLISHED_MS, now_ms());
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_back_copy_drops_the_brokers_headers_and_keeps_its_returns() {
        let mut h = FieldTable::default();
        set_header_int(&mut h, HDR_DELIVERY_COUNT, 3);
        set_header_int(&mut h, HDR_RETURNS, 10);
        set_header_int(&mut h, HDR_ATTEMPTS, 2);
        set_header_int(&mut h, HDR_PUBLISHED_MS, 1_000);
        set_header_int(&mut h, HDR_DELAY_MS, 500);
        set_header_str(&mut h, "x-first-death-reason", "expired");
        h.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        let props = BasicProperties::default().with_headers(h);
        assert_eq!((delivery_count(&props), returns(&props)), (3, 13));
        let copy = BasicProperties::default().with_headers(handed_back_headers(&props));
        assert_eq!(delivery_count(&copy), 0);
        assert_eq!(returns(&copy), 13);
        assert_eq!(header_int(&copy, HDR_ATTEMPTS), Some(2));
        assert_eq!(header_int(&copy, HDR_FIRST_PUBLISHED_MS), Some(1_000));
        assert_eq!(header_int(&copy, HDR_DELAY_MS), None);
        let keys: Vec<String> = copy
            .headers()
            .as_ref()
            .map(|t| t.inner().keys().map(|k| k.as_str().to_owned()).collect())
            .unwrap_or_default();
        assert!(!keys.iter().any(|k| k.contains("death")), "{keys:?}");
        let retry =
            BasicProperties::default().with_headers(retry_headers(&props, 2, 500, "500ms", "r"));
        assert_eq!(returns(&retry), 13, "a retry carries the returns too");
    }
}
