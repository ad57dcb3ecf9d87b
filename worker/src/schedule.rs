//! When to poll a provider task: near its expected end learned from recent tasks,
//! then from its `progress` (see [`EndBracket`]); without either, start near 0.5 s
//! and back off to a few seconds, with jitter (the provider's own advice), within a
//! per-job deadline.

use std::time::Duration;

use fluxq_common::{Model, ProviderKind};
use rand::Rng;

/// The polling schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSchedule {
    /// Wait before the first poll.
    pub initial: Duration,
    /// Growth per poll.
    pub factor: f64,
    /// Longest wait between polls.
    pub max: Duration,
    /// Relative jitter: each wait is scaled by a factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for PollSchedule {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            factor: 1.5,
            max: Duration::from_secs(3),
            jitter: 0.2,
        }
    }
}

impl PollSchedule {
    /// The wait before poll number `n` (0 = the first poll after submitting).
    pub fn wait<R: Rng + ?Sized>(&self, n: u32, rng: &mut R) -> Duration {
        let base = self.initial.as_secs_f64() * self.factor.max(1.0).powi(n.min(64) as i32);
        let capped = base.min(self.max.as_secs_f64().max(self.initial.as_secs_f64()));
        let j = self.jitter.clamp(0.0, 0.9);
        let scale = if j > 0.0 {
            rng.random_range(1.0 - j..=1.0 + j)
        } else {
            1.0
        };
        Duration::try_from_secs_f64(capped * scale).unwrap_or(self.max)
    }
}

/// Generation times learned from recent tasks, per provider and model (an
/// exponentially weighted average), to time the first poll near the expected end.
#[derive(Debug, Default)]
pub struct Estimates {
    seconds: std::sync::Mutex<std::collections::HashMap<(ProviderKind, Model), f64>>,
}

impl Estimates {
    /// The expected generation time, once a task of this kind has been seen.
    pub fn expected(&self, provider: ProviderKind, model: Model) -> Option<Duration> {
        let map = self.seconds.lock().ok()?;
        map.get(&(provider, model))
            .and_then(|s| Duration::try_from_secs_f64(*s).ok())
    }

    /// Learns from a task that took `took`.
    pub fn observe(&self, provider: ProviderKind, model: Model, took: Duration) {
        if let Ok(mut map) = self.seconds.lock() {
            let s = took.as_secs_f64();
            map.entry((provider, model))
                .and_modify(|e| *e = 0.8 * *e + 0.2 * s)
                .or_insert(s);
        }
    }
}

/// The step `progress` is reported in: BFL reports whole percents, rounded down.
const PROGRESS_STEP: f64 = 0.01;

/// Bracket halvings by a progress reading per task.
const MAX_HALVINGS: u32 = 3;

/// Readings that disagree with linear progress before the bracket is given up.
const MAX_MISSES: u32 = 2;

/// Where a running task's end lies, in seconds since it was submitted, read from its
/// `progress`.
///
/// Progress that grows linearly and is reported rounded down to [`PROGRESS_STEP`]
/// puts the end of a task that read `p` at `e` seconds in `(e / (p + step), e / p]`;
/// readings intersect, and a poll that finds the task still running at `e` moves the
/// start past `e`. After the first reading the next poll halves the bracket: read at
/// `e* = k * step * m` (`m` the bracket's middle, `k` the largest whole step before
/// its start), a reading of at least `k * step` means the end is at most `m`, less
/// means after it. When no reading can come before the end any more, polls probe
/// the bracket at thirds and then its end, so a task is seen done a few
/// milliseconds after it ends, in about four polls. Readings that contradict the
/// model (progress that is not linear) reset the bracket to the newest one; after
/// [`MAX_MISSES`] of them it is not used and polling follows the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct EndBracket {
    lo: f64,
    hi: f64,
    halvings: u32,
    misses: u32,
    /// The spacing of probes, fixed when probing starts.
    probe: Option<f64>,
}

impl Default for EndBracket {
    fn default() -> Self {
        Self {
            lo: 0.0,
            hi: f64::INFINITY,
            halvings: 0,
            misses: 0,
            probe: None,
        }
    }
}

impl EndBracket {
    /// Learns that the task was still running `elapsed` seconds after it was
    /// submitted, at `progress` (0..1) if the provider said.
    pub fn pending(&mut self, elapsed: f64, progress: Option<f64>) {
        let reading = progress
            .filter(|p| p.is_finite() && *p > 0.0 && *p < 1.0)
            .map(|p| (elapsed / (p + PROGRESS_STEP), elapsed / p));
        let (r_lo, r_hi) = reading.unwrap_or((0.0, f64::INFINITY));
        let lo = self.lo.max(r_lo).max(elapsed);
        let hi = self.hi.min(r_hi);
        if lo <= hi {
            (self.lo, self.hi) = (lo, hi);
        } else {
            self.misses += 1;
            self.halvings = 0;
            self.probe = None;
            (self.lo, self.hi) = (r_lo.max(elapsed), r_hi.max(elapsed));
        }
    }

    /// The bracket `(earliest, latest)` end, once progress gave one.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        (self.hi.is_finite() && self.misses <= MAX_MISSES).then_some((self.lo, self.hi))
    }

    /// When to poll next, in seconds since submit, given that it is `now`: halve the
    /// bracket with a reading, else probe it, until it is `precision` wide; then just
    /// past its end, `margin` on for clock error. `None`: no usable bracket, follow
    /// the schedule.
    pub fn next_poll(&mut self, now: f64, precision: f64, margin: f64) -> Option<f64> {
        let (lo, hi) = self.bounds()?;
        let width = hi - lo;
        if width > precision {
            if self.halvings < MAX_HALVINGS && self.probe.is_none() {
                let m = (lo + hi) / 2.0;
                let k = (lo / m / PROGRESS_STEP).floor().min(99.0);
                let at = k * PROGRESS_STEP * m;
                if k >= 1.0 && at > now {
                    self.halvings += 1;
                    return Some(at);
                }
            }
            let step = *self.probe.get_or_insert((width / 3.0).max(precision));
            if lo + step < hi {
                return Some((lo + step).max(now));
            }
        }
        Some((hi + margin).max(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn waits_start_short_grow_and_stay_capped() {
        let s = PollSchedule::default();
        let mut rng = StdRng::seed_from_u64(3);
        for n in 0..50 {
            let w = s.wait(n, &mut rng);
            let nominal = (0.5 * 1.5f64.powi(n as i32)).min(3.0);
            assert!(
                w.as_secs_f64() >= nominal * 0.8 - 1e-9 && w.as_secs_f64() <= nominal * 1.2 + 1e-9,
                "{n}: {w:?}"
            );
        }
    }

    /// A task that reports linear progress rounded down to whole percents, polled by
    /// the bracket from a first poll at `first` seconds: (polls, seconds late).
    fn polls_until_done(total: f64, first: f64) -> (u32, f64) {
        let mut b = EndBracket::default();
        let mut at = first;
        for polls in 1..=20 {
            if at >= total {
                return (polls, at - total);
            }
            let progress = ((at / total) * 100.0).floor().min(99.0) / 100.0;
            b.pending(at, Some(progress));
            let next = b.next_poll(at, 0.012, 0.003).unwrap_or(at + 0.5);
            assert!(next >= at, "{next} before {at}");
            at = next;
        }
        panic!("task of {total} s not seen done in 20 polls");
    }

    #[test]
    fn the_bracket_sees_a_task_done_within_milliseconds_in_few_polls() {
        let mut rng = StdRng::seed_from_u64(7);
        let (mut polls, mut late) = (0u32, 0.0f64);
        for _ in 0..2_000 {
            let total = rng.random_range(4.0..6.0);
            let (p, l) = polls_until_done(total, 3.5);
            assert!(p <= 6, "{total}: {p} polls");
            assert!(l <= 0.02, "{total}: seen {l} s late");
            polls += p;
            late += l;
        }
        let (mean_polls, mean_late) = (f64::from(polls) / 2_000.0, late / 2_000.0);
        assert!(mean_polls <= 4.5, "{mean_polls}");
        assert!(mean_late <= 0.01, "{mean_late}");
    }

    #[test]
    fn contradicting_readings_reset_the_bracket_and_then_give_it_up() {
        let mut b = EndBracket::default();
        assert_eq!(b.next_poll(0.0, 0.012, 0.0), None, "nothing known yet");
        b.pending(2.0, Some(0.5));
        let (lo, hi) = b.bounds().unwrap_or_default();
        assert!((hi - 4.0).abs() < 1e-9 && (lo - 2.0 / 0.51).abs() < 1e-9);
        // Still running at 5 s: not linear; the newest reading stands.
        b.pending(5.0, Some(0.6));
        let (lo, hi) = b.bounds().unwrap_or_default();
        assert!((hi - 5.0 / 0.6).abs() < 1e-9 && (lo - 5.0 / 0.61).abs() < 1e-9);
        b.pending(9.0, Some(0.7));
        b.pending(13.0, Some(0.75));
        assert_eq!(b.bounds(), None, "three misses: back to the schedule");
        // A reading without progress only moves the start.
        let mut c = EndBracket::default();
        c.pending(1.0, None);
        assert_eq!(c.bounds(), None);
    }

    #[test]
    fn estimates_learn_a_moving_average() {
        let e = Estimates::default();
        assert_eq!(e.expected(ProviderKind::Bfl, Model::Flux2Pro), None);
        e.observe(ProviderKind::Bfl, Model::Flux2Pro, Duration::from_secs(5));
        e.observe(ProviderKind::Bfl, Model::Flux2Pro, Duration::from_secs(10));
        assert_eq!(
            e.expected(ProviderKind::Bfl, Model::Flux2Pro),
            Some(Duration::from_secs(6))
        );
        assert_eq!(e.expected(ProviderKind::Bfl, Model::Flux2Flex), None);
    }
}
