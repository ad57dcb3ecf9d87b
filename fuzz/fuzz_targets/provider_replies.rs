//! Provider replies on arbitrary bytes: each parser of what a provider answers while a
//! task runs must return (never panic) for any body, and a `Pending` progress it
//! reports is within 0..=1. The first byte picks the parser (and, for Runware, the
//! job's number of images and the HTTP status); the rest is the body.
//!
//! Adding a provider's reply parser is one entry in `PARSERS` and seeds in
//! `fuzz/seeds/provider_replies/`.
#![no_main]

use fluxq_common::{Failure, JobMessage, JobSpec, ProviderKind};
use fluxq_worker::provider::{PollStatus, bfl, runflow, runware};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// The task every reply is about (the seeds use it).
const TASK: Uuid = Uuid::from_u128(0x0b8f3f5e_8a4e_4f0c_9d3e_2b1f6c7a9e10);

type Parser = fn(u8, &[u8]) -> Result<PollStatus, Failure>;

/// Every provider reply parser: (name, parser). `u8` is the selector byte's high bits.
const PARSERS: &[(&str, Parser)] = &[
    ("bfl poll", |_, body| bfl::parse_poll(body, &TASK.to_string())),
    ("runware getResponse", |sel, body| {
        let status = [200, 200, 400, 429, 500, 503, 401, 200][usize::from(sel & 7)];
        let images = if sel & 8 == 0 { 1 } else { 4 };
        runware::parse_poll(status, body, &job(ProviderKind::Runware, images), TASK)
    }),
    ("runflow run", |sel, body| {
        let status = [200, 200, 201, 404, 429, 500, 503, 402][usize::from(sel & 7)];
        runflow::parse_poll(status, body, &job(ProviderKind::Runflow, 1))
    }),
];

fn job(provider: ProviderKind, images: u32) -> JobSpec {
    let mut j = serde_json::json!({
        "id": TASK, "model": "flux-2-pro", "prompt": "fuzz", "provider": provider.as_str(),
    });
    if images > 1 {
        j["number_results"] = images.into();
    }
    let msg: JobMessage = serde_json::from_value(j).expect("a valid job");
    msg.validate(provider).expect("a valid job")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (_, parse) = PARSERS[usize::from(selector) % PARSERS.len()];
    match parse(selector / PARSERS.len() as u8, body) {
        Ok(PollStatus::Pending { progress: Some(p) }) => {
            assert!(p.is_finite() && (0.0..=1.0).contains(&p), "progress {p}");
        }
        Ok(PollStatus::Ready { image_urls, .. }) => assert!(!image_urls.is_empty()),
        _ => {}
    }
});
