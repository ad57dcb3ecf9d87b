//! Model-based test of the job record's scripts: random sequences of events, run
//! through `RedisStore` against the real Redis, must do after every step what
//! `JobStatus::apply` and the lease and counter rules of `fluxq_common::state` say.
//!
//! Each case drives two jobs (in one batch, or in none) with claims, counted and
//! taken-back attempts, tasks, result charges, submits whose answer was lost,
//! retries, every final status, rejects, reopens, two workers competing for the lease, lease renewal, release and expiry,
//! the breaker, and duplicate deliveries (a step run twice). After each step it checks
//! that the script's reply accepted the event exactly when the model does (and why it
//! refused), then every job's status, attempts, charge, task and lease, the batch's
//! counters and cost, the failed set and the events stream. Redis is
//! `FLUXQ_TEST_REDIS_URL` or the local default; a fresh namespace per case, deleted after.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use fluxq_common::{
    Charge, JobEvent, JobSpec, JobStatus, LeaseUse, MicroUsd, Model, Names, OutputFormat,
    ProviderKind,
};
use fluxq_wire::store::{
    Claim, Counted, Finished, Gate, JobCancel, JobResume, Outcome, TaskRef, Written, connect,
};
use fluxq_wire::{RedisStore, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(60);
const BATCH: &str = "model";
const ACCOUNT: &str = "model";
const TASKS: [&str; 3] = ["task-1", "task-2", "task-3"];
const CHARGES: [u64; 3] = [0, 1_500, 45_000];

/// The two workers competing for a job's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    A,
    B,
}

impl Owner {
    fn name(self) -> &'static str {
        match self {
            Owner::A => "worker-a",
            Owner::B => "worker-b",
        }
    }
}

/// One thing that happens to job 0 or 1 (or to the account's breaker).
#[derive(Debug, Clone)]
enum Step {
    Create(usize),
    Claim(usize, Owner),
    Attempt(usize, Owner),
    /// `attempt` with delta -1: a counted submission the provider refused.
    Uncount(usize, Owner),
    /// Task id (index into [`TASKS`]) and charge.
    Task(usize, usize, u64),
    ResultCharge(usize, usize, u64),
    /// Whether the task is kept for the next delivery to resume.
    Retry(usize, Owner, bool),
    Finish(usize, Owner, JobStatus),
    Reject(usize),
    Reopen(usize),
    /// A submit whose answer was lost (`ambiguous`), with its call's token (a
    /// retried call repeats it): counted whatever the status or lease, once per token.
    Ambiguous(usize, usize),
    Renew(usize, Owner),
    Release(usize, Owner),
    Expire(usize),
    Breaker(bool),
    /// `cancel_job`: cancelled now, or (a task or a submission in flight) marked so
    /// the gate cancels it when it comes back there.
    Cancel(usize),
    /// `resume_job`: a cancelled job `queued` again.
    Resume(usize),
}

impl Step {
    /// The model's event for a step that runs one of the job's scripts.
    fn event(&self) -> Option<(usize, JobEvent, Option<Owner>)> {
        use JobEvent as E;
        Some(match *self {
            Step::Create(j) => (j, E::Create, None),
            Step::Claim(j, o) => (j, E::Start, Some(o)),
            Step::Attempt(j, o) => (j, E::Attempt, Some(o)),
            Step::Task(j, ..) => (j, E::Task, None),
            Step::ResultCharge(j, ..) => (j, E::ResultCharge, None),
            Step::Retry(j, o, _) => (j, E::Retry, Some(o)),
            Step::Finish(j, o, JobStatus::Succeeded) => (j, E::Succeed, Some(o)),
            Step::Finish(j, o, JobStatus::Moderated) => (j, E::Moderate, Some(o)),
            Step::Finish(j, o, _) => (j, E::Fail, Some(o)),
            Step::Reject(j) => (j, E::Reject, None),
            Step::Reopen(j) => (j, E::Reopen, None),
            _ => return None,
        })
    }
}

/// Why a script refused: what the model expects and what the reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Verdict {
    Accepted,
    /// The status does not allow the event (`apply` refuses it).
    Status,
    /// The lease is another execution's (or, for `reject`, anyone's).
    Lease,
    /// `attempt`: a task is recorded; `task`: that task id is the recorded one.
    TaskRecorded,
    /// `attempt`: the account's breaker is open.
    Breaker,
    /// `result_charge`: the task's charge was added already.
    Charged,
    /// A refusal whose reply does not say why (`result_charge`'s 0).
    Refused,
    /// `cancel_job`: a task or a submission is in flight; the job is only marked.
    InFlight,
    /// `attempt`: the job was marked cancelled; the gate cancelled it.
    Cancelled,
}

impl Verdict {
    fn agrees_with(self, model: Verdict) -> bool {
        self == model || (self == Verdict::Refused && model != Verdict::Accepted)
    }
}

/// What the model says one job's record holds.
#[derive(Debug, Clone, Default)]
struct JobModel {
    status: Option<JobStatus>,
    lease: Option<Owner>,
    attempts: i64,
    charged: u64,
    task: Option<String>,
    result_charged: HashSet<String>,
    /// What the batch's cost holds for this job (its charge when it became final).
    counted: u64,
    /// The job's entries in the events stream, in order.
    events: Vec<JobStatus>,
    /// `ambiguous_submits`, `unconfirmed_cost_micro_usd`, and the last call's token.
    ambiguous: i64,
    unconfirmed: i64,
    ambiguous_token: Option<usize>,
    /// `submit_pending`: the estimate of a submission that passed the gate, no task yet.
    pending: u64,
    /// `reserved_micro_usd`: the pending estimate and charges not yet in the cost.
    reserved: i64,
    /// `cancel_reason` set by a cancel of the job in flight.
    cancel_flag: bool,
}

/// The model: `JobStatus::apply` for the status, plus the lease and counters.
#[derive(Debug, Clone, Default)]
struct Sim {
    batched: bool,
    breaker_open: bool,
    jobs: [JobModel; 2],
    total: i64,
    finals: HashMap<JobStatus, i64>,
    cost: i64,
    failed_set: BTreeSet<usize>,
    /// The batch's `ambiguous_submits` and `unconfirmed_cost_micro_usd`.
    ambiguous: i64,
    unconfirmed: i64,
}

/// The price-table estimate an ambiguous submit of the model's job counts.
const ESTIMATE: u64 = 30_000;

impl Sim {
    /// Applies `step` to the model: `None` if the step is not run (a script that only
    /// ever runs on a claimed job, on a job with no record), else the reply expected.
    fn step(&mut self, step: &Step) -> Option<Verdict> {
        if let Some((j, event, owner)) = step.event() {
            return self.event(step, j, event, owner);
        }
        Some(match *step {
            Step::Uncount(j, o) => {
                let job = &mut self.jobs[j];
                // The worker takes back only a submission it counted.
                if job.status.is_none() || job.attempts == 0 {
                    return None;
                }
                if job.lease.is_some_and(|h| h != o) {
                    return Some(Verdict::Lease);
                }
                job.attempts -= 1;
                job.reserved -= job.pending as i64;
                job.pending = 0;
                Verdict::Accepted
            }
            Step::Cancel(j) => {
                let job = &mut self.jobs[j];
                let status = job.status?;
                if status.is_final() {
                    return Some(Verdict::Status);
                }
                if job.task.is_some() || job.pending > 0 {
                    job.cancel_flag = true;
                    return Some(Verdict::InFlight);
                }
                self.cancel_now(j);
                Verdict::Accepted
            }
            Step::Resume(j) => {
                let batched = self.batched;
                let job = &mut self.jobs[j];
                if job.status? != JobStatus::Cancelled {
                    return Some(Verdict::Status);
                }
                job.status = Some(JobStatus::Queued);
                job.cancel_flag = false;
                job.reserved += job.counted as i64;
                if batched {
                    *self.finals.entry(JobStatus::Cancelled).or_default() -= 1;
                    self.cost -= job.counted as i64;
                }
                job.counted = 0;
                Verdict::Accepted
            }
            Step::Renew(j, o) => {
                let job = &mut self.jobs[j];
                if job.lease.is_some_and(|h| h != o) {
                    return Some(Verdict::Lease);
                }
                job.lease = Some(o);
                Verdict::Accepted
            }
            Step::Release(j, o) => {
                let job = &mut self.jobs[j];
                if job.lease != Some(o) {
                    return Some(Verdict::Lease);
                }
                job.lease = None;
                Verdict::Accepted
            }
            Step::Expire(j) => {
                self.jobs[j].lease = None;
                Verdict::Accepted
            }
            Step::Ambiguous(j, token) => {
                let batched = self.batched;
                let job = &mut self.jobs[j];
                // Only ever run by a worker that claimed the job: its record exists.
                job.status?;
                if job.ambiguous_token != Some(token) {
                    job.ambiguous_token = Some(token);
                    job.ambiguous += 1;
                    job.unconfirmed += ESTIMATE as i64;
                    if batched {
                        self.ambiguous += 1;
                        self.unconfirmed += ESTIMATE as i64;
                    }
                }
                Verdict::Accepted
            }
            Step::Breaker(open) => {
                self.breaker_open = open;
                Verdict::Accepted
            }
            _ => return None,
        })
    }

    /// A job ends `cancelled` (`cancel_record`: whoever holds the lease).
    fn cancel_now(&mut self, j: usize) {
        let batched = self.batched;
        let job = &mut self.jobs[j];
        job.status = Some(JobStatus::Cancelled);
        job.lease = None;
        job.events.push(JobStatus::Cancelled);
        job.pending = 0;
        job.reserved = 0;
        if batched {
            job.counted = job.charged;
            *self.finals.entry(JobStatus::Cancelled).or_default() += 1;
            self.cost += job.charged as i64;
        }
    }

    /// The batch's `reserved_micro_usd`: its open jobs' reservations.
    fn reserved(&self) -> i64 {
        if !self.batched {
            return 0;
        }
        self.jobs.iter().map(|j| j.reserved).sum()
    }

    fn event(
        &mut self,
        step: &Step,
        j: usize,
        event: JobEvent,
        owner: Option<Owner>,
    ) -> Option<Verdict> {
        let fresh = self.jobs[j].status.is_none();
        if fresh {
            // Only the scripts that create a record run on a job without one.
            JobStatus::on_new_record(event)?;
            self.jobs[j].status = JobStatus::on_new_record(JobEvent::Create);
            if self.batched {
                self.total += 1;
            }
            if event == JobEvent::Create {
                return Some(Verdict::Accepted);
            }
        }
        let breaker_open = self.breaker_open;
        let job = &mut self.jobs[j];
        let from = job.status?;
        let lease_ok = match event.lease() {
            LeaseUse::Ignores => true,
            LeaseUse::Takes | LeaseUse::Frees => job.lease.is_none() || job.lease == owner,
            LeaseUse::NeedsNone => job.lease.is_none(),
            LeaseUse::Overrides => true,
        };
        // A script that creates the record acts on it as on a new record (`reject`
        // fails only a job it recorded itself).
        let next = match JobStatus::on_new_record(event) {
            Some(to) if fresh => Ok(to),
            _ => from.apply(event),
        };
        // `attempt` looks at the lease first, every other script at the status first.
        let refused = if event == JobEvent::Attempt && !lease_ok {
            Some(Verdict::Lease)
        } else if next.is_err() {
            Some(Verdict::Status)
        } else if !lease_ok {
            Some(Verdict::Lease)
        } else {
            match *step {
                Step::Attempt(..) if job.task.is_some() => Some(Verdict::TaskRecorded),
                Step::Attempt(..) if job.cancel_flag => Some(Verdict::Cancelled),
                Step::Attempt(..) if breaker_open => Some(Verdict::Breaker),
                Step::Task(_, t, _) if job.task.as_deref() == Some(TASKS[t]) => {
                    Some(Verdict::TaskRecorded)
                }
                Step::ResultCharge(_, t, _) if job.result_charged.contains(TASKS[t]) => {
                    Some(Verdict::Charged)
                }
                _ => None,
            }
        };
        if refused == Some(Verdict::Cancelled) {
            self.cancel_now(j);
            return refused;
        }
        let (Ok(next), None) = (next, refused) else {
            return refused;
        };
        match event.lease() {
            LeaseUse::Takes => job.lease = owner,
            LeaseUse::Frees | LeaseUse::Overrides => job.lease = None,
            LeaseUse::Ignores | LeaseUse::NeedsNone => {}
        }
        match *step {
            Step::Attempt(..) => {
                job.attempts += 1;
                job.reserved += ESTIMATE as i64 - job.pending as i64;
                job.pending = ESTIMATE;
            }
            Step::Task(_, t, c) => {
                job.task = Some(TASKS[t].to_owned());
                job.charged += c;
                if !from.is_final() {
                    job.reserved += c as i64 - job.pending as i64;
                    job.pending = 0;
                }
            }
            Step::ResultCharge(_, t, c) => {
                job.result_charged.insert(TASKS[t].to_owned());
                job.charged += c;
                job.reserved += c as i64;
            }
            Step::Retry(..) => {
                job.reserved -= job.pending as i64;
                job.pending = 0;
            }
            _ => {}
        }
        if matches!(*step, Step::Retry(_, _, false) | Step::Reopen(_)) {
            job.task = None;
        }
        job.status = Some(next);
        if next.is_final() && !from.is_final() {
            job.events.push(next);
            job.reserved = 0;
            job.pending = 0;
            if self.batched {
                job.counted = job.charged;
                *self.finals.entry(next).or_default() += 1;
                self.cost += job.charged as i64;
                if next == JobStatus::Failed {
                    self.failed_set.insert(j);
                }
            }
        }
        if event == JobEvent::Reopen {
            job.attempts = 0;
            if self.batched {
                *self.finals.entry(JobStatus::Failed).or_default() -= 1;
                self.cost -= job.counted as i64;
                job.counted = 0;
                self.failed_set.remove(&j);
            }
        }
        Some(Verdict::Accepted)
    }
}

/// A job as the producer would submit it.
fn spec(id: Uuid, batch: Option<&str>) -> JobSpec {
    JobSpec {
        id,
        batch: batch.map(str::to_owned),
        provider: ProviderKind::Bfl,
        model: Model::Flux2Pro,
        prompt: "a lighthouse at dusk".to_owned(),
        width: 1024,
        height: 1024,
        size: None,
        seed: None,
        steps: None,
        guidance: None,
        prompt_upsampling: None,
        reference_images: Vec::new(),
        output_format: OutputFormat::Jpeg,
        safety_tolerance: None,
        number_results: 1,
        metadata: None,
        callback_url: None,
        fingerprint: "model-test".to_owned(),
    }
}

/// The jobs and the batch of one case, in its own namespace.
struct Case<'a> {
    store: &'a RedisStore,
    ids: [Uuid; 2],
    batch: Option<&'static str>,
}

impl Case<'_> {
    /// Runs `step`'s script and reads its reply; `m` is the model after the step, to
    /// check what the reply carries (counts, task, charge, status).
    async fn run(&self, step: &Step, m: &Sim) -> Result<Verdict, String> {
        let err = |e: StoreError| e.to_string();
        let s = self.store;
        let names = s.names();
        let id = |j: usize| self.ids[j];
        let same = |what: &str, got: String, want: String| -> Result<(), String> {
            if got == want {
                Ok(())
            } else {
                Err(format!("reply's {what} is {got}, the model's {want}"))
            }
        };
        Ok(match *step {
            Step::Create(j) => match s.create_queued(&[spec(id(j), self.batch)]).await {
                Ok(1) => Verdict::Accepted,
                Ok(0) => Verdict::Status,
                other => return Err(format!("create replied {other:?}")),
            },
            Step::Claim(j, o) => match s.claim(&spec(id(j), self.batch), o.name(), LEASE).await {
                Ok(Claim::Claimed { attempts, task }) => {
                    let job = &m.jobs[j];
                    same("attempts", attempts.to_string(), job.attempts.to_string())?;
                    same(
                        "task",
                        format!("{:?}", task.map(|t| t.id)),
                        format!("{:?}", job.task),
                    )?;
                    Verdict::Accepted
                }
                Ok(Claim::Conflict { batch }) => {
                    return Err(format!(
                        "claim saw another message's fingerprint (batch {batch:?})"
                    ));
                }
                Ok(Claim::Final(st)) => {
                    same(
                        "status",
                        format!("{:?}", Some(st)),
                        format!("{:?}", m.jobs[j].status),
                    )?;
                    Verdict::Status
                }
                Ok(Claim::Busy) => Verdict::Lease,
                Err(e) => return Err(e.to_string()),
            },
            Step::Attempt(j, o) => {
                let breaker = names.breaker_key(ACCOUNT);
                let gate = Gate {
                    batch: self.batch,
                    breaker: &breaker,
                    estimate: MicroUsd(ESTIMATE),
                };
                match s.count_attempt(&id(j), &gate, o.name(), LEASE).await {
                    Ok(Counted::Attempt(n)) => {
                        same("attempts", n.to_string(), m.jobs[j].attempts.to_string())?;
                        Verdict::Accepted
                    }
                    Ok(Counted::NotOurs) => Verdict::Lease,
                    Ok(Counted::Blocked(_)) => Verdict::Breaker,
                    Ok(Counted::Final(st)) => {
                        same(
                            "status",
                            format!("{:?}", Some(st)),
                            format!("{:?}", m.jobs[j].status),
                        )?;
                        Verdict::Status
                    }
                    Ok(Counted::Cancelled { budget: false, .. }) => Verdict::Cancelled,
                    Ok(Counted::Cancelled { reason, .. }) => {
                        return Err(format!(
                            "the gate refused for a budget the batch does not have: {reason}"
                        ));
                    }
                    Ok(Counted::TaskRecorded(t)) => {
                        same(
                            "task",
                            format!("{:?}", Some(t)),
                            format!("{:?}", m.jobs[j].task),
                        )?;
                        Verdict::TaskRecorded
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            Step::Uncount(j, o) => match s.uncount_attempt(&id(j), o.name()).await.map_err(err)? {
                Some(n) => {
                    same("attempts", n.to_string(), m.jobs[j].attempts.to_string())?;
                    Verdict::Accepted
                }
                None => Verdict::Lease,
            },
            Step::Task(j, t, c) => {
                let task = TaskRef {
                    id: TASKS[t].to_owned(),
                    polling_url: format!("http://provider.test/poll/{t}"),
                };
                match s
                    .record_task(&id(j), &task, &Charge::Exact(MicroUsd(c)))
                    .await
                    .map_err(err)?
                {
                    Written::Done => Verdict::Accepted,
                    Written::AlreadyDone => Verdict::TaskRecorded,
                    Written::NotOurs => return Err("task replied with a lease refusal".into()),
                }
            }
            Step::ResultCharge(j, t, c) => {
                match s
                    .record_result_charge(&id(j), TASKS[t], &Charge::Exact(MicroUsd(c)))
                    .await
                {
                    Ok(Written::Done) => Verdict::Accepted,
                    Ok(_) => Verdict::Refused,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Step::Retry(j, o, keep) => {
                let written = s.set_retrying(&id(j), o.name(), "transient", keep).await;
                written_verdict(written.map_err(err)?)
            }
            Step::Finish(j, o, status) => {
                let outcome = Outcome {
                    status,
                    error: String::new(),
                    image_url: String::new(),
                    image_path: String::new(),
                };
                let f = s.finish(&id(j), self.batch, o.name(), &outcome).await;
                finished_verdict(f.map_err(err)?, &m.jobs[j])?
            }
            Step::Reject(j) => {
                let f = s.reject(&id(j), self.batch, "invalid message").await;
                finished_verdict(f.map_err(err)?, &m.jobs[j])?
            }
            Step::Reopen(j) => match s.reopen(&id(j), self.batch).await.map_err(err)? {
                true => Verdict::Accepted,
                false => Verdict::Status,
            },
            Step::Ambiguous(j, token) => {
                let token = Uuid::from_u128(token as u128 + 1);
                let a = s
                    .record_ambiguous_submit(&id(j), self.batch, MicroUsd(ESTIMATE), &token)
                    .await
                    .map_err(err)?;
                let job = &m.jobs[j];
                same(
                    "ambiguous submits",
                    a.submits.to_string(),
                    job.ambiguous.to_string(),
                )?;
                same(
                    "unconfirmed",
                    a.unconfirmed.0.to_string(),
                    job.unconfirmed.to_string(),
                )?;
                Verdict::Accepted
            }
            Step::Renew(j, o) => lease_verdict(s.renew_lease(&id(j), o.name(), LEASE).await)?,
            Step::Release(j, o) => lease_verdict(s.release_lease(&id(j), o.name()).await)?,
            Step::Expire(j) => {
                let key = names.lease_key(&id(j));
                let mut conn = s.connection();
                let _: bool = conn.pexpire(&key, 1).await.map_err(|e| e.to_string())?;
                while conn
                    .exists::<_, bool>(&key)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Verdict::Accepted
            }
            Step::Cancel(j) => match s.cancel_job(&id(j), "test").await.map_err(err)? {
                JobCancel::Cancelled => Verdict::Accepted,
                JobCancel::InFlight => Verdict::InFlight,
                JobCancel::Final(_) => Verdict::Status,
                JobCancel::Missing => return Err("cancel found no record".to_owned()),
            },
            Step::Resume(j) => match s.resume_job(&id(j)).await.map_err(err)? {
                JobResume::Reopened => Verdict::Accepted,
                JobResume::NotCancelled(_) => Verdict::Status,
                other => return Err(format!("resume: {other:?}")),
            },
            Step::Breaker(open) => {
                let key = names.breaker_key(ACCOUNT);
                let mut conn = s.connection();
                let done: redis::RedisResult<()> = if open {
                    conn.hset_multiple(&key, &[("since", "now"), ("reason", "test")])
                        .await
                } else {
                    conn.del(&key).await
                };
                done.map_err(|e| e.to_string())?;
                Verdict::Accepted
            }
        })
    }

    /// Compares everything the scripts keep with the model.
    async fn check(&self, m: &Sim) -> Result<(), String> {
        let names = self.store.names();
        let b = self.batch.unwrap_or("");
        let mut pipe = redis::pipe();
        for id in &self.ids {
            pipe.hgetall(names.job_key(id)).get(names.lease_key(id));
        }
        pipe.xrange_all(names.events_key())
            .smembers(names.batch_failed_key(b))
            .hgetall(names.batch_key(b))
            .zrange_withscores(names.batch_jobs_key(b), 0, -1);
        type Read = (
            HashMap<String, String>,
            Option<String>,
            HashMap<String, String>,
            Option<String>,
            StreamRangeReply,
            BTreeSet<String>,
            HashMap<String, String>,
            Vec<(String, i64)>,
        );
        let (r0, l0, r1, l1, events, failed, batch, index): Read = pipe
            .query_async(&mut self.store.connection())
            .await
            .map_err(|e| e.to_string())?;
        for (j, (record, lease)) in [(r0, l0), (r1, l1)].into_iter().enumerate() {
            let job = &m.jobs[j];
            let mine: Vec<String> = events
                .ids
                .iter()
                .filter(|e| e.get::<String>("id") == Some(self.ids[j].to_string()))
                .map(|e| e.get::<String>("status").unwrap_or_default())
                .collect();
            check_job(j, &record, lease, &mine, job)?;
        }
        let entries: usize = m.jobs.iter().map(|j| j.events.len()).sum();
        if events.ids.len() != entries {
            return Err(format!(
                "{} events, the model's {entries}",
                events.ids.len()
            ));
        }
        let want_failed: BTreeSet<String> = m
            .failed_set
            .iter()
            .map(|&j| self.ids[j].to_string())
            .collect();
        if failed != want_failed {
            return Err(format!(
                "failed set {failed:?}, the model's {want_failed:?}"
            ));
        }
        // The batch's index lists each job with a record in it once, at places 1..=total.
        let places: Vec<i64> = index.iter().map(|(_, p)| *p).collect();
        let indexed: BTreeSet<&String> = index.iter().map(|(id, _)| id).collect();
        let ids: BTreeSet<String> = self.ids.iter().map(Uuid::to_string).collect();
        if places != (1..=m.total).collect::<Vec<_>>() || !indexed.iter().all(|i| ids.contains(*i))
        {
            return Err(format!(
                "batch index {index:?}, the model's total is {}",
                m.total
            ));
        }
        if batch.is_empty() {
            return match m.total {
                0 => Ok(()),
                n => Err(format!("no batch, the model's total is {n}")),
            };
        }
        let num = |f: &str| match batch.get(f) {
            None => Ok(0),
            Some(v) => v.parse::<i64>().map_err(|_| format!("batch {f}={v:?}")),
        };
        let count = |s: JobStatus| m.finals.get(&s).copied().unwrap_or(0);
        let got = (
            num("total")?,
            num("succeeded")?,
            num("failed")?,
            num("moderated")?,
            num("cost_micro_usd")?,
        );
        let want = (
            m.total,
            count(JobStatus::Succeeded),
            count(JobStatus::Failed),
            count(JobStatus::Moderated),
            m.cost,
        );
        if got != want || got.1.min(got.2).min(got.3).min(got.4) < 0 {
            return Err(format!(
                "batch (total, succeeded, failed, moderated, cost) {got:?}, the model's {want:?}"
            ));
        }
        let unconfirmed = (
            num("ambiguous_submits")?,
            num("unconfirmed_cost_micro_usd")?,
        );
        if unconfirmed != (m.ambiguous, m.unconfirmed) {
            return Err(format!(
                "batch (ambiguous_submits, unconfirmed) {unconfirmed:?}, the model's {:?}",
                (m.ambiguous, m.unconfirmed)
            ));
        }
        let spend = (num("cancelled")?, num("reserved_micro_usd")?);
        let want_spend = (count(JobStatus::Cancelled), m.reserved());
        if spend != want_spend {
            return Err(format!(
                "batch (cancelled, reserved) {spend:?}, the model's {want_spend:?}"
            ));
        }
        let finished = got.0 > 0 && got.1 + got.2 + got.3 + spend.0 >= got.0;
        if batch.contains_key("finished_at") != finished {
            return Err(format!(
                "batch finished_at {:?} with {got:?}",
                batch.get("finished_at")
            ));
        }
        Ok(())
    }
}

fn check_job(
    j: usize,
    record: &HashMap<String, String>,
    lease: Option<String>,
    events: &[String],
    job: &JobModel,
) -> Result<(), String> {
    let field = |f: &str| record.get(f).map(String::as_str).filter(|v| !v.is_empty());
    let got = (
        field("status").map(str::to_owned),
        field("attempts").unwrap_or("0").to_owned(),
        field("charged_micro_usd").unwrap_or("0").to_owned(),
        field("provider_task_id").map(str::to_owned),
        lease,
    );
    let want = (
        job.status.map(|s| s.as_str().to_owned()),
        job.attempts.to_string(),
        job.charged.to_string(),
        job.task.clone(),
        job.lease.map(|o| o.name().to_owned()),
    );
    if job.status.is_none() && !record.is_empty() {
        return Err(format!("job {j} has a record {record:?}, the model none"));
    }
    if got != want {
        return Err(format!(
            "job {j} (status, attempts, charged, task, lease) {got:?}, the model's {want:?}"
        ));
    }
    let unconfirmed = (
        field("ambiguous_submits").unwrap_or("0").to_owned(),
        field("unconfirmed_cost_micro_usd")
            .unwrap_or("0")
            .to_owned(),
    );
    let want_unconfirmed = (job.ambiguous.to_string(), job.unconfirmed.to_string());
    if unconfirmed != want_unconfirmed {
        return Err(format!(
            "job {j} (ambiguous_submits, unconfirmed) {unconfirmed:?}, the model's {want_unconfirmed:?}"
        ));
    }
    let reserved = (
        field("reserved_micro_usd").unwrap_or("0").to_owned(),
        field("submit_pending").unwrap_or("0").to_owned(),
    );
    let want_reserved = (job.reserved.to_string(), job.pending.to_string());
    if reserved != want_reserved {
        return Err(format!(
            "job {j} (reserved, submit_pending) {reserved:?}, the model's {want_reserved:?}"
        ));
    }
    let want: Vec<&str> = job.events.iter().map(|s| s.as_str()).collect();
    if events != want.as_slice() {
        return Err(format!("job {j} events {events:?}, the model's {want:?}"));
    }
    Ok(())
}

fn written_verdict(w: Written) -> Verdict {
    match w {
        Written::Done => Verdict::Accepted,
        Written::AlreadyDone => Verdict::Status,
        Written::NotOurs => Verdict::Lease,
    }
}

fn finished_verdict(f: Finished, job: &JobModel) -> Result<Verdict, String> {
    if f.written == Written::Done && f.charged.0 != job.charged {
        return Err(format!(
            "finish charged {}, the model {}",
            f.charged.0, job.charged
        ));
    }
    Ok(written_verdict(f.written))
}

fn lease_verdict(r: Result<bool, StoreError>) -> Result<Verdict, String> {
    match r {
        Ok(true) => Ok(Verdict::Accepted),
        Ok(false) => Ok(Verdict::Lease),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs one case in a fresh namespace and deletes its keys, pass or fail.
async fn run_case(
    conn: &ConnectionManager,
    batched: bool,
    steps: &[(Step, bool)],
    seen: &Seen,
) -> Result<(), String> {
    let ns = format!("fluxq-model-{}", Uuid::new_v4().simple());
    let names = Names::new(&ns).map_err(|e| e.to_string())?;
    let store = RedisStore::new(conn.clone(), names.clone());
    let case = Case {
        store: &store,
        ids: [Uuid::new_v4(), Uuid::new_v4()],
        batch: batched.then_some(BATCH),
    };
    let result = drive(&case, batched, steps, seen).await;
    let b = case.batch.unwrap_or("");
    let mut keys = vec![
        names.batch_key(b),
        names.batch_failed_key(b),
        names.events_key(),
        names.breaker_key(ACCOUNT),
    ];
    for id in &case.ids {
        keys.extend([names.job_key(id), names.lease_key(id)]);
    }
    let deleted: redis::RedisResult<()> = conn.clone().del(keys).await;
    result?;
    deleted.map_err(|e| format!("deleting the case's keys: {e}"))
}

/// How often each step kind met each verdict of the model, over the whole run.
type Seen = RefCell<BTreeMap<(String, Verdict), u64>>;

async fn drive(
    case: &Case<'_>,
    batched: bool,
    steps: &[(Step, bool)],
    seen: &Seen,
) -> Result<(), String> {
    let mut m = Sim {
        batched,
        ..Sim::default()
    };
    for (i, (step, twice)) in steps.iter().enumerate() {
        for delivery in 0..=usize::from(*twice) {
            let at = format!("step {i} {step:?} (delivery {})", delivery + 1);
            let Some(want) = m.step(step) else { continue };
            let kind: String = format!("{step:?}")
                .chars()
                .take_while(|c| *c != '(')
                .collect();
            *seen.borrow_mut().entry((kind, want)).or_default() += 1;
            let got = case.run(step, &m).await.map_err(|e| format!("{at}: {e}"))?;
            if !got.agrees_with(want) {
                return Err(format!(
                    "{at}: the script replied {got:?}, the model says {want:?}"
                ));
            }
            case.check(&m).await.map_err(|e| format!("{at}: {e}"))?;
        }
    }
    Ok(())
}

fn job() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(0usize), 1 => Just(1usize)]
}

fn owner() -> impl Strategy<Value = Owner> {
    prop_oneof![Just(Owner::A), Just(Owner::B)]
}

fn task() -> impl Strategy<Value = usize> {
    0..TASKS.len()
}

fn charge() -> impl Strategy<Value = u64> {
    proptest::sample::select(CHARGES.to_vec())
}

fn step() -> impl Strategy<Value = Step> {
    // `cancelled` is entered by the cancel scripts and the gate, not `finish`.
    let finals = proptest::sample::select(vec![
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Moderated,
    ]);
    prop_oneof![
        1 => job().prop_map(Step::Create),
        4 => (job(), owner()).prop_map(|(j, o)| Step::Claim(j, o)),
        5 => (job(), owner()).prop_map(|(j, o)| Step::Attempt(j, o)),
        2 => (job(), owner()).prop_map(|(j, o)| Step::Uncount(j, o)),
        3 => (job(), task(), charge()).prop_map(|(j, t, c)| Step::Task(j, t, c)),
        3 => (job(), task(), charge()).prop_map(|(j, t, c)| Step::ResultCharge(j, t, c)),
        3 => (job(), owner(), any::<bool>()).prop_map(|(j, o, k)| Step::Retry(j, o, k)),
        3 => (job(), owner(), finals).prop_map(|(j, o, s)| Step::Finish(j, o, s)),
        1 => job().prop_map(Step::Reject),
        3 => job().prop_map(Step::Reopen),
        1 => (job(), owner()).prop_map(|(j, o)| Step::Renew(j, o)),
        2 => (job(), owner()).prop_map(|(j, o)| Step::Release(j, o)),
        2 => job().prop_map(Step::Expire),
        2 => (job(), 0..2usize).prop_map(|(j, t)| Step::Ambiguous(j, t)),
        2 => any::<bool>().prop_map(Step::Breaker),
        2 => job().prop_map(Step::Cancel),
        2 => job().prop_map(Step::Resume),
    ]
}

#[test]
fn the_scripts_do_what_the_state_model_says() {
    let url = std::env::var("FLUXQ_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let conn = rt.block_on(connect(&url)).unwrap_or_else(|e| {
        panic!("this test needs Redis at {url} (FLUXQ_TEST_REDIS_URL; scripts/ensure-services starts it): {e}")
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok());
    let config = Config {
        cases: cases.unwrap_or(96),
        failure_persistence: None,
        ..Config::default()
    };
    let strategy = (
        proptest::bool::weighted(0.8),
        proptest::collection::vec((step(), proptest::bool::weighted(0.15)), 1..32),
    );
    let seen = Seen::default();
    // The gate cancelling a job marked while its submission was in flight needs a
    // cancel between an attempt and the next one: rare in random sequences, so this
    // one is always run too (checked against the model like the others).
    let marked_then_refused = [
        Step::Claim(0, Owner::A),
        Step::Attempt(0, Owner::A),
        Step::Cancel(0),
        Step::Retry(0, Owner::A, false),
        Step::Claim(0, Owner::A),
        Step::Attempt(0, Owner::A),
        Step::Resume(0),
    ];
    let fixed: Vec<(Step, bool)> = marked_then_refused
        .into_iter()
        .map(|s| (s, false))
        .collect();
    for batched in [true, false] {
        if let Err(e) = rt.block_on(run_case(&conn, batched, &fixed, &seen)) {
            panic!("the scripts disagree with the model on the fixed sequence: {e}");
        }
    }
    let result = TestRunner::new(config).run(&strategy, |(batched, steps)| {
        rt.block_on(run_case(&conn, batched, &steps, &seen))
            .map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {
            let seen = seen.into_inner();
            for ((kind, verdict), n) in &seen {
                println!("{kind:>12} {verdict:?}: {n}");
            }
            // The sequences reach every refusal the model knows, not only the easy paths.
            let verdicts: BTreeSet<Verdict> = seen.keys().map(|(_, v)| *v).collect();
            let all = [
                Verdict::Accepted,
                Verdict::Status,
                Verdict::Lease,
                Verdict::TaskRecorded,
                Verdict::Breaker,
                Verdict::Charged,
                Verdict::InFlight,
                Verdict::Cancelled,
            ];
            assert_eq!(
                verdicts,
                BTreeSet::from(all),
                "verdicts the sequences reached"
            );
        }
        Err(TestError::Fail(reason, (batched, steps))) => {
            let listing: Vec<String> = steps
                .iter()
                .enumerate()
                .map(|(i, (s, twice))| format!("  {i}: {s:?}{}", if *twice { " x2" } else { "" }))
                .collect();
            panic!(
                "the scripts disagree with the model: {reason}\nminimal sequence (batched: {batched}):\n{}",
                listing.join("\n")
            );
        }
        Err(e) => panic!("{e}"),
    }
}
