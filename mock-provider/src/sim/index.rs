//! Searching runs by the client's correlation id (Runflow's `client_ref`), and the
//! indexes behind it and behind `Idempotency-Key`s, kept as tasks come and go.

use uuid::Uuid;

use super::api::Api;
use super::order::Fault;
use super::task::{Task, TaskView};
use super::{Inner, Sim};

impl Sim {
    /// The tasks `api` accepted with `client_ref` (every one of them when `None`),
    /// newest first, at most `limit`; or an injected fault (`lookup_fail_rate`).
    pub fn search(
        &self,
        api: Api,
        client_ref: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(Uuid, TaskView)>, Fault> {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.stats.provider_mut(api).lookups += 1;
        let rate = inner.config.lookup_fail_rate;
        if let Some(fault) = inner.draw_fault(rate) {
            inner.stats.lookup_errors += 1;
            return Err(fault);
        }
        let ids: Vec<Uuid> = match client_ref {
            Some(r) => inner
                .refs
                .get(&(api, r.to_owned()))
                .cloned()
                .unwrap_or_default(),
            None => inner
                .tasks
                .iter()
                .filter(|(_, t)| t.api == api)
                .map(|(id, _)| *id)
                .collect(),
        };
        let mut found: Vec<(Uuid, TaskView)> = ids
            .into_iter()
            .filter_map(|id| inner.tasks.get(&id).map(|t| (id, TaskView::of(t, now))))
            .collect();
        found.sort_by_key(|(id, view)| std::cmp::Reverse((view.submitted_ms, *id)));
        found.truncate(limit);
        Ok(found)
    }
}

impl Inner {
    /// Makes task `id` findable by `client_ref`.
    pub(super) fn index(&mut self, api: Api, client_ref: &str, id: Uuid) {
        self.refs
            .entry((api, client_ref.to_owned()))
            .or_default()
            .push(id);
    }

    /// Drops a forgotten task from the indexes.
    pub(super) fn unindex(&mut self, id: Uuid, task: &Task) {
        if let Some(client_ref) = &task.client_ref {
            let key = (task.api, client_ref.clone());
            if let Some(ids) = self.refs.get_mut(&key) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.refs.remove(&key);
                }
            }
        }
        if let Some(key) = &task.idempotency_key
            && self.idempotency.get(key).is_some_and(|(_, i)| *i == id)
        {
            self.idempotency.remove(key);
        }
    }
}
