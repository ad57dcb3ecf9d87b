//! The job message of the public contract (v1) and its validation.
//!
//! [`JobMessage`] is exactly what travels through RabbitMQ: unknown fields are
//! rejected so a typo cannot silently change what is paid for. [`JobMessage::validate`]
//! turns it into a [`JobSpec`] with the provider resolved and the size known, or a
//! [`ValidationError`] naming the field and the rule.
//!
//! # Layout
//! - `kinds`: the vocabulary ([`Model`], [`Lane`], [`OutputFormat`], [`SizePreset`]).
//! - `provider`: [`ProviderKind`] and the limits of what each provider accepts.
//! - `message`: [`JobMessage`], [`JobSpec`], and reading a body that is not a valid job.
//! - `validate`: [`JobMessage::validate`], [`ValidationError`] and the contract's limits.
//! - `rules`: the rules `validate` checks, one function each.
//! - `strict`: refusing a body in which one object holds the same key twice.

mod kinds;
mod message;
mod params;
mod provider;
mod rules;
mod strict;
mod validate;

pub use kinds::{Lane, Model, OutputFormat, SizePreset};
pub use message::{JobMessage, JobSpec, readable_batch, readable_id};
pub use provider::ProviderKind;
pub use strict::check_duplicate_keys;
pub use validate::{
    DEFAULT_SIZE, MAX_BATCH_LEN, MAX_CALLBACK_URL_LEN, MAX_METADATA_BYTES, MAX_NUMBER_RESULTS,
    MAX_PROMPT_CHARS, ValidationError, validate_batch_name,
};

#[cfg(test)]
mod message_tests;
#[cfg(test)]
mod tests;
