//! Runflow's FLUX.2 models and its price rules (providers.md): Flex 0.05 USD per
//! megapixel of input and output, [pro] 0.03 for the first output megapixel and
//! 0.015 for each further one; megapixels of 2^20 pixels, rounded up per image.

use fluxq_common::pricing::billed_megapixels;
use fluxq_common::{MicroUsd, Model};

/// The model ids Runflow serves FLUX.2 under. Max's slug is unconfirmed, so it is
/// not served.
const MODELS: [(&str, Model); 2] = [
    ("black-forest-labs/flux-2-flex", Model::Flux2Flex),
    ("black-forest-labs/flux-2-pro", Model::Flux2Pro),
];

/// Flex: each megapixel of output and of input.
const FLEX_PER_MP: u64 = 50_000;
/// [pro]: the first output megapixel, then each further one and (as BFL bills [pro];
/// unconfirmed for Runflow) each input megapixel.
const PRO_FIRST_MP: u64 = 30_000;
const PRO_EXTRA_MP: u64 = 15_000;

/// The model behind a Runflow model id.
pub(super) fn model(id: &str) -> Option<Model> {
    MODELS.iter().find(|(slug, _)| *slug == id).map(|(_, m)| *m)
}

/// The charge for one `width`×`height` image with `references` input images, each
/// counted as one megapixel (the mock does not fetch them).
pub(super) fn cost(model: Model, width: u32, height: u32, references: usize) -> MicroUsd {
    let out = billed_megapixels(width, height);
    let inputs = references as u64;
    MicroUsd(match model {
        Model::Flux2Flex => FLEX_PER_MP * (out + inputs),
        _ => PRO_FIRST_MP + PRO_EXTRA_MP * (out - 1 + inputs),
    })
}

/// A USD amount as Runflow writes it: a decimal string with at least two decimals
/// (`"0.05"`, `"0.10"`, `"0.045"`).
pub(super) fn usd(amount: MicroUsd) -> String {
    let text = amount.to_string();
    match text.split_once('.') {
        None => format!("{text}.00"),
        Some((_, frac)) if frac.len() < 2 => format!("{text}0"),
        Some(_) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_follow_the_table_megapixels_rounded_up() {
        let flex = |w, h, r| usd(cost(Model::Flux2Flex, w, h, r));
        assert_eq!(flex(1024, 1024, 0), "0.05");
        assert_eq!(flex(512, 512, 0), "0.05");
        assert_eq!(flex(1920, 1080, 0), "0.10");
        assert_eq!(flex(1024, 1024, 2), "0.15");
        let pro = |w, h, r| usd(cost(Model::Flux2Pro, w, h, r));
        assert_eq!(pro(1024, 1024, 0), "0.03");
        assert_eq!(pro(1920, 1080, 0), "0.045");
        assert_eq!(pro(1024, 1024, 1), "0.045");
        assert_eq!(usd(MicroUsd(2_000_000)), "2.00");
        assert_eq!(usd(MicroUsd(0)), "0.00");
    }

    #[test]
    fn only_the_confirmed_slugs_are_served() {
        assert_eq!(
            model("black-forest-labs/flux-2-flex"),
            Some(Model::Flux2Flex)
        );
        assert_eq!(model("black-forest-labs/flux-2-pro"), Some(Model::Flux2Pro));
        assert_eq!(model("black-forest-labs/flux-2-max"), None);
    }
}
