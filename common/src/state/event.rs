//! What can happen to a job, each event being one of the job record's Lua scripts.

/// What happens to a job. Each event is one run of a script of the job record
/// (`{ns}:job:{id}`); [`JobStatus::apply`](super::JobStatus::apply) says what it does
/// to the status. Scripts that never look at or change the status are not events:
/// `lease` (renew or release the lease), `task_uuid`, and `attempt` with delta -1
/// (taking back a submission the provider refused; refused, -1, only while another
/// execution holds the lease).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobEvent {
    /// `create`: the producer records a submitted job as `queued` (reply 1). Refused
    /// (0) if the record exists, in any status, so resubmitting a job changes nothing.
    Create,
    /// `claim`: a worker picks the job up (first time, after a retry delay, or
    /// redelivered) and takes its lease (reply `claimed`). Refused if the job is final
    /// (`final`) or another execution holds the lease (`busy`). Creates the record
    /// first if the producer did not.
    Start,
    /// `attempt` with delta 1: the gate before a provider submission, counting it in
    /// `attempts` (reply: the new count). Refused if the job is final (-3), another execution holds the lease
    /// (-1), a provider task is recorded (-4; that task is resumed instead) or the
    /// account's breaker is open (-2). The status is left as it is.
    Attempt,
    /// `task`: records a task the provider accepted and adds its charge (reply 1), in
    /// every status (a paid task is never left unrecorded, even on a job another
    /// execution finished). Refused (0) only for the task id already recorded. The
    /// status is left as it is.
    Task,
    /// `result_charge`: adds a charge reported with a task's result (reply 1), once per
    /// task id. Refused (0) if the job is final or the task's charge was added. The
    /// status is left as it is.
    ResultCharge,
    /// `retrying`: a transient failure; the job waits (in a delay queue, or in its lane
    /// while the account is blocked) for another attempt (reply 1). Refused if the job
    /// is final (0) or another execution holds the lease (-1).
    Retry,
    /// `finish` with status `succeeded`: the image is stored and the cost recorded
    /// (reply `{1, charged}`). Refused, like every `finish`, if the job is final (`{0}`)
    /// or another execution holds the lease (`{-1}`).
    Succeed,
    /// `finish` with status `failed`: it can never succeed (permanent error, attempts
    /// exhausted).
    Fail,
    /// `finish` with status `moderated`: the provider refused the prompt or the image.
    Moderate,
    /// `reject`: the message is not a valid job. Only a job with no record fails
    /// (without an execution; the record is created first); a record that exists
    /// belongs to the job's first valid message and is left alone (`{0}`), so an
    /// invalid message that reuses a live job's id cannot fail it. Replies as
    /// `finish` does.
    Reject,
    /// `reopen`: `producer replay-dead` gives a failed job another life: `queued`
    /// again, attempts back to 0, its batch's `failed` count and cost taken back
    /// (reply 1). Refused (0) unless the job is `failed`.
    Reopen,
    /// `cancel_batch`, `cancel_job`, or `attempt` refusing a job of a cancelled batch
    /// or one whose reservation does not fit its batch's budget: the job ends
    /// `cancelled` (reply 1, as `finish` does). Refused if the job is final; the
    /// cancel scripts also leave a job with a provider task or a submission in flight
    /// to its worker.
    Cancel,
    /// `resume` (or `budget` raised): a `cancelled` job is `queued` again, its batch's
    /// `cancelled` count and cost taken back. Refused unless the job is `cancelled`.
    Resume,
}

/// What an event's script does with the job's lease (`{ns}:lease:{id}`). An event the
/// lease refuses changes nothing, whatever [`JobStatus::apply`](super::JobStatus::apply)
/// says of the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaseUse {
    /// Does not look at the lease (`create`, `task`, `result_charge`, `reopen`).
    Ignores,
    /// Refused while another execution holds the lease; else takes it for this
    /// execution (`claim` always, `attempt` when nobody holds it).
    Takes,
    /// Refused while another execution holds the lease; else frees it (`retrying`,
    /// `finish`).
    Frees,
    /// Refused while any execution holds the lease, as it runs for none (`reject`).
    NeedsNone,
    /// Accepted whoever holds the lease, and frees it (`cancel`).
    Overrides,
}

impl JobEvent {
    /// Every event, for tests that drive the scripts with random sequences.
    pub const ALL: [JobEvent; 13] = [
        JobEvent::Create,
        JobEvent::Start,
        JobEvent::Attempt,
        JobEvent::Task,
        JobEvent::ResultCharge,
        JobEvent::Retry,
        JobEvent::Succeed,
        JobEvent::Fail,
        JobEvent::Moderate,
        JobEvent::Reject,
        JobEvent::Reopen,
        JobEvent::Cancel,
        JobEvent::Resume,
    ];

    /// How the event's script treats the job's lease. The status checks come first
    /// in every script but `attempt`, which checks the lease first; either way a
    /// refusal changes nothing.
    pub fn lease(self) -> LeaseUse {
        match self {
            JobEvent::Create
            | JobEvent::Task
            | JobEvent::ResultCharge
            | JobEvent::Reopen
            | JobEvent::Resume => LeaseUse::Ignores,
            // Cancelling is an operator's act: it ends a job whoever holds the lease
            // (before the gate, so nothing is in flight) and frees the lease.
            JobEvent::Cancel => LeaseUse::Overrides,
            JobEvent::Start | JobEvent::Attempt => LeaseUse::Takes,
            JobEvent::Retry | JobEvent::Succeed | JobEvent::Fail | JobEvent::Moderate => {
                LeaseUse::Frees
            }
            JobEvent::Reject => LeaseUse::NeedsNone,
        }
    }
}
