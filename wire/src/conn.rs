//! Where RabbitMQ and Redis are and which namespace to use: the settings every fluxq
//! binary takes (flags and `FLUXQ_*` environment variables).

use clap::{Args, ValueEnum};
use fluxq_common::{Names, ProviderKind};

/// Where RabbitMQ and Redis are and which namespace to use (every binary takes these).
#[derive(Clone, Args)]
pub struct ConnArgs {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "FLUXQ_AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,
    /// Redis URL.
    #[arg(
        long,
        env = "FLUXQ_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/0",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Prefix of every exchange, queue and Redis key.
    #[arg(long, env = "FLUXQ_NAMESPACE", default_value = "fluxq", value_parser = parse_names)]
    pub namespace: Names,
    /// Provider used when a job names none.
    #[arg(long, env = "FLUXQ_PROVIDER", default_value = "bfl", value_enum)]
    pub provider: ProviderArg,
}

fn parse_names(s: &str) -> Result<Names, String> {
    Names::new(s).map_err(|e| e.to_string())
}

/// `bfl`, `runware` or `runflow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    Bfl,
    Runware,
    Runflow,
}

impl From<ProviderArg> for ProviderKind {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Bfl => ProviderKind::Bfl,
            ProviderArg::Runware => ProviderKind::Runware,
            ProviderArg::Runflow => ProviderKind::Runflow,
        }
    }
}

/// A URL with the password (if any) replaced by `***`, for logs, errors and `Debug`:
/// `amqp://guest:***@host:5672/%2f`. A URL that does not parse is redacted too, by
/// hiding whatever stands between the user name and the last `@`
/// (`amqp:u:pass@h` → `amqp:u:***@h`), so a typo never prints a secret.
pub fn redact_url(raw: &str) -> String {
    if let Ok(mut u) = url::Url::parse(raw)
        && u.has_host()
    {
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        }
        return u.to_string();
    }
    let Some(at) = raw.rfind('@') else {
        return raw.to_owned();
    };
    // Where the user information starts: after `scheme://`, else after `scheme:`.
    let start = raw
        .find("://")
        .map(|i| i + 3)
        .or_else(|| raw.find(':').map(|i| i + 1))
        .filter(|&s| s <= at)
        .unwrap_or(0);
    let userinfo = &raw[start..at];
    let user = match userinfo.find(':') {
        Some(colon) => &userinfo[..=colon],
        None => "",
    };
    format!("{}{user}***{}", &raw[..start], &raw[at..])
}

/// A connection URL that may hold a password: `Debug` and `Display` show it redacted
/// ([`redact_url`]); it reads as the full `&str` only where a connection is made.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
}

impl std::ops::Deref for SecretUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnArgs")
            .field("amqp_url", &redact_url(&self.amqp_url))
            .field("redis_url", &redact_url(&self.redis_url))
            .field("namespace", &self.namespace)
            .field("provider", &self.provider)
            .finish()
    }
}

/// Checks both URLs before anything connects, so a malformed one stops the process at
/// start with one line naming the variable (password hidden) instead of failing, and
/// being logged, at every reconnection.
pub fn check_urls(args: &ConnArgs) -> Result<(), (&'static str, String)> {
    let amqp: Result<lapin::uri::AMQPUri, _> = args.amqp_url.parse();
    if amqp.is_err() || !args.amqp_url.contains("://") {
        return Err((
            "FLUXQ_AMQP_URL",
            format!(
                "not an AMQP URL (amqp://user:password@host:port/vhost): {}",
                redact_url(&args.amqp_url)
            ),
        ));
    }
    if redis::Client::open(args.redis_url.as_str()).is_err() {
        return Err((
            "FLUXQ_REDIS_URL",
            format!(
                "not a Redis URL (redis://[:password@]host:port/db): {}",
                redact_url(&args.redis_url)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        let cases = [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "amqp://guest:***@127.0.0.1:5672/%2f",
            ),
            ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
            ("amqp:u:pass@h", "amqp:u:***@h"),
            ("amqp://u:p@ss@h/", "amqp://u:***@h/"),
            ("u:pass@h", "u:***@h"),
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ];
        for (raw, want) in cases {
            let got = redact_url(raw);
            assert_eq!(got, want, "{raw}");
        }
    }
}
