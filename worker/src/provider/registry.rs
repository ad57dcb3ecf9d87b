//! The registry of providers: what registering one takes ([`Registered`]), the
//! [`register!`] macro that turns one line per provider into the [`super::Client`]
//! enum and the [`super::REGISTERED`] list, and [`Providers`], the clients this
//! process has keys for.

use fluxq_common::{Failure, ProviderKind};

use super::fetch::Http;
use super::{Client, Endpoint, Endpoints, Provider, REGISTERED, not_configured};

/// How a provider is configured: its name in messages, and the flag, environment
/// variable (and default) of its API key and base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The provider's name in help texts (`BFL`).
    pub name: &'static str,
    /// The API key's flag (`bfl-api-key`) and variable (`BFL_API_KEY`).
    pub key_flag: &'static str,
    pub key_env: &'static str,
    /// The base URL's flag (`bfl-url`), variable (`FLUXQ_BFL_URL`) and default.
    pub url_flag: &'static str,
    pub url_env: &'static str,
    pub default_url: &'static str,
}

/// What the registry needs of a provider's client beyond its role: its settings, and
/// how to build it for one account.
pub trait Registered: Provider + Sized {
    const SETTINGS: Settings;
    /// The client for the account at `endpoint`, sending through `http`.
    fn build(endpoint: Endpoint, http: Http) -> Self;
}

/// A registered provider: its kind and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub kind: ProviderKind,
    pub settings: Settings,
}

/// `kind`'s registration; `None` for a provider no module of this worker serves.
pub fn registration(kind: ProviderKind) -> Option<&'static Registration> {
    REGISTERED.iter().find(|r| r.kind == kind)
}

/// Registers providers, one line each: `Kind(module::ClientType)`, where `Kind` is the
/// [`ProviderKind`] variant and the client implements [`Registered`]. Makes the
/// `Client` enum (one variant per provider, itself a [`Provider`] that dispatches to
/// the variant's client) and `REGISTERED`, the list every provider's configuration,
/// limits and metrics are built from.
macro_rules! register {
    ($($kind:ident($client:ty)),+ $(,)?) => {
        /// The client of one registered provider.
        #[derive(Debug, Clone)]
        pub enum Client {
            $($kind($client),)+
        }

        /// Every provider this worker can run jobs at, in registration order.
        pub const REGISTERED: &[$crate::provider::Registration] = &[$(
            $crate::provider::Registration {
                kind: ::fluxq_common::ProviderKind::$kind,
                settings: <$client as $crate::provider::Registered>::SETTINGS,
            },
        )+];

        impl Client {
            /// The client for `kind`'s account at `endpoint`; `None` for a provider no
            /// module of this worker serves.
            pub fn build(
                kind: ::fluxq_common::ProviderKind,
                endpoint: $crate::provider::Endpoint,
                http: $crate::provider::fetch::Http,
            ) -> Option<Self> {
                use $crate::provider::Registered;
                match kind {
                    $(::fluxq_common::ProviderKind::$kind => {
                        Some(Self::$kind(<$client>::build(endpoint, http)))
                    })+
                    // A provider the domain knows before a module here serves it.
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// Which provider this is.
            pub fn kind(&self) -> ::fluxq_common::ProviderKind {
                match self {
                    $(Self::$kind(_) => ::fluxq_common::ProviderKind::$kind,)+
                }
            }
        }

        impl $crate::provider::Provider for Client {
            async fn submit(
                &self,
                job: &::fluxq_common::JobSpec,
                task_id: ::uuid::Uuid,
                attempt: u32,
            ) -> Result<$crate::provider::Submitted, ::fluxq_common::Failure> {
                match self {
                    $(Self::$kind(p) => p.submit(job, task_id, attempt).await,)+
                }
            }

            async fn poll(
                &self,
                job: &::fluxq_common::JobSpec,
                task: &$crate::provider::Task,
            ) -> Result<$crate::provider::PollStatus, ::fluxq_common::Failure> {
                match self {
                    $(Self::$kind(p) => p.poll(job, task).await,)+
                }
            }

            async fn download(
                &self,
                url: &str,
                expected: ::fluxq_common::OutputFormat,
            ) -> Result<$crate::provider::Image, ::fluxq_common::Failure> {
                match self {
                    $(Self::$kind(p) => p.download(url, expected).await,)+
                }
            }

            async fn probe(&self) -> Result<(), ::fluxq_common::Failure> {
                match self {
                    $(Self::$kind(p) => p.probe().await,)+
                }
            }

            fn chooses_task_id(&self) -> bool {
                match self {
                    $(Self::$kind(p) => p.chooses_task_id(),)+
                }
            }

            fn idempotent_submit(&self) -> bool {
                match self {
                    $(Self::$kind(p) => p.idempotent_submit(),)+
                }
            }

            fn charges_with_result(&self) -> bool {
                match self {
                    $(Self::$kind(p) => p.charges_with_result(),)+
                }
            }
        }
    };
}
pub(super) use register;

/// The providers this process has keys for, one client each.
#[derive(Debug, Default)]
pub struct Providers(Vec<Client>);

impl Providers {
    /// A client for every provider in `endpoints` that this worker serves, all
    /// sending through `http`.
    pub fn connect(endpoints: &Endpoints, http: &Http) -> Self {
        let clients = endpoints
            .iter()
            .filter_map(|(kind, e)| Client::build(kind, e.clone(), http.clone()));
        Self(clients.collect())
    }

    /// Whether no provider can run jobs here.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether jobs for `kind` can run here.
    pub fn has(&self, kind: ProviderKind) -> bool {
        self.get(kind).is_some()
    }

    /// `kind`'s client, if it has a key here.
    pub fn get(&self, kind: ProviderKind) -> Option<&Client> {
        self.0.iter().find(|c| c.kind() == kind)
    }

    /// Checks that `kind`'s account can work again (for the breaker).
    pub async fn probe(&self, kind: ProviderKind) -> Result<(), Failure> {
        match self.get(kind) {
            Some(client) => client.probe().await,
            None => Err(not_configured(kind)),
        }
    }
}

/// The key variables of every registered provider, for messages (`BFL_API_KEY, …`).
pub fn key_variables() -> String {
    let vars: Vec<&str> = REGISTERED.iter().map(|r| r.settings.key_env).collect();
    vars.join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::secret::ApiKey;

    #[test]
    fn each_provider_is_registered_once_with_its_own_flags_and_variables() {
        let mut kinds = HashSet::new();
        let mut names = HashSet::new();
        for r in REGISTERED {
            assert!(kinds.insert(r.kind), "{} registered twice", r.kind);
            let s = r.settings;
            for name in [s.key_flag, s.key_env, s.url_flag, s.url_env] {
                assert!(names.insert(name), "{name} is used twice");
            }
            let url = url::Url::parse(s.default_url);
            assert!(url.is_ok(), "{}: bad default URL", r.kind);
            assert_eq!(registration(r.kind), Some(r));
        }
    }

    #[test]
    fn a_client_is_built_for_each_provider_with_a_key_and_none_without() {
        let http = Http::new(reqwest::Client::new(), 1, Vec::new());
        let endpoint = |r: &Registration| Endpoint {
            url: r
                .settings
                .default_url
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            key: ApiKey::new("sk-test"),
        };
        let all: Endpoints = REGISTERED.iter().map(|r| (r.kind, endpoint(r))).collect();
        let providers = Providers::connect(&all, &http);
        for r in REGISTERED {
            assert_eq!(providers.get(r.kind).map(Client::kind), Some(r.kind));
            let one: Endpoints = [(r.kind, endpoint(r))].into_iter().collect();
            let only = Providers::connect(&one, &http);
            for other in REGISTERED {
                assert_eq!(only.has(other.kind), other.kind == r.kind);
            }
        }
        assert!(Providers::connect(&Endpoints::default(), &http).is_empty());
    }

    #[test]
    fn a_provider_without_a_key_names_its_variable() {
        assert_eq!(
            not_configured(ProviderKind::Runware).reason,
            "provider runware is not configured on this worker (RUNWARE_API_KEY is not set)"
        );
        assert_eq!(
            key_variables(),
            "BFL_API_KEY, RUNWARE_API_KEY, RUNFLOW_API_KEY"
        );
    }
}
