//! The last requests of one kind received, exactly as sent (bounded), so tests can
//! snapshot the JSON a client produced: Runware's `imageInference` tasks
//! ([`crate::MockProvider::runware_requests`], `GET /_mock/runware/requests`) and
//! Runflow's run creations ([`crate::MockProvider::runflow_requests`],
//! `GET /_mock/runflow/requests`).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

/// How many entries are kept.
const CAPACITY: usize = 256;

/// Received requests, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    tasks: Mutex<VecDeque<Value>>,
}

impl Journal {
    pub fn push(&self, task: Value) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.push_back(task);
        while tasks.len() > CAPACITY {
            tasks.pop_front();
        }
    }

    pub fn all(&self) -> Vec<Value> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.iter().cloned().collect()
    }
}
