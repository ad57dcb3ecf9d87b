//! A provider account's daily budget (`FLUXQ_DAILY_BUDGET_USD`, or the override
//! `producer daily-budget` writes to `{ns}:daily_budget`), fleet-wide, per UTC day.
//!
//! Before a submit the job's price-table estimate is reserved (`daily_reserve.lua`)
//! against `budget - spent today - reserved`; one that does not fit opens the
//! account's breaker with `daily budget of X USD reached`, so jobs wait in RabbitMQ as
//! for a 402. The reservation is replaced by the real charge when the job's record
//! counts it (`daily_charge.lua`: at submit for BFL, with the result for Runware and
//! Runflow), or released when the task ends without one. The breaker closes
//! (`daily_reopen.lua`) at the next UTC day, or once the budget has room again.

use std::time::Duration;

use fluxq_common::{MicroUsd, Names};
use redis::Script;
use redis::aio::ConnectionManager;
use uuid::Uuid;

use fluxq_wire::StoreError;

use super::now_ms;

/// How long a reservation outlives a job that never comes back (its worker died and
/// its message went elsewhere): long past any task's life.
pub const RESERVATION_TTL: Duration = Duration::from_secs(2 * 3600);
/// How long a day's spend is kept after its last charge.
pub const SPEND_TTL: Duration = Duration::from_secs(2 * 86_400);

/// What the gate before a submit decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The estimate is reserved (or there is no budget): the submit may go.
    Yes,
    /// No room: the breaker is open with this reason.
    Refused(String),
    /// The breaker is open for another reason (402, 403): nothing was reserved.
    Blocked(String),
}

/// One account's daily budget.
#[derive(Clone)]
pub struct DailyBudget {
    conn: ConnectionManager,
    names: Names,
    account: String,
    /// `FLUXQ_DAILY_BUDGET_USD` (0: none), unless `{ns}:daily_budget` overrides it.
    configured: MicroUsd,
    reserve: Script,
    charge: Script,
    reopen: Script,
}

impl std::fmt::Debug for DailyBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DailyBudget")
            .field("account", &self.account)
            .field("configured", &self.configured)
            .finish()
    }
}

/// Today's date in UTC, as the spend keys name it.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl DailyBudget {
    pub fn new(conn: ConnectionManager, names: Names, account: &str, configured: MicroUsd) -> Self {
        Self {
            conn,
            names,
            account: account.to_owned(),
            configured,
            reserve: fluxq_wire::lua::script(include_str!("lua/daily_reserve.lua")),
            charge: fluxq_wire::lua::script(include_str!("lua/daily_charge.lua")),
            reopen: fluxq_wire::lua::script(include_str!("lua/daily_reopen.lua")),
        }
    }

    /// Reserves `estimate` for job `id` before its submit, or refuses and opens the
    /// breaker (the hash at `breaker`) when the day's budget has no room for it. A
    /// breaker the budget opened does not stop the submit gate (a job holding a
    /// reservation is within the budget): this is where the budget is enforced.
    pub async fn reserve(
        &self,
        id: &Uuid,
        estimate: MicroUsd,
        breaker: &str,
    ) -> Result<Reserved, StoreError> {
        let day = today();
        let (ok, reason): (i64, String) = self
            .reserve
            .key(self.names.daily_spend_key(&self.account, &day))
            .key(self.names.daily_reserved_key(&self.account))
            .key(breaker)
            .key(self.names.daily_budget_key())
            .key(self.names.limiter_key(&self.account, "state"))
            .arg(id.to_string())
            .arg(estimate.0)
            .arg(self.configured.0)
            .arg(now_ms())
            .arg(RESERVATION_TTL.as_millis() as u64)
            .arg(fluxq_wire::now_rfc3339())
            .arg(day)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match ok {
            1 => Reserved::Yes,
            0 => Reserved::Refused(reason),
            _ => Reserved::Blocked(reason),
        })
    }

    /// Job `id`'s charge is counted in its record: its reservation is replaced by
    /// `charge` in today's spend (0: only released). Returns the day's spend.
    pub async fn charged(&self, id: &Uuid, charge: MicroUsd) -> Result<MicroUsd, StoreError> {
        let spent: u64 = self
            .charge
            .key(self.names.daily_spend_key(&self.account, &today()))
            .key(self.names.daily_reserved_key(&self.account))
            .arg(id.to_string())
            .arg(charge.0)
            .arg(SPEND_TTL.as_secs())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(MicroUsd(spent))
    }

    /// Closes the breaker at `breaker` if the daily budget opened it and has room
    /// again. `None` if the breaker is not the daily budget's (or is closed).
    pub async fn reopen(&self, breaker: &str) -> Result<Option<bool>, StoreError> {
        let day = today();
        let code: i64 = self
            .reopen
            .key(breaker)
            .key(self.names.daily_spend_key(&self.account, &day))
            .key(self.names.daily_reserved_key(&self.account))
            .key(self.names.daily_budget_key())
            .arg(self.configured.0)
            .arg(now_ms())
            .arg(day)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match code {
            -1 => None,
            n => Some(n == 1),
        })
    }
}
