//! Where each provider account is: the base URL and API key this worker was given,
//! per provider.

use fluxq_common::ProviderKind;
use url::Url;

use crate::secret::ApiKey;

/// A provider account's base URL and API key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Url,
    pub key: ApiKey,
}

/// The endpoints of the providers this worker has a key for, at most one each.
#[derive(Debug, Clone, Default)]
pub struct Endpoints(Vec<(ProviderKind, Endpoint)>);

impl Endpoints {
    /// `kind`'s endpoint, if it has a key here.
    pub fn get(&self, kind: ProviderKind) -> Option<&Endpoint> {
        self.iter().find(|(k, _)| *k == kind).map(|(_, e)| e)
    }

    /// Sets (or replaces) `kind`'s endpoint.
    pub fn set(&mut self, kind: ProviderKind, endpoint: Endpoint) {
        match self.0.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, e)) => *e = endpoint,
            None => self.0.push((kind, endpoint)),
        }
    }

    /// Every endpoint, with its provider.
    pub fn iter(&self) -> impl Iterator<Item = (ProviderKind, &Endpoint)> {
        self.0.iter().map(|(k, e)| (*k, e))
    }

    /// Whether no provider has a key here.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(ProviderKind, Endpoint)> for Endpoints {
    fn from_iter<I: IntoIterator<Item = (ProviderKind, Endpoint)>>(iter: I) -> Self {
        let mut endpoints = Self::default();
        for (kind, endpoint) in iter {
            endpoints.set(kind, endpoint);
        }
        endpoints
    }
}
