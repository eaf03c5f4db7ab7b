//! The "when it runs" fields shared by scheduled imports and exports: every, at (UTC),
//! weekday and day, read back into the API's schedule.

use super::form::Form;
use crate::domain::schedule::Schedule;

/// The choices of `every`, as stored (shown translated).
pub(super) const EVERY: [&str; 6] = ["once", "hourly", "daily", "weekly", "monthly", "never"];

/// A schedule as the form shows it (`prefix_every`, `prefix_at`, …).
pub struct ScheduleForm {
    pub prefix: &'static str,
    pub choices: [&'static str; 6],
    pub every: String,
    pub at: String,
    pub weekday: String,
    pub day: String,
}

impl ScheduleForm {
    pub fn of(prefix: &'static str, s: Option<&Schedule>) -> Self {
        ScheduleForm {
            prefix,
            choices: EVERY,
            every: s.map(|s| s.every.clone()).unwrap_or_else(|| "daily".into()),
            at: s.and_then(|s| s.at.clone()).unwrap_or_default(),
            weekday: s
                .and_then(|s| s.weekday)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            day: s
                .and_then(|s| s.day)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        }
    }

    pub fn posted(prefix: &'static str, f: &Form) -> Self {
        let get = |name: &str| f.get(&format!("{prefix}_{name}")).trim().to_string();
        ScheduleForm {
            prefix,
            choices: EVERY,
            every: get("every"),
            at: get("at"),
            weekday: get("weekday"),
            day: get("day"),
        }
    }

    /// The schedule to hand to the service, which checks it (an unreadable number becomes
    /// 0, which it refuses with its own message).
    pub fn schedule(&self) -> Schedule {
        let number = |v: &str| (!v.is_empty()).then(|| v.parse().unwrap_or(0));
        let uses = |kinds: &[&str]| kinds.contains(&self.every.as_str());
        Schedule {
            every: self.every.clone(),
            at: Some(self.at.clone()).filter(|a| !a.is_empty() && !uses(&["never"])),
            weekday: number(&self.weekday).filter(|_| uses(&["weekly"])),
            day: number(&self.day).filter(|_| uses(&["monthly"])),
        }
    }
}
