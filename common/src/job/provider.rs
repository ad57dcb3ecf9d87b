//! The providers that run jobs, and what each accepts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which provider runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Bfl,
    Runware,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bfl => "bfl",
            ProviderKind::Runware => "runware",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bfl" => Some(ProviderKind::Bfl),
            "runware" => Some(ProviderKind::Runware),
            _ => None,
        }
    }

    /// (min side, max side, max pixels) this provider accepts; sides are multiples of 16.
    pub fn size_limits(self) -> (u32, u32, u64) {
        match self {
            // BFL: min 64, multiples of 16, at most 4 MP in total (unconfirmed upper side).
            ProviderKind::Bfl => (64, 4096, 4 * crate::pricing::PIXELS_PER_MEGAPIXEL),
            // Runware: 256–2048 in steps of 16.
            ProviderKind::Runware => (256, 2048, 2048 * 2048),
        }
    }

    /// The most reference images one job may carry.
    pub fn max_reference_images(self) -> usize {
        match self {
            ProviderKind::Bfl => 8,
            ProviderKind::Runware => 10,
        }
    }

    /// The highest `safety_tolerance` the provider accepts.
    pub fn max_safety_tolerance(self) -> u8 {
        match self {
            ProviderKind::Bfl => 5,
            ProviderKind::Runware => 6,
        }
    }

    /// The accepted range of `guidance` for flex (BFL `guidance`, Runware `CFGScale`).
    pub fn guidance_range(self) -> (f64, f64) {
        match self {
            ProviderKind::Bfl => (1.5, 10.0),
            ProviderKind::Runware => (1.0, 20.0),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
