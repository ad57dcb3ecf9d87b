//! The provider flags and variables: for every registered provider (see
//! [`crate::provider::REGISTERED`]) its API key (`--bfl-api-key`, `BFL_API_KEY`) and
//! base URL (`--bfl-url`, `FLUXQ_BFL_URL`), made from its settings rather than
//! written out here.

use clap::error::ErrorKind;
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use fluxq_common::ProviderKind;
use url::Url;

use crate::provider::{Endpoint, Endpoints, REGISTERED};
use crate::secret::ApiKey;

/// The key (if any) and base URL given for every registered provider.
#[derive(Debug, Clone)]
pub struct ProviderArgs(Vec<Given>);

#[derive(Debug, Clone)]
struct Given {
    kind: ProviderKind,
    key: Option<ApiKey>,
    url: Url,
}

impl ProviderArgs {
    /// Forgets every key (the defaults have none, whatever the environment says).
    pub fn clear_keys(&mut self) {
        for given in &mut self.0 {
            given.key = None;
        }
    }

    /// The endpoints of the providers given a key.
    pub fn into_endpoints(self) -> Endpoints {
        self.0
            .into_iter()
            .filter_map(|g| g.key.map(|key| (g.kind, Endpoint { url: g.url, key })))
            .collect()
    }
}

fn parse_key(s: &str) -> Result<ApiKey, String> {
    let k = s.trim();
    if k.is_empty() {
        return Err("an API key must not be empty".into());
    }
    Ok(ApiKey::new(k))
}

impl Args for ProviderArgs {
    fn augment_args(cmd: Command) -> Command {
        REGISTERED.iter().fold(cmd, |cmd, r| {
            let s = r.settings;
            let key = Arg::new(s.key_flag)
                .long(s.key_flag)
                .env(s.key_env)
                .hide_env_values(true)
                .value_name("KEY")
                .value_parser(parse_key)
                .help(format!(
                    "{} API key (required to run jobs against {})",
                    s.name, s.name
                ));
            let url = Arg::new(s.url_flag)
                .long(s.url_flag)
                .env(s.url_env)
                .default_value(s.default_url)
                .value_name("URL")
                .value_parser(Url::parse)
                .help(format!(
                    "{} base URL (point it at the mock provider for demos and tests)",
                    s.name
                ));
            cmd.arg(key).arg(url)
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ProviderArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let read = |e: clap::parser::MatchesError| clap::Error::raw(ErrorKind::ValueValidation, e);
        let mut given = Vec::with_capacity(REGISTERED.len());
        for r in REGISTERED {
            let s = r.settings;
            let key = m.try_get_one::<ApiKey>(s.key_flag).map_err(read)?.cloned();
            let url = m.try_get_one::<Url>(s.url_flag).map_err(read)?.cloned();
            let url = url.ok_or_else(|| {
                clap::Error::raw(
                    ErrorKind::MissingRequiredArgument,
                    format!("--{} is required", s.url_flag),
                )
            })?;
            given.push(Given {
                kind: r.kind,
                key,
                url,
            });
        }
        Ok(Self(given))
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}
