//! The providers that run jobs, and what each accepts.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Model, OutputFormat};

/// Which provider runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Bfl,
    Runware,
    Runflow,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Bfl,
        ProviderKind::Runware,
        ProviderKind::Runflow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bfl => "bfl",
            ProviderKind::Runware => "runware",
            ProviderKind::Runflow => "runflow",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the provider serves `model`. Runflow's id for FLUX.2 [max] is
    /// unconfirmed, so a max job there is refused rather than sent to a guess.
    pub fn serves(self, model: Model) -> bool {
        !(self == ProviderKind::Runflow && model == Model::Flux2Max)
    }

    /// (min side, max side, max pixels) this provider accepts; sides are multiples of 16.
    pub fn size_limits(self) -> (u32, u32, u64) {
        match self {
            // BFL: min 64, multiples of 16, at most 4 MP in total (unconfirmed upper side).
            ProviderKind::Bfl => (64, 4096, 4 * crate::pricing::PIXELS_PER_MEGAPIXEL),
            // Runware: 256–2048 in steps of 16.
            ProviderKind::Runware => (256, 2048, 2048 * 2048),
            // Runflow: `{width, height}` up to 4096 a side; its smallest side and its
            // pixel limit are not documented: BFL's (64, 4 MP) for the same model.
            ProviderKind::Runflow => (64, 4096, 4 * crate::pricing::PIXELS_PER_MEGAPIXEL),
        }
    }

    /// The most reference images one job may carry (Runflow: unconfirmed, its edit
    /// models' `image_urls`; 10 as on Runware).
    pub fn max_reference_images(self) -> usize {
        match self {
            ProviderKind::Bfl => 8,
            ProviderKind::Runware | ProviderKind::Runflow => 10,
        }
    }

    /// The accepted range of `safety_tolerance` (Runflow takes `"1"`–`"5"`).
    pub fn safety_tolerance_range(self) -> (u8, u8) {
        match self {
            ProviderKind::Bfl => (0, 5),
            ProviderKind::Runware => (0, 6),
            ProviderKind::Runflow => (1, 5),
        }
    }

    /// The highest `safety_tolerance` the provider accepts.
    pub fn max_safety_tolerance(self) -> u8 {
        self.safety_tolerance_range().1
    }

    /// The accepted range of `guidance` for flex (BFL `guidance`, Runware `CFGScale`,
    /// Runflow `guidance_scale`).
    pub fn guidance_range(self) -> (f64, f64) {
        match self {
            ProviderKind::Bfl | ProviderKind::Runflow => (1.5, 10.0),
            ProviderKind::Runware => (1.0, 20.0),
        }
    }

    /// The accepted range of `steps` for flex (Runflow's `num_inference_steps`: 2–50).
    pub fn steps_range(self) -> (u32, u32) {
        match self {
            ProviderKind::Bfl | ProviderKind::Runware => (1, 50),
            ProviderKind::Runflow => (2, 50),
        }
    }

    /// The most images one job may ask for (`number_results`).
    pub fn max_number_results(self) -> u32 {
        match self {
            ProviderKind::Runware => super::MAX_NUMBER_RESULTS,
            ProviderKind::Bfl | ProviderKind::Runflow => 1,
        }
    }

    /// Whether the provider takes `prompt_upsampling` for `model` (BFL: flex only;
    /// Runware: any model; Runflow: no such field).
    pub fn takes_prompt_upsampling(self, model: Model) -> bool {
        match self {
            ProviderKind::Bfl => model == Model::Flux2Flex,
            ProviderKind::Runware => true,
            ProviderKind::Runflow => false,
        }
    }

    /// Whether the provider can return images in `format` (Runflow's FLUX.2 models:
    /// `jpeg` and `png`; `webp` only on some of its other models).
    pub fn takes_output_format(self, format: OutputFormat) -> bool {
        !(self == ProviderKind::Runflow && format == OutputFormat::Webp)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
