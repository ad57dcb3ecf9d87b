//! The hand-out policy inside one process ([`Local`]): which job waiting here gets a
//! slot, and when a slot goes back to the fleet instead. Pure: no Redis, no clock.
//!
//! Waiting `interactive` jobs are served before `bulk` ones, `weight` to 1 when both
//! wait (so bulk is never starved); bulk gets nothing while another worker has
//! interactive jobs waiting. While other workers wait too, a slot given back here goes
//! to a bulk job only within this worker's fair share; slots the fleet just granted
//! were already measured against it.

use std::collections::{HashSet, VecDeque};

use fluxq_common::Lane;
use tokio::sync::oneshot;

use super::PoolClosed;

/// What one round with the fleet answered (`slots_acquire.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Round {
    /// How many of the members asked for the fleet granted (the first ones).
    pub granted: usize,
    /// This worker's fair share of the effective limit while others wait, x 1000.
    pub share_milli: u64,
    /// Other workers have jobs waiting for slots.
    pub others_waiting: bool,
    /// Another worker has interactive jobs waiting.
    pub fleet_interactive: bool,
    /// The fleet's effective limit is below the maximum (after 429s).
    pub below_max: bool,
}

/// The slots this process holds, the jobs waiting for one, and what the fleet last
/// said about everyone else.
#[derive(Debug)]
pub(super) struct Local {
    worker_id: String,
    /// Interactive slots handed out per bulk slot when both lanes wait.
    weight: u32,
    in_use: HashSet<String>,
    /// Waiting jobs: [interactive, bulk].
    waiters: [VecDeque<oneshot::Sender<String>>; 2],
    interactive_streak: u32,
    /// Slots nobody here may keep, for the next round to give back to the fleet.
    to_release: Vec<String>,
    seq: u64,
    /// Another worker has interactive jobs waiting.
    fleet_interactive: bool,
    /// Another worker has jobs waiting for slots.
    others_waiting: bool,
    /// This worker's fair share of the effective limit while others wait, x 1000.
    share_milli: u64,
    /// The fleet's effective limit is below the maximum (after 429s), so accepted
    /// submits are reported to grow it back; at the maximum they need not be.
    below_max: bool,
    /// A 429 started the fleet's cool-down: slots given back here go to the fleet,
    /// which grants none until it ends, rather than straight to jobs waiting here.
    cooling: bool,
    closed: bool,
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Interactive => 0,
        Lane::Bulk => 1,
    }
}

impl Local {
    pub(super) fn new(worker_id: &str, weight: u32) -> Self {
        Self {
            worker_id: worker_id.to_owned(),
            weight,
            in_use: HashSet::new(),
            waiters: Default::default(),
            interactive_streak: 0,
            to_release: Vec::new(),
            seq: 0,
            fleet_interactive: false,
            others_waiting: false,
            share_milli: 0,
            below_max: false,
            cooling: false,
            closed: false,
        }
    }

    /// A new slot member, unique to this worker: `{worker id}:{sequence}`.
    fn member(&mut self) -> String {
        self.seq += 1;
        format!("{}:{}", self.worker_id, self.seq)
    }

    /// Queues a job of `lane`; the receiver gets its slot.
    pub(super) fn wait(&mut self, lane: Lane) -> Result<oneshot::Receiver<String>, PoolClosed> {
        if self.closed {
            return Err(PoolClosed);
        }
        let (tx, rx) = oneshot::channel();
        self.waiters[lane_index(lane)].push_back(tx);
        Ok(rx)
    }

    /// Holds a new slot at once, whatever the limit (a task already at the provider).
    pub(super) fn hold_new(&mut self) -> String {
        let m = self.member();
        self.in_use.insert(m.clone());
        m
    }

    /// New members to ask the fleet for.
    pub(super) fn new_members(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.member()).collect()
    }

    /// A job gave `member` back: it goes to a job waiting here if the policy allows,
    /// else to the fleet next round. `true` if it is left for the fleet.
    /// During a cool-down every slot given back is left for the fleet.
    pub(super) fn give_back(&mut self, member: String) -> bool {
        self.in_use.remove(&member);
        let left = if self.cooling {
            Some(member)
        } else {
            self.hand_out(member, false)
        };
        match left {
            Some(left) => {
                self.to_release.push(left);
                true
            }
            None => false,
        }
    }

    /// Applies a round's answer: the first `round.granted` of `members` go to the jobs
    /// waiting here (any left over back to the fleet). `wanted`: jobs that waited here
    /// when the round was asked.
    pub(super) fn granted(&mut self, round: &Round, members: Vec<String>, wanted: usize) {
        self.fleet_interactive = round.fleet_interactive;
        self.share_milli = round.share_milli;
        self.others_waiting = round.others_waiting && wanted > 0;
        self.below_max = round.below_max;
        if round.granted > 0 {
            // The fleet grants again: its cool-down is over.
            self.cooling = false;
        }
        for m in members.into_iter().take(round.granted) {
            if let Some(left) = self.hand_out(m, true) {
                self.to_release.push(left);
            }
        }
    }

    /// A round with nothing to give back, announce or ask for: nobody waits here, so
    /// nobody here competes with other workers.
    pub(super) fn idle(&mut self) {
        self.others_waiting = false;
    }

    /// Gives `member` to the next waiter by lane policy; returns it if nobody takes it.
    /// `granted`: the fleet just granted it for the jobs waiting here (within this
    /// worker's share); otherwise it is one given back here, which a bulk job keeps
    /// only within the share.
    fn hand_out(&mut self, mut member: String, granted: bool) -> Option<String> {
        loop {
            let bulk_ok = granted || !self.others_waiting || self.within_share();
            let Some(lane) = self.pick_lane(bulk_ok) else {
                return Some(member);
            };
            let Some(tx) = self.waiters[lane].pop_front() else {
                return Some(member);
            };
            self.in_use.insert(member.clone());
            match tx.send(member) {
                Ok(()) => return None,
                Err(m) => {
                    self.in_use.remove(&m);
                    member = m;
                }
            }
        }
    }

    /// Whether one more slot here stays within this worker's fair share (rounded down).
    fn within_share(&self) -> bool {
        (self.in_use.len() as u64 + 1) * 1000 <= self.share_milli
    }

    /// Which lane's waiter gets the next slot: interactive first, but a bulk waiter
    /// after `weight` interactive ones in a row; bulk not at all while another worker
    /// has interactive jobs waiting (the slot goes back to Redis for them), nor unless
    /// `bulk_ok` (the slot is within this worker's share).
    fn pick_lane(&mut self, bulk_ok: bool) -> Option<usize> {
        let (i, b) = (
            !self.waiters[0].is_empty(),
            !self.waiters[1].is_empty() && bulk_ok,
        );
        let lane = match (i, b) {
            (true, true) if self.interactive_streak >= self.weight => 1,
            (true, _) => 0,
            (false, true) if !self.fleet_interactive => 1,
            _ => return None,
        };
        self.interactive_streak = if lane == 0 {
            self.interactive_streak + 1
        } else {
            0
        };
        Some(lane)
    }

    /// Forgets the jobs that stopped waiting; returns how many still wait.
    pub(super) fn prune(&mut self) -> usize {
        for q in &mut self.waiters {
            q.retain(|tx| !tx.is_closed());
        }
        self.waiters.iter().map(VecDeque::len).sum()
    }

    /// Jobs waiting now: [interactive, bulk].
    pub(super) fn waiting(&self) -> [usize; 2] {
        [self.waiters[0].len(), self.waiters[1].len()]
    }

    /// Slots in use here.
    pub(super) fn held(&self) -> usize {
        self.in_use.len()
    }

    /// The members of the slots in use here.
    pub(super) fn held_members(&self) -> Vec<String> {
        self.in_use.iter().cloned().collect()
    }

    /// The slots to give back to the fleet this round.
    pub(super) fn take_release(&mut self) -> Vec<String> {
        std::mem::take(&mut self.to_release)
    }

    /// Slots a failed round could not give back: the next round does.
    pub(super) fn release_later(&mut self, members: Vec<String>) {
        self.to_release.extend(members);
    }

    pub(super) fn below_max(&self) -> bool {
        self.below_max
    }

    pub(super) fn set_below_max(&mut self, below: bool) {
        self.below_max = below;
    }

    /// The provider throttled a submit: slots go through the fleet (and its
    /// cool-down) until it grants one again.
    pub(super) fn cool_down(&mut self) {
        self.cooling = true;
    }

    /// Closes the pool: waiting jobs get [`PoolClosed`], and every slot held or queued
    /// for release is returned, for the fleet.
    pub(super) fn close(&mut self) -> Vec<String> {
        self.closed = true;
        self.waiters = Default::default();
        let mut all: Vec<String> = self.in_use.drain().collect();
        all.append(&mut self.to_release);
        all
    }
}

#[cfg(test)]
mod tests;
