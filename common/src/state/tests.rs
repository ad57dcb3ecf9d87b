//! The full table of (status, event) outcomes, the lease each event's script uses,
//! and a property test of the counters over random event sequences.

use std::collections::HashSet;

use proptest::prelude::*;

use super::{InvalidTransition, JobEvent as E, JobStatus as S, LeaseUse};

const NO: Option<S> = None;
const QUEUED: Option<S> = Some(S::Queued);
const RUNNING: Option<S> = Some(S::Running);
const RETRYING: Option<S> = Some(S::Retrying);
const SUCCEEDED: Option<S> = Some(S::Succeeded);
const FAILED: Option<S> = Some(S::Failed);
const MODERATED: Option<S> = Some(S::Moderated);
const CANCELLED: Option<S> = Some(S::Cancelled);

/// The columns of [`TABLE`], in this order.
const EVENTS: [E; 13] = [
    E::Create,
    E::Start,
    E::Attempt,
    E::Task,
    E::ResultCharge,
    E::Retry,
    E::Succeed,
    E::Fail,
    E::Moderate,
    E::Reject,
    E::Reopen,
    E::Cancel,
    E::Resume,
];

/// What each script does to each status: the status after, or `NO` if it refuses.
#[rustfmt::skip]
const TABLE: [(S, [Option<S>; 13]); 7] = [
    //            Create Start    Attempt    Task       ResultCharge Retry     Succeed    Fail    Moderate   Reject  Reopen  Cancel     Resume
    (S::Queued,    [NO, RUNNING, QUEUED,    QUEUED,    QUEUED,    RETRYING, SUCCEEDED, FAILED, MODERATED, NO,     NO,     CANCELLED, NO]),
    (S::Running,   [NO, RUNNING, RUNNING,   RUNNING,   RUNNING,   RETRYING, SUCCEEDED, FAILED, MODERATED, NO,     NO,     CANCELLED, NO]),
    (S::Retrying,  [NO, RUNNING, RETRYING,  RETRYING,  RETRYING,  RETRYING, SUCCEEDED, FAILED, MODERATED, NO,     NO,     CANCELLED, NO]),
    (S::Succeeded, [NO, NO,      NO,        SUCCEEDED, NO,        NO,       NO,        NO,     NO,        NO,     NO,     NO,        NO]),
    (S::Failed,    [NO, NO,      NO,        FAILED,    NO,        NO,       NO,        NO,     NO,        NO,     QUEUED, NO,        NO]),
    (S::Moderated, [NO, NO,      NO,        MODERATED, NO,        NO,       NO,        NO,     NO,        NO,     NO,     NO,        NO]),
    (S::Cancelled, [NO, NO,      NO,        CANCELLED, NO,        NO,       NO,        NO,     NO,        NO,     NO,     NO,        QUEUED]),
];

#[test]
fn every_status_and_event_has_the_outcome_of_its_script() {
    assert_eq!(EVENTS, E::ALL, "the table's columns are JobEvent::ALL");
    let statuses: Vec<S> = TABLE.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, S::ALL, "the table's rows are JobStatus::ALL");
    for (from, row) in TABLE {
        for (event, expected) in EVENTS.into_iter().zip(row) {
            let got = from.apply(event);
            match expected {
                Some(to) => assert_eq!(got, Ok(to), "{from} + {event:?}"),
                None => assert_eq!(
                    got,
                    Err(InvalidTransition { from, event }),
                    "{from} + {event:?}"
                ),
            }
        }
    }
}

#[test]
fn every_event_is_listed_once() {
    let unique: HashSet<E> = E::ALL.into_iter().collect();
    assert_eq!(unique.len(), E::ALL.len());
    // Fails to compile when an event is added, so ALL and the table are extended too.
    let column = |e: E| match e {
        E::Create => 0,
        E::Start => 1,
        E::Attempt => 2,
        E::Task => 3,
        E::ResultCharge => 4,
        E::Retry => 5,
        E::Succeed => 6,
        E::Fail => 7,
        E::Moderate => 8,
        E::Reject => 9,
        E::Reopen => 10,
        E::Cancel => 11,
        E::Resume => 12,
    };
    for (i, e) in E::ALL.into_iter().enumerate() {
        assert_eq!(column(e), i, "{e:?}");
    }
}

#[test]
fn only_create_start_and_reject_make_a_record() {
    for event in E::ALL {
        let expected = match event {
            E::Create => QUEUED,
            E::Start => RUNNING,
            E::Reject => FAILED,
            _ => NO,
        };
        assert_eq!(S::on_new_record(event), expected, "{event:?}");
    }
}

#[test]
fn each_event_uses_the_lease_as_its_script_does() {
    for event in E::ALL {
        let expected = match event {
            E::Create | E::Task | E::ResultCharge | E::Reopen | E::Resume => LeaseUse::Ignores,
            E::Start | E::Attempt => LeaseUse::Takes,
            E::Retry | E::Succeed | E::Fail | E::Moderate => LeaseUse::Frees,
            E::Reject => LeaseUse::NeedsNone,
            E::Cancel => LeaseUse::Overrides,
        };
        assert_eq!(event.lease(), expected, "{event:?}");
    }
}

#[test]
fn a_refusal_names_the_status_and_the_event() {
    let e = S::Succeeded.apply(E::Start).err().map(|e| e.to_string());
    assert_eq!(e.as_deref(), Some("a succeeded job cannot Start"));
}

#[test]
fn names_round_trip() {
    for s in S::ALL {
        assert_eq!(S::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{s}\"")));
    }
    assert_eq!(S::parse("done"), None);
}

proptest! {
    /// Whatever happens, a job's batch counts it as final at most once: entries into
    /// a final status minus reopens is 1 if it is final now, else 0.
    #[test]
    fn a_job_is_counted_final_once(
        first in proptest::sample::select(vec![E::Create, E::Start, E::Reject]),
        events in proptest::collection::vec(proptest::sample::select(E::ALL.to_vec()), 0..40),
    ) {
        let mut status = S::on_new_record(first)
            .ok_or_else(|| TestCaseError::fail(format!("{first:?} makes no record")))?;
        let mut finals = i64::from(status.is_final());
        for event in events {
            let Ok(next) = status.apply(event) else { continue };
            if next.is_final() && !status.is_final() {
                finals += 1;
            }
            if event == E::Reopen || event == E::Resume {
                prop_assert!(status.is_final() && next == S::Queued);
                finals -= 1;
            }
            if status.is_final() && event != E::Reopen && event != E::Resume {
                prop_assert_eq!(next, status, "a final status moves only by Reopen or Resume");
            }
            status = next;
        }
        prop_assert_eq!(finals, i64::from(status.is_final()));
    }
}
