//! `producer submit --dry-run`: the estimated cost of a validated batch by provider
//! and model, from the price table (`fluxq_common::pricing`), without publishing.
//! Reference images count as one megapixel each (their size is unknown before
//! download), and a job asking for `number_results` counts each image.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};

use fluxq_common::{JobMessage, JobSpec, MicroUsd, ProviderKind, pricing};

use crate::submit::Prepared;

/// Jobs, images and estimated cost of one (provider, model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Line {
    pub jobs: u64,
    pub images: u64,
    pub cost: MicroUsd,
}

/// The estimate of a batch, by (provider, model) name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Estimate {
    pub batch: String,
    pub lines: BTreeMap<(String, String), Line>,
}

impl Estimate {
    /// Adds one validated job.
    pub fn add(&mut self, spec: &JobSpec) {
        let images = u64::from(spec.number_results.max(1));
        let one = pricing::estimate(
            spec.provider,
            spec.model,
            spec.width,
            spec.height,
            spec.reference_images.len(),
        );
        let key = (
            spec.provider.as_str().to_owned(),
            spec.model.as_str().to_owned(),
        );
        let line = self.lines.entry(key).or_default();
        line.jobs += 1;
        line.images += images;
        line.cost = line
            .cost
            .saturating_add(MicroUsd(one.0.saturating_mul(images)));
    }

    /// All lines together.
    pub fn total(&self) -> Line {
        self.lines.values().fold(Line::default(), |t, l| Line {
            jobs: t.jobs + l.jobs,
            images: t.images + l.images,
            cost: t.cost.saturating_add(l.cost),
        })
    }

    /// The table `producer submit --dry-run` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let total = self.total();
        let _ = writeln!(
            out,
            "dry run: {} job(s) in batch {}, nothing published; estimated cost by provider and model:",
            total.jobs, self.batch
        );
        let _ = writeln!(
            out,
            "{:<9} {:<12} {:>8} {:>8} {:>14}",
            "provider", "model", "jobs", "images", "estimate USD"
        );
        for ((provider, model), l) in &self.lines {
            let _ = writeln!(
                out,
                "{provider:<9} {model:<12} {:>8} {:>8} {:>14}",
                l.jobs,
                l.images,
                l.cost.to_string()
            );
        }
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>8} {:>14}",
            "total",
            total.jobs,
            total.images,
            total.cost.to_string()
        );
        out
    }
}

/// Reads the validated jobs of `prepared` again and estimates them; jobs naming no
/// provider go to `default_provider`, as the workers will send them.
pub fn estimate(prepared: &Prepared, default_provider: ProviderKind) -> std::io::Result<Estimate> {
    let mut estimate = Estimate {
        batch: prepared.batch.clone(),
        ..Estimate::default()
    };
    for line in BufReader::new(prepared.reopen()?).lines() {
        let line = line?;
        let spec = JobMessage::from_json(line.as_bytes())
            .and_then(|m| m.validate(default_provider))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        estimate.add(&spec);
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_summed_by_provider_and_model_counting_every_image() {
        let input = [
            r#"{"model":"flux-2-pro","prompt":"a","width":1536,"height":1024}"#,
            r#"{"model":"flux-2-pro","prompt":"b","width":1536,"height":1024,"provider":"runware"}"#,
            r#"{"model":"flux-2-flex","prompt":"c","width":1344,"height":768,"provider":"runware","reference_images":["https://x/1","https://x/2","https://x/3"],"number_results":2}"#,
            r#"{"model":"flux-2-pro","prompt":"d"}"#,
        ]
        .join("\n");
        let prepared = crate::submit::prepare(input.as_bytes(), Some("est"), ProviderKind::Bfl)
            .unwrap_or_else(|e| panic!("{e}"));
        let e = estimate(&prepared, ProviderKind::Bfl).unwrap_or_else(|e| panic!("{e}"));
        let line = |p: &str, m: &str| e.lines[&(p.to_owned(), m.to_owned())];
        assert_eq!(
            line("bfl", "flux-2-pro"),
            Line {
                jobs: 2,
                images: 2,
                cost: MicroUsd(75_000)
            }
        );
        assert_eq!(
            line("runware", "flux-2-pro"),
            Line {
                jobs: 1,
                images: 1,
                cost: MicroUsd(45_000)
            }
        );
        assert_eq!(
            line("runware", "flux-2-flex"),
            Line {
                jobs: 1,
                images: 2,
                cost: MicroUsd(480_000)
            }
        );
        assert_eq!(
            e.total(),
            Line {
                jobs: 4,
                images: 5,
                cost: MicroUsd(600_000)
            }
        );
        let report = e.report();
        assert!(
            report.contains("4 job(s) in batch est, nothing published"),
            "{report}"
        );
        assert!(
            report.lines().any(|l| l.starts_with("runware")
                && l.contains("flux-2-flex")
                && l.ends_with("0.48")),
            "{report}"
        );
        assert!(
            report
                .lines()
                .last()
                .is_some_and(|l| l.starts_with("total") && l.ends_with("0.6")),
            "{report}"
        );
    }
}
