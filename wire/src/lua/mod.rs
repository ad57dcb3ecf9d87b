//! The one way fluxq loads a Redis script: its body behind the shared library
//! (`lib.lua`), so every rule of the job record is written once. The job record's
//! scripts are loaded once per process ([`JobScripts::get`]); other scripts (the
//! limiter's) are loaded with [`script`] next to their callers.

use std::sync::LazyLock;

use redis::Script;

/// The Lua functions every script may call (`is_final`, `lease_is_ours`, `fmt_usd`,
/// `create_record`, `finish_job`, and the reservation and cancel helpers).
pub const LIB: &str = include_str!("lib.lua");

/// A script whose body may call the shared library's functions.
pub fn script(body: &str) -> Script {
    Script::new(&format!("{LIB}\n{body}"))
}

/// Every script of the job record, each documented in its file (KEYS, ARGV, reply).
pub struct JobScripts {
    /// Creates a `queued` record unless one exists (the producer, before publishing).
    pub create: Script,
    /// Creates the record if missing and takes the job's lease (a worker, on delivery).
    pub claim: Script,
    /// The gate before every submit: counts the attempt only if it may be sent.
    pub attempt: Script,
    /// Records an accepted provider task and its charge, once per task id.
    pub task: Script,
    /// `retrying`, with the error, lease freed.
    pub retrying: Script,
    /// The final status, counters, cost, failed set and event, exactly once.
    pub finish: Script,
    /// Fails the job of an invalid message.
    pub reject: Script,
    /// Reopens a failed job for a replay.
    pub reopen: Script,
    /// Renews or releases a lease.
    pub lease: Script,
    /// The Runware taskUUID a job submits under.
    pub task_uuid: Script,
    /// A charge reported with a result, once per task.
    pub result_charge: Script,
    /// Counts a paid image that could not be downloaded (`repaid.lua`).
    pub repaid: Script,
    /// Counts a submit whose answer was lost, in the job and its batch (`ambiguous.lua`).
    pub ambiguous: Script,
    /// Cancels a batch, one chunk of its jobs per call (`cancel_batch.lua`).
    pub cancel_batch: Script,
    /// Cancels one job, or marks it for the gate if it is in flight (`cancel_job.lua`).
    pub cancel_job: Script,
    /// Reopens a batch's cancelled jobs, one chunk per call (`resume.lua`).
    pub resume: Script,
    /// Reopens one cancelled job (`resume_job.lua`).
    pub resume_job: Script,
    /// Sets a batch's budget (`budget.lua`).
    pub budget: Script,
    /// Keeps a cancelled job's message for a resume (`park.lua`).
    pub park: Script,
}

impl std::fmt::Debug for JobScripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobScripts")
    }
}

static JOB_SCRIPTS: LazyLock<JobScripts> = LazyLock::new(|| JobScripts {
    create: script(include_str!("create.lua")),
    claim: script(include_str!("claim.lua")),
    attempt: script(include_str!("attempt.lua")),
    task: script(include_str!("task.lua")),
    retrying: script(include_str!("retrying.lua")),
    finish: script(include_str!("finish.lua")),
    reject: script(include_str!("reject.lua")),
    reopen: script(include_str!("reopen.lua")),
    lease: script(include_str!("lease.lua")),
    task_uuid: script(include_str!("task_uuid.lua")),
    result_charge: script(include_str!("result_charge.lua")),
    repaid: script(include_str!("repaid.lua")),
    ambiguous: script(include_str!("ambiguous.lua")),
    cancel_batch: script(include_str!("cancel_batch.lua")),
    cancel_job: script(include_str!("cancel_job.lua")),
    resume: script(include_str!("resume.lua")),
    resume_job: script(include_str!("resume_job.lua")),
    budget: script(include_str!("budget.lua")),
    park: script(include_str!("park.lua")),
});

impl JobScripts {
    /// The scripts, built once per process.
    pub fn get() -> &'static JobScripts {
        &JOB_SCRIPTS
    }
}
