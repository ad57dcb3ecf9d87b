//! Charges as providers report them, checked before they are recorded: a `cost` that
//! is not a number, not finite, negative or above [`MAX_CHARGE_PER_TASK`] is an
//! error the job's record keeps (and the worker alerts on), with the price-table
//! estimate recorded in its place, never a value silently dropped or saturated.

use crate::pricing::{MICRO_USD_PER_CREDIT, MicroUsd};

/// The most one task may be charged: 1,000 USD. A reported charge above it is a
/// provider's bug or a misread field, not money to add to a batch.
pub const MAX_CHARGE_PER_TASK: MicroUsd = MicroUsd(1_000_000_000);

/// The unit a provider reports its `cost` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostUnit {
    /// US dollars (Runware, Runflow).
    Usd,
    /// BFL credits (1 credit = 0.01 USD).
    Credits,
}

impl CostUnit {
    fn micro_usd_per_unit(self) -> f64 {
        match self {
            CostUnit::Usd => 1_000_000.0,
            CostUnit::Credits => MICRO_USD_PER_CREDIT as f64,
        }
    }
}

/// A reported `cost` that cannot be recorded as money. Each variant holds the value
/// as the provider wrote it (shortened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// Neither a number nor a string holding one.
    #[error("reported cost {0} is not a number")]
    NotANumber(String),
    /// NaN or infinite.
    #[error("reported cost {0} is not finite")]
    NotFinite(String),
    /// Below zero.
    #[error("reported cost {0} is negative")]
    Negative(String),
    /// Above [`MAX_CHARGE_PER_TASK`].
    #[error("reported cost {0} is above the ceiling of 1000 USD per task")]
    AboveCeiling(String),
}

/// What to record for a task's charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// What the provider reported (or, where it charges nothing at this step, zero).
    Exact(MicroUsd),
    /// The provider reported nothing: the price-table estimate.
    Estimated(MicroUsd),
    /// The provider reported something that is not a valid charge: the estimate is
    /// recorded in its place and the error kept on the job's record.
    Invalid {
        estimate: MicroUsd,
        error: ChargeError,
    },
}

impl Charge {
    /// The amount to add to the job's charges.
    pub fn amount(&self) -> MicroUsd {
        match self {
            Charge::Exact(m) | Charge::Estimated(m) => *m,
            Charge::Invalid { estimate, .. } => *estimate,
        }
    }

    /// Why the reported charge was not recorded, if it was not.
    pub fn error(&self) -> Option<&ChargeError> {
        match self {
            Charge::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The charge of a JSON `cost` field in `unit`: a number or a string holding one;
    /// absent or `null` is `estimate`. Anything else is [`Charge::Invalid`].
    pub fn from_json(cost: Option<&serde_json::Value>, unit: CostUnit, estimate: MicroUsd) -> Self {
        match cost.map(|v| checked_json(v, unit)) {
            None | Some(Ok(None)) => Charge::Estimated(estimate),
            Some(Ok(Some(m))) => Charge::Exact(m),
            Some(Err(error)) => Charge::Invalid { estimate, error },
        }
    }

    /// The sum of several charges (one per result); invalid as soon as one is, with
    /// `estimate` (of them all) recorded in their place.
    pub fn sum(charges: impl IntoIterator<Item = Charge>, estimate: MicroUsd) -> Self {
        let mut total = MicroUsd(0);
        let mut estimated = false;
        for c in charges {
            match c {
                Charge::Exact(m) => total = total.saturating_add(m),
                Charge::Estimated(m) => {
                    estimated = true;
                    total = total.saturating_add(m);
                }
                Charge::Invalid { error, .. } => return Charge::Invalid { estimate, error },
            }
        }
        if estimated {
            Charge::Estimated(total)
        } else {
            Charge::Exact(total)
        }
    }
}

/// A reported `cost` in `unit` as micro-USD, checked: `Ok(None)` for `null`.
pub fn checked_json(
    v: &serde_json::Value,
    unit: CostUnit,
) -> Result<Option<MicroUsd>, ChargeError> {
    let shown = || v.to_string().chars().take(40).collect::<String>();
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => {
            let x = n.as_f64().ok_or_else(|| ChargeError::NotANumber(shown()))?;
            checked(x, unit, &shown()).map(Some)
        }
        serde_json::Value::String(s) => {
            // A decimal USD string is read exactly; anything else as a float.
            if unit == CostUnit::Usd
                && let Some(m) = MicroUsd::parse_usd(s.trim())
            {
                return ceiling(m, &shown()).map(Some);
            }
            let x: f64 = s
                .trim()
                .parse()
                .map_err(|_| ChargeError::NotANumber(shown()))?;
            checked(x, unit, &shown()).map(Some)
        }
        _ => Err(ChargeError::NotANumber(shown())),
    }
}

/// A reported amount in `unit` as micro-USD (rounded to the nearest), checked.
pub fn checked(amount: f64, unit: CostUnit, shown: &str) -> Result<MicroUsd, ChargeError> {
    if !amount.is_finite() {
        return Err(ChargeError::NotFinite(shown.to_owned()));
    }
    if amount < 0.0 {
        return Err(ChargeError::Negative(shown.to_owned()));
    }
    let micro = (amount * unit.micro_usd_per_unit()).round();
    if micro > MAX_CHARGE_PER_TASK.0 as f64 {
        return Err(ChargeError::AboveCeiling(shown.to_owned()));
    }
    ceiling(MicroUsd(micro as u64), shown)
}

fn ceiling(m: MicroUsd, shown: &str) -> Result<MicroUsd, ChargeError> {
    if m > MAX_CHARGE_PER_TASK {
        return Err(ChargeError::AboveCeiling(shown.to_owned()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EST: MicroUsd = MicroUsd(30_000);

    #[test]
    fn valid_costs_are_recorded_exactly() {
        let table = [
            (json!(3), CostUnit::Credits, 30_000),
            (json!(4.5), CostUnit::Credits, 45_000),
            (json!(0.045), CostUnit::Usd, 45_000),
            (json!("0.045"), CostUnit::Usd, 45_000),
            (json!("4.5"), CostUnit::Credits, 45_000),
            (json!(0), CostUnit::Usd, 0),
            (json!(1000), CostUnit::Usd, 1_000_000_000),
            (json!(100_000), CostUnit::Credits, 1_000_000_000),
        ];
        for (v, unit, micro) in table {
            let c = Charge::from_json(Some(&v), unit, EST);
            assert_eq!(c, Charge::Exact(MicroUsd(micro)), "{v}");
        }
        assert_eq!(
            Charge::from_json(None, CostUnit::Usd, EST),
            Charge::Estimated(EST)
        );
        let null = json!(null);
        assert_eq!(
            Charge::from_json(Some(&null), CostUnit::Usd, EST),
            Charge::Estimated(EST)
        );
    }

    #[test]
    fn invalid_costs_are_errors_with_the_estimate_in_their_place() {
        type Is = fn(&ChargeError) -> bool;
        let table: [(serde_json::Value, Is); 8] = [
            (json!(1e30), |e| matches!(e, ChargeError::AboveCeiling(_))),
            (json!(1000.000001), |e| {
                matches!(e, ChargeError::AboveCeiling(_))
            }),
            (json!(-3), |e| matches!(e, ChargeError::Negative(_))),
            (json!(-0.000001), |e| matches!(e, ChargeError::Negative(_))),
            (json!("NaN"), |e| matches!(e, ChargeError::NotFinite(_))),
            (json!("inf"), |e| matches!(e, ChargeError::NotFinite(_))),
            (json!("three"), |e| matches!(e, ChargeError::NotANumber(_))),
            (json!({"usd": 1}), |e| {
                matches!(e, ChargeError::NotANumber(_))
            }),
        ];
        for (v, is) in table {
            let c = Charge::from_json(Some(&v), CostUnit::Usd, EST);
            assert_eq!(c.amount(), EST, "{v}");
            let e = c.error().unwrap_or_else(|| panic!("{v} was accepted"));
            assert!(is(e), "{v}: {e}");
            assert!(e.to_string().contains("cost"), "{e}");
        }
        let too_big = json!(100_001);
        let c = Charge::from_json(Some(&too_big), CostUnit::Credits, EST);
        assert!(
            matches!(c.error(), Some(ChargeError::AboveCeiling(_))),
            "{c:?}"
        );
    }

    #[test]
    fn sums_are_invalid_when_one_part_is() {
        let ok = [Charge::Exact(MicroUsd(1)), Charge::Exact(MicroUsd(2))];
        assert_eq!(Charge::sum(ok, EST), Charge::Exact(MicroUsd(3)));
        let mixed = [Charge::Exact(MicroUsd(1)), Charge::Estimated(MicroUsd(2))];
        assert_eq!(Charge::sum(mixed, EST), Charge::Estimated(MicroUsd(3)));
        let bad = [
            Charge::Exact(MicroUsd(1)),
            Charge::from_json(Some(&json!(-1)), CostUnit::Usd, MicroUsd(9)),
        ];
        let s = Charge::sum(bad, EST);
        assert_eq!(s.amount(), EST);
        assert!(s.error().is_some());
    }
}
