//! Money and price estimates. Amounts are exact integers of micro-USD; the
//! provider's reported charge is what gets recorded, the tables here only estimate.

use std::fmt;

use crate::job::{Model, ProviderKind};

/// An exact amount of money in millionths of a US dollar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MicroUsd(pub u64);

/// One BFL credit is 0.01 USD.
pub const MICRO_USD_PER_CREDIT: u64 = 10_000;

/// One megapixel as the providers bill it: 2^20 pixels, rounded up per image.
/// (This is the reading under which every price example in the providers' pages holds.)
pub const PIXELS_PER_MEGAPIXEL: u64 = 1 << 20;

impl MicroUsd {
    /// Converts a BFL charge in credits (possibly fractional, e.g. 4.5) to micro-USD,
    /// rounded to the nearest micro-dollar. Negative or non-finite input is zero.
    pub fn from_credits(credits: f64) -> Self {
        Self::from_usd_f64(credits / 100.0)
    }

    /// Converts a USD amount reported as a JSON number (e.g. Runware's `0.045`).
    pub fn from_usd_f64(usd: f64) -> Self {
        if !usd.is_finite() || usd <= 0.0 {
            return Self(0);
        }
        Self((usd * 1_000_000.0).round() as u64)
    }

    /// Parses a decimal string such as `"0.045"` exactly (at most 6 decimals).
    pub fn parse_usd(s: &str) -> Option<Self> {
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if whole.is_empty() && frac.is_empty() || frac.len() > 6 {
            return None;
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut frac_micro: u64 = 0;
        for (i, c) in frac.chars().enumerate() {
            let d = c.to_digit(10)? as u64;
            frac_micro += d * 10u64.pow(5 - i as u32);
        }
        whole
            .checked_mul(1_000_000)?
            .checked_add(frac_micro)
            .map(Self)
    }

    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for MicroUsd {
    /// Formats as a decimal USD string without trailing zeros: `0.045`, `1`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / 1_000_000;
        let frac = self.0 % 1_000_000;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Megapixels of an image as billed: rounded up to whole megapixels, at least 1.
pub fn billed_megapixels(width: u32, height: u32) -> u64 {
    let px = u64::from(width) * u64::from(height);
    px.div_ceil(PIXELS_PER_MEGAPIXEL).max(1)
}

/// A price rule in micro-USD: the first output megapixel, each further output
/// megapixel, and each megapixel of input (reference) image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceRule {
    pub first_mp: u64,
    pub extra_mp: u64,
    pub input_mp: u64,
}

/// The FLUX.2 price table of `provider` (BFL direct and Runware charge the same for
/// the same model; Runflow sells Flex for 0.05 per megapixel of input and output; see
/// providers.md). Max is "from 0.07": 0.07 first MP, 0.03 further and input.
pub fn price_rule(provider: ProviderKind, model: Model) -> PriceRule {
    match (provider, model) {
        (ProviderKind::Runflow, Model::Flux2Flex) => PriceRule {
            first_mp: 50_000,
            extra_mp: 50_000,
            input_mp: 50_000,
        },
        (_, Model::Flux2Pro) => PriceRule {
            first_mp: 30_000,
            extra_mp: 15_000,
            input_mp: 15_000,
        },
        (_, Model::Flux2Flex) => PriceRule {
            first_mp: 60_000,
            extra_mp: 60_000,
            input_mp: 60_000,
        },
        (_, Model::Flux2Max) => PriceRule {
            first_mp: 70_000,
            extra_mp: 30_000,
            input_mp: 30_000,
        },
    }
}

/// Estimated charge for one output image of `width`×`height` with `reference_images`
/// inputs, each counted as one megapixel (their real size is unknown before download).
pub fn estimate(
    provider: ProviderKind,
    model: Model,
    width: u32,
    height: u32,
    reference_images: usize,
) -> MicroUsd {
    let rule = price_rule(provider, model);
    let out_mp = billed_megapixels(width, height);
    let micro =
        rule.first_mp + rule.extra_mp * (out_mp - 1) + rule.input_mp * reference_images as u64;
    MicroUsd(micro)
}

/// The same estimate in BFL credits (1 credit = 0.01 USD), as the BFL API reports `cost`.
pub fn estimate_credits(model: Model, width: u32, height: u32, reference_images: usize) -> f64 {
    let micro = estimate(ProviderKind::Bfl, model, width, height, reference_images).0;
    micro as f64 / MICRO_USD_PER_CREDIT as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_examples_from_the_providers_pages_hold() {
        // FLUX.2 [pro] 1536×1024 text to image: 0.045 USD; with three references 0.09.
        assert_eq!(
            estimate(ProviderKind::Runware, Model::Flux2Pro, 1536, 1024, 0).to_string(),
            "0.045"
        );
        assert_eq!(
            estimate(ProviderKind::Runware, Model::Flux2Pro, 1536, 1024, 3).to_string(),
            "0.09"
        );
        // FLUX.2 [flex] 1344×768 (or 1280×768), three references: 0.24 USD.
        assert_eq!(
            estimate(ProviderKind::Runware, Model::Flux2Flex, 1344, 768, 3).to_string(),
            "0.24"
        );
        assert_eq!(
            estimate(ProviderKind::Runware, Model::Flux2Flex, 1280, 768, 3).to_string(),
            "0.24"
        );
        // pro from 0.03 per image at one megapixel.
        assert_eq!(
            estimate(ProviderKind::Bfl, Model::Flux2Pro, 1024, 1024, 0),
            MicroUsd(30_000)
        );
        assert_eq!(estimate_credits(Model::Flux2Pro, 1536, 1024, 0), 4.5);
    }

    #[test]
    fn runflow_prices_follow_its_table() {
        let flex = |w, h, r| estimate(ProviderKind::Runflow, Model::Flux2Flex, w, h, r);
        assert_eq!(flex(1024, 1024, 0).to_string(), "0.05");
        assert_eq!(flex(512, 512, 0).to_string(), "0.05");
        assert_eq!(flex(1920, 1088, 0).to_string(), "0.1");
        assert_eq!(flex(1920, 1080, 0).to_string(), "0.1");
        assert_eq!(flex(1024, 1024, 2).to_string(), "0.15");
        let pro = |w, h| estimate(ProviderKind::Runflow, Model::Flux2Pro, w, h, 0);
        assert_eq!(pro(1024, 1024).to_string(), "0.03");
        assert_eq!(pro(1920, 1088).to_string(), "0.045");
    }

    #[test]
    fn credits_and_decimal_strings_convert_exactly() {
        assert_eq!(MicroUsd::from_credits(4.5), MicroUsd(45_000));
        assert_eq!(MicroUsd::from_credits(3.0), MicroUsd(30_000));
        assert_eq!(MicroUsd::from_usd_f64(0.045), MicroUsd(45_000));
        assert_eq!(MicroUsd::from_credits(f64::NAN), MicroUsd(0));
        for (s, v) in [
            ("0.045", 45_000),
            ("1", 1_000_000),
            ("0", 0),
            ("12.5", 12_500_000),
            (".5", 500_000),
        ] {
            assert_eq!(MicroUsd::parse_usd(s), Some(MicroUsd(v)), "{s}");
            assert_eq!(
                MicroUsd::parse_usd(&MicroUsd(v).to_string()),
                Some(MicroUsd(v))
            );
        }
        for bad in ["", ".", "abc", "0.1234567", "-1", "1.-2"] {
            assert_eq!(MicroUsd::parse_usd(bad), None, "{bad}");
        }
    }

    #[test]
    fn megapixels_round_up() {
        assert_eq!(billed_megapixels(1024, 1024), 1);
        assert_eq!(billed_megapixels(1024, 1040), 2);
        assert_eq!(billed_megapixels(64, 64), 1);
        assert_eq!(billed_megapixels(2048, 2048), 4);
    }
}
