//! The job message parser and validator on arbitrary bytes, as a worker reads a
//! delivery and `producer submit` reads a line: parsing, validating for every
//! provider, and reading the id and batch of a body that is not a job never panic;
//! a message that parses serialises to a body that parses to the same message.
#![no_main]

use fluxq_common::job::{readable_batch, readable_id};
use fluxq_common::{JobMessage, ProviderKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match JobMessage::from_json(body) {
        Ok(msg) => {
            // Every provider a job may name (add a new one here).
            for provider in [ProviderKind::Bfl, ProviderKind::Runware] {
                if let Ok(spec) = msg.validate(provider) {
                    assert_eq!(spec.id, msg.id);
                    assert!(spec.width > 0 && spec.height > 0);
                }
            }
            let again = serde_json::to_vec(&msg).expect("a parsed message serialises");
            let back = JobMessage::from_json(&again).expect("a serialised message parses");
            assert_eq!(back.fingerprint(), msg.fingerprint());
        }
        Err(e) => {
            assert!(!e.rule.is_empty());
            let _ = (readable_id(body), readable_batch(body));
        }
    }
});
