//! The retry policy: exponential backoff with full jitter, a cap and a maximum
//! number of attempts; and the fixed delay tiers that RabbitMQ's delay queues use.
//!
//! Pure: the random source is passed in, so every decision is reproducible in tests.

use std::time::Duration;

use rand::Rng;

use crate::failure::{Failure, FailureKind};

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Growth of the ceiling per attempt.
    pub factor: u32,
    /// No delay exceeds this.
    pub cap: Duration,
    /// Provider submissions a job may use before it fails for good.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 2 s base, ×2, 5 min cap, 8 attempts.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            factor: 2,
            cap: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    Retry(Duration),
    /// Stop: the job fails with this reason.
    GiveUp(String),
}

impl RetryPolicy {
    /// The largest delay allowed after the `attempt`-th attempt (1-based):
    /// `min(cap, base × factor^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(63);
        let mult = u64::from(self.factor.max(1)).saturating_pow(exp);
        let ms = (self.base.as_millis() as u64).saturating_mul(mult);
        Duration::from_millis(ms).min(self.cap)
    }

    /// Decides after `attempts` counted attempts have been made and the last one
    /// failed with `failure`. Full jitter: the delay is uniform in `[0, ceiling]`,
    /// raised to the provider's `retry_after` when it gave one (still capped).
    /// A throttled attempt (429) is not counted, so it never exhausts the budget.
    pub fn decide<R: Rng + ?Sized>(
        &self,
        attempts: u32,
        failure: &Failure,
        rng: &mut R,
    ) -> Decision {
        match failure.kind {
            FailureKind::Permanent | FailureKind::Moderated => {
                return Decision::GiveUp(failure.reason.clone());
            }
            FailureKind::Transient | FailureKind::AccountBlocked
                if attempts
                    >= self
                        .max_attempts
                        .min(failure.attempt_cap.unwrap_or(u32::MAX)) =>
            {
                return Decision::GiveUp(format!(
                    "gave up after {attempts} attempts; last error: {}",
                    failure.reason
                ));
            }
            _ => {}
        }
        let ceiling = self.ceiling(attempts.max(1));
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        let delay = match failure.retry_after {
            Some(after) => jittered.max(after).min(self.cap),
            None => jittered,
        };
        Decision::Retry(delay)
    }
}

/// The fixed TTLs of the delay queues: powers of two from the smallest tier up to the
/// cap, plus the cap. A delay is rounded down to a tier, so a retry never waits longer
/// than the policy allows; each queue holds one TTL, so there is no head-of-line blocking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayTiers {
    tiers: Vec<Duration>,
}

/// The smallest delay tier (a shorter base makes a shorter one).
pub const MIN_TIER: Duration = Duration::from_millis(250);

impl DelayTiers {
    pub fn for_policy(policy: &RetryPolicy) -> Self {
        let cap = policy.cap.max(Duration::from_millis(1));
        let mut t = MIN_TIER
            .min(policy.base)
            .min(cap)
            .max(Duration::from_millis(1));
        let mut tiers = Vec::new();
        while t < cap {
            tiers.push(t);
            t *= 2;
        }
        tiers.push(cap);
        Self { tiers }
    }

    /// Every tier, shortest first.
    pub fn all(&self) -> &[Duration] {
        &self.tiers
    }

    /// The longest tier not above `delay` (the shortest tier for anything below it).
    pub fn pick(&self, delay: Duration) -> Duration {
        let mut chosen = self.tiers[0];
        for &t in &self.tiers {
            if t <= delay {
                chosen = t;
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn transient() -> Failure {
        Failure::transient("503 from provider")
    }

    #[test]
    fn default_policy_is_the_documented_one() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_secs(2));
        assert_eq!(p.ceiling(2), Duration::from_secs(4));
        assert_eq!(p.ceiling(8), Duration::from_secs(256));
        assert_eq!(p.ceiling(9), Duration::from_secs(300));
        assert_eq!(p.ceiling(500), Duration::from_secs(300));
        assert_eq!(p.max_attempts, 8);
    }

    #[test]
    fn gives_up_on_permanent_moderated_and_exhaustion() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(matches!(
            p.decide(1, &Failure::permanent("422"), &mut rng),
            Decision::GiveUp(_)
        ));
        let moderated = Failure::new(FailureKind::Moderated, "Content Moderated");
        assert!(matches!(
            p.decide(1, &moderated, &mut rng),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            p.decide(7, &transient(), &mut rng),
            Decision::Retry(_)
        ));
        match p.decide(8, &transient(), &mut rng) {
            Decision::GiveUp(reason) => {
                assert!(reason.contains("8 attempts") && reason.contains("503"))
            }
            other => panic!("expected GiveUp, got {other:?}"),
        }
    }

    #[test]
    fn a_capped_failure_gives_up_at_its_cap() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(3);
        let unknown = Failure::transient("unknown code").with_attempt_cap(3);
        assert!(matches!(
            p.decide(2, &unknown, &mut rng),
            Decision::Retry(_)
        ));
        assert!(matches!(
            p.decide(3, &unknown, &mut rng),
            Decision::GiveUp(r) if r.contains("3 attempts")
        ));
        // A cap above the policy's budget changes nothing.
        let loose = Failure::transient("x").with_attempt_cap(100);
        assert!(matches!(p.decide(8, &loose, &mut rng), Decision::GiveUp(_)));
    }

    #[test]
    fn throttling_never_exhausts_the_budget_and_honours_retry_after() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(2);
        let throttled = Failure::new(FailureKind::Throttled, "429")
            .with_retry_after(Some(Duration::from_secs(5)));
        match p.decide(50, &throttled, &mut rng) {
            Decision::Retry(d) => assert!(d >= Duration::from_secs(5) && d <= p.cap),
            other => panic!("expected Retry, got {other:?}"),
        }
    }

    #[test]
    fn tiers_cover_the_policy() {
        let tiers = DelayTiers::for_policy(&RetryPolicy::default());
        let ms: Vec<u64> = tiers.all().iter().map(|d| d.as_millis() as u64).collect();
        assert_eq!(
            ms,
            [
                250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000
            ]
        );
        assert_eq!(
            tiers.pick(Duration::from_millis(3999)),
            Duration::from_secs(2)
        );
        assert_eq!(
            tiers.pick(Duration::from_millis(10)),
            Duration::from_millis(250)
        );
        assert_eq!(
            tiers.pick(Duration::from_secs(1000)),
            Duration::from_secs(300)
        );
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_jitter_bounds(
            seed in any::<u64>(),
            attempt in 1u32..8,
            base_ms in 1u64..10_000,
            factor in 1u32..5,
            cap_ms in 1u64..600_000,
        ) {
            let p = RetryPolicy {
                base: Duration::from_millis(base_ms),
                factor,
                cap: Duration::from_millis(cap_ms),
                max_attempts: 8,
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let ceiling = p.ceiling(attempt);
            prop_assert!(ceiling <= p.cap);
            match p.decide(attempt, &transient(), &mut rng) {
                Decision::Retry(d) => {
                    prop_assert!(d <= ceiling);
                    let tiers = DelayTiers::for_policy(&p);
                    let tier = tiers.pick(d);
                    // Rounded down, except below the shortest tier, which is never above the base.
                    prop_assert!(tier <= d || tier == tiers.all()[0]);
                    prop_assert!(tiers.all()[0] <= p.base.max(Duration::from_millis(1)));
                }
                Decision::GiveUp(r) => prop_assert!(false, "gave up early: {}", r),
            }
        }

        #[test]
        fn ceilings_never_shrink(attempt in 1u32..100) {
            let p = RetryPolicy::default();
            prop_assert!(p.ceiling(attempt) <= p.ceiling(attempt + 1));
        }
    }
}
