//! The one error of configuration: a setting that cannot work, naming its variable
//! (shared by [`crate::config`] and the settings of its parts, such as the output's).

/// A setting that cannot work, naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable (or flag) at fault.
    pub var: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}
