//! The hand-out policy's rules, one test each, without Redis.

use super::*;

fn waiters(l: &mut Local, i: usize, b: usize) -> Vec<oneshot::Receiver<String>> {
    let mut rx = Vec::new();
    for (lane, n) in [(Lane::Interactive, i), (Lane::Bulk, b)] {
        for _ in 0..n {
            rx.push(l.wait(lane).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    rx
}

fn round(granted: usize) -> Round {
    Round {
        granted,
        share_milli: u64::MAX,
        others_waiting: false,
        fleet_interactive: false,
        below_max: false,
    }
}

#[test]
fn interactive_first_but_bulk_every_fifth_slot() {
    let mut l = Local::new("w", 4);
    let _rx = waiters(&mut l, 20, 20);
    let picks: Vec<usize> = (0..10).filter_map(|_| l.pick_lane(true)).collect();
    assert_eq!(picks, [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
}

#[test]
fn a_slot_nobody_here_waits_for_goes_back_to_the_fleet() {
    let mut l = Local::new("w", 4);
    assert_eq!(
        l.hand_out("m1".into(), false),
        Some("m1".to_owned()),
        "no waiter: returned"
    );
    let mut rx = l.wait(Lane::Bulk).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.hand_out("m2".into(), false), None, "taken by the waiter");
    assert_eq!(rx.try_recv().ok().as_deref(), Some("m2"));
    assert_eq!(l.held_members(), ["m2"]);
    assert!(l.give_back("m2".into()), "nobody waits: left for the fleet");
    assert_eq!((l.held(), l.take_release()), (0, vec!["m2".to_owned()]));
}

#[test]
fn bulk_yields_to_interactive_jobs_elsewhere_in_the_fleet() {
    let mut l = Local::new("w", 4);
    let _rx = waiters(&mut l, 0, 3);
    assert_eq!(l.pick_lane(true), Some(1));
    l.fleet_interactive = true;
    assert_eq!(l.pick_lane(true), None);
    let mut empty = Local::new("w", 4);
    assert_eq!(empty.pick_lane(true), None);
}

#[test]
fn a_given_back_slot_over_the_share_goes_to_the_others_but_a_granted_one_stays() {
    let mut l = Local::new("w", 4);
    let held = l.hold_new();
    let mut rx = waiters(&mut l, 0, 2);
    // Another worker waits too; this one's share is one slot, which it holds.
    let others = Round {
        share_milli: 1000,
        others_waiting: true,
        ..round(0)
    };
    l.granted(&others, Vec::new(), 2);
    assert_eq!(l.hand_out("back".into(), false), Some("back".to_owned()));
    assert_eq!(l.hand_out("granted".into(), true), None);
    assert_eq!(rx[0].try_recv().ok().as_deref(), Some("granted"));
    // With a share of three slots, a given-back slot stays here.
    l.granted(
        &Round {
            share_milli: 3000,
            ..others
        },
        Vec::new(),
        1,
    );
    assert!(!l.give_back(held), "kept for the bulk job still waiting");
    assert_eq!(rx[1].try_recv().ok().as_deref(), Some("w:1"));
}

#[test]
fn granted_slots_skip_jobs_that_stopped_waiting_and_leftovers_go_back() {
    let mut l = Local::new("w", 4);
    let mut rx = waiters(&mut l, 2, 0);
    drop(rx.remove(0));
    let members = l.new_members(3);
    assert_eq!(members, ["w:1", "w:2", "w:3"]);
    l.granted(&round(2), members, 2);
    assert_eq!(rx[0].try_recv().ok().as_deref(), Some("w:1"));
    assert_eq!(
        l.take_release(),
        ["w:2"],
        "granted but nobody left to take it"
    );
    assert_eq!((l.held(), l.prune()), (1, 0));
}

#[test]
fn closing_fails_the_waiters_and_returns_every_slot() {
    let mut l = Local::new("w", 4);
    let running = l.hold_new();
    let mut rx = waiters(&mut l, 1, 0);
    l.release_later(vec!["old".into()]);
    let mut all = l.close();
    all.sort();
    assert_eq!(all, ["old".to_owned(), running]);
    assert!(rx[0].try_recv().is_err(), "the waiter is told");
    assert_eq!(l.wait(Lane::Bulk).err(), Some(PoolClosed));
    assert_eq!(l.waiting(), [0, 0]);
}

#[test]
fn during_a_cool_down_slots_given_back_wait_for_the_fleet() {
    let mut l = Local::new("w", 4);
    let mut rx = waiters(&mut l, 0, 2);
    l.granted(&round(1), vec!["m1".into()], 2);
    assert_eq!(rx[0].try_recv().ok().as_deref(), Some("m1"));
    l.cool_down();
    assert!(
        l.give_back("m1".into()),
        "left for the fleet, not handed out"
    );
    assert!(rx[1].try_recv().is_err(), "the waiter here got nothing");
    assert_eq!(l.take_release(), ["m1"]);
    // The fleet grants again: the cool-down is over, slots are handed out here.
    l.granted(&round(1), vec!["m2".into()], 1);
    assert_eq!(rx[1].try_recv().ok().as_deref(), Some("m2"));
    let mut more = waiters(&mut l, 0, 1);
    assert!(!l.give_back("m2".into()), "handed to the waiter here");
    assert_eq!(more[0].try_recv().ok().as_deref(), Some("m2"));
}
