//! Injected failures of image downloads: the first `download_fail_first` downloads
//! of each task, then `download_fail_rate` of the rest, are answered 500 or 503.

use uuid::Uuid;

use super::Sim;
use super::order::Fault;

impl Sim {
    /// Counts a download of task `id`'s image and says whether to fail it.
    pub fn download_gate(&self, id: Uuid) -> Result<(), Fault> {
        let mut inner = self.lock();
        let (first, rate) = (
            inner.config.download_fail_first,
            inner.config.download_fail_rate,
        );
        let Some(task) = inner.tasks.get_mut(&id) else {
            return Ok(());
        };
        task.downloads = task.downloads.saturating_add(1);
        let rate = if task.downloads <= first { 1.0 } else { rate };
        match inner.draw_fault(rate) {
            Some(fault) => {
                inner.stats.download_errors += 1;
                Err(fault)
            }
            None => Ok(()),
        }
    }
}
