//! Limits on what the worker reads from the network: message size, image size, and
//! the hosts images may be downloaded from.

use clap::Args;

use super::ConfigError;

/// The providers' documented delivery hosts: BFL's `delivery-*.bfl.ai`, Runware's
/// `im.runware.ai`, Runflow's presigned object-store URLs.
pub const DEFAULT_DOWNLOAD_HOSTS: &str = "*.bfl.ai,im.runware.ai,*.amazonaws.com";

#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Largest message body accepted, in bytes; larger ones are dead-lettered unread.
    #[arg(long, env = "FLUXQ_MAX_MESSAGE_BYTES", default_value = "4194304")]
    pub max_message_bytes: u64,
    /// Largest image downloaded, in bytes, whatever `Content-Length` says.
    #[arg(long, env = "FLUXQ_MAX_IMAGE_BYTES", default_value = "67108864")]
    pub max_image_bytes: u64,
    /// Hosts images may be downloaded from besides the provider's own (comma
    /// separated; `*.domain` for any subdomain).
    #[arg(long, env = "FLUXQ_DOWNLOAD_HOSTS", value_delimiter = ',', default_value = DEFAULT_DOWNLOAD_HOSTS)]
    pub download_hosts: Vec<String>,
}

/// The validated limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLimits {
    pub max_message_bytes: u64,
    pub max_image_bytes: u64,
    pub download_hosts: Vec<String>,
}

impl InputArgs {
    pub fn into_limits(self) -> Result<InputLimits, ConfigError> {
        for (var, v) in [
            ("FLUXQ_MAX_MESSAGE_BYTES", self.max_message_bytes),
            ("FLUXQ_MAX_IMAGE_BYTES", self.max_image_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError {
                    var,
                    problem: "must be greater than 0".into(),
                });
            }
        }
        let download_hosts = self
            .download_hosts
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Ok(InputLimits {
            max_message_bytes: self.max_message_bytes,
            max_image_bytes: self.max_image_bytes,
            download_hosts,
        })
    }
}
