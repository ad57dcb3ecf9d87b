//! The vocabulary of a job: models, lanes, output formats and named sizes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The image models fluxq runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Model {
    #[serde(rename = "flux-2-pro")]
    Flux2Pro,
    #[serde(rename = "flux-2-flex")]
    Flux2Flex,
    #[serde(rename = "flux-2-max")]
    Flux2Max,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Flux2Pro, Model::Flux2Flex, Model::Flux2Max];

    /// The contract's name, which is also BFL's endpoint name.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Flux2Pro => "flux-2-pro",
            Model::Flux2Flex => "flux-2-flex",
            Model::Flux2Max => "flux-2-max",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Runware's model id (AIR). `bfl:5@1` and `bfl:6@1` are in the seed docs;
    /// `bfl:7@1` for max is unconfirmed.
    pub fn runware_id(self) -> &'static str {
        match self {
            Model::Flux2Pro => "bfl:5@1",
            Model::Flux2Flex => "bfl:6@1",
            Model::Flux2Max => "bfl:7@1",
        }
    }

    pub fn from_runware_id(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.runware_id() == s)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two lanes: `interactive` for single jobs someone waits for, `bulk` for batches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    #[default]
    Bulk,
    Interactive,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Bulk, Lane::Interactive];

    /// The routing key on `{ns}.jobs`, and the suffix of the lane's queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Bulk => "bulk",
            Lane::Interactive => "interactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Image file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Jpeg,
    Png,
    Webp,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }

    /// The file extension images of this format are stored under.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        }
    }

    /// Guesses the format from a `Content-Type` header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "image/jpeg" | "image/jpg" => Some(OutputFormat::Jpeg),
            "image/png" => Some(OutputFormat::Png),
            "image/webp" => Some(OutputFormat::Webp),
            _ => None,
        }
    }
}

/// Named sizes, as other FLUX.2 front ends call them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SizePreset {
    SquareHd,
    Square,
    #[serde(rename = "portrait_4_3")]
    Portrait4x3,
    #[serde(rename = "portrait_16_9")]
    Portrait16x9,
    #[serde(rename = "landscape_4_3")]
    Landscape4x3,
    #[serde(rename = "landscape_16_9")]
    Landscape16x9,
}

impl SizePreset {
    /// (width, height) of the preset.
    pub fn dimensions(self) -> (u32, u32) {
        match self {
            SizePreset::SquareHd => (1024, 1024),
            SizePreset::Square => (512, 512),
            SizePreset::Portrait4x3 => (768, 1024),
            SizePreset::Portrait16x9 => (576, 1024),
            SizePreset::Landscape4x3 => (1024, 768),
            SizePreset::Landscape16x9 => (1024, 576),
        }
    }
}
