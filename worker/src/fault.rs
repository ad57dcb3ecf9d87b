//! Test-only fault injection (feature `fault-injection`, which the testkit enables for
//! test builds; never in a release build): a job whose prompt is [`PANIC_ONCE`]
//! panics the first time this process runs it, after it is claimed, so tests can
//! watch a panicking job task settle its delivery.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use fluxq_common::JobSpec;
use uuid::Uuid;

/// The prompt that makes a job's first run panic.
pub const PANIC_ONCE: &str = "fluxq-fault: panic once";

static PANICKED: Mutex<Option<HashSet<Uuid>>> = Mutex::new(None);

/// Panics if `spec` asks for it and has not panicked in this process yet.
pub fn panic_once(spec: &JobSpec) {
    if spec.prompt != PANIC_ONCE {
        return;
    }
    let first = PANICKED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(spec.id);
    if first {
        panic!("injected fault for job {}", spec.id);
    }
}
