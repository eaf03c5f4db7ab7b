//! When a recurring job (an export, a scheduled import) runs: once, hourly, daily, weekly or
//! monthly, at a time of day in UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::automation_steps::parse_time_of_day;
use super::{FieldError, ValidationError};

/// A schedule as the API takes and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// once, hourly, daily, weekly, monthly, or never (only by hand or from an automation's
    /// export step)
    pub every: String,
    /// `HH:MM` (UTC) for daily, weekly and monthly; for hourly only the minutes count.
    /// For once: absent to run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// For weekly: 1 (Monday) to 7 (Sunday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<u32>,
    /// For monthly: day 1 to 28.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
}

impl Schedule {
    pub fn once() -> Self {
        Schedule {
            every: "once".into(),
            at: None,
            weekday: None,
            day: None,
        }
    }

    /// Checks the schedule; `field` names it in errors.
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        let bad = |code: &'static str, message: &str| {
            Err(ValidationError(vec![FieldError::new(field, code, message)]))
        };
        let at_ok = self
            .at
            .as_deref()
            .is_none_or(|a| parse_time_of_day(a).is_some());
        if !at_ok {
            return bad("invalid_time", "at is a time of day HH:MM (UTC)");
        }
        match self.every.as_str() {
            "once" | "hourly" | "daily" | "never" => {
                if self.weekday.is_some() || self.day.is_some() {
                    return bad(
                        "invalid_schedule",
                        "weekday is for weekly schedules, day for monthly ones",
                    );
                }
            }
            "weekly" => {
                if !matches!(self.weekday, Some(1..=7)) || self.day.is_some() {
                    return bad(
                        "invalid_schedule",
                        "a weekly schedule needs weekday 1 (Monday) to 7 (Sunday)",
                    );
                }
            }
            "monthly" => {
                if !matches!(self.day, Some(1..=28)) || self.weekday.is_some() {
                    return bad(
                        "invalid_schedule",
                        "a monthly schedule needs day 1 to 28 (every month has it)",
                    );
                }
            }
            _ => {
                return bad(
                    "invalid_schedule",
                    "every is once, hourly, daily, weekly, monthly or never",
                )
            }
        }
        Ok(())
    }

    /// The first run strictly after `after` (ms); None for a schedule that ran once. `ran`
    /// says whether it has run before (a once schedule runs one time only).
    pub fn next_run(&self, after: i64, ran: bool) -> Option<i64> {
        let at_ms = self.at.as_deref().and_then(parse_time_of_day).unwrap_or(0);
        let t = Utc.timestamp_millis_opt(after).single()?;
        let day_start = |d: NaiveDate| -> DateTime<Utc> {
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
                + Duration::milliseconds(at_ms)
        };
        let next = match self.every.as_str() {
            "never" => return None,
            "once" if ran => return None,
            "once" => match &self.at {
                Some(_) => {
                    let today = day_start(t.date_naive());
                    if today > t {
                        today
                    } else {
                        today + Duration::days(1)
                    }
                }
                None => return Some(after),
            },
            "hourly" => {
                let minute = (at_ms / 60_000) % 60;
                let hour = after.div_euclid(3_600_000) * 3_600_000;
                let candidate = hour + minute * 60_000;
                return Some(if candidate > after {
                    candidate
                } else {
                    candidate + 3_600_000
                });
            }
            "daily" => {
                let today = day_start(t.date_naive());
                if today > t {
                    today
                } else {
                    today + Duration::days(1)
                }
            }
            "weekly" => {
                let want = self.weekday.unwrap_or(1);
                let mut d = t.date_naive();
                loop {
                    let c = day_start(d);
                    if d.weekday().number_from_monday() == want && c > t {
                        break c;
                    }
                    d = d.succ_opt()?;
                }
            }
            "monthly" => {
                let day = self.day.unwrap_or(1);
                let (mut y, mut m) = (t.year(), t.month());
                loop {
                    let c = day_start(NaiveDate::from_ymd_opt(y, m, day)?);
                    if c > t {
                        break c;
                    }
                    (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                }
            }
            _ => return None,
        };
        Some(next.timestamp_millis())
    }
}

/// A file name with date variables filled in: `{yyyy}`, `{MM}`, `{dd}`, `{HH}`, `{mm}` (UTC).
pub fn fill_date_variables(pattern: &str, at: i64) -> String {
    let t = Utc
        .timestamp_millis_opt(at)
        .single()
        .unwrap_or_else(Utc::now);
    pattern
        .replace("{yyyy}", &format!("{:04}", t.year()))
        .replace("{MM}", &format!("{:02}", t.month()))
        .replace("{dd}", &format!("{:02}", t.day()))
        .replace("{HH}", &format!("{:02}", t.format("%H")))
        .replace("{mm}", &format!("{:02}", t.format("%M")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn sched(every: &str, at: Option<&str>, weekday: Option<u32>, day: Option<u32>) -> Schedule {
        Schedule {
            every: every.into(),
            at: at.map(str::to_string),
            weekday,
            day,
        }
    }

    #[test]
    fn next_runs() {
        let now = ms("2026-11-28T10:30:00Z"); // a Saturday
        let next = |s: Schedule| s.next_run(now, false).map(crate::clock::rfc3339);
        assert_eq!(next(Schedule::once()), Some(crate::clock::rfc3339(now)));
        assert_eq!(Schedule::once().next_run(now, true), None);
        assert_eq!(
            next(sched("hourly", Some("00:15"), None, None)).unwrap(),
            "2026-11-28T11:15:00Z"
        );
        assert_eq!(
            next(sched("hourly", Some("00:45"), None, None)).unwrap(),
            "2026-11-28T10:45:00Z"
        );
        assert_eq!(
            next(sched("daily", Some("06:00"), None, None)).unwrap(),
            "2026-11-29T06:00:00Z"
        );
        assert_eq!(
            next(sched("daily", Some("12:00"), None, None)).unwrap(),
            "2026-11-28T12:00:00Z"
        );
        assert_eq!(
            next(sched("weekly", Some("07:00"), Some(1), None)).unwrap(),
            "2026-11-30T07:00:00Z"
        );
        assert_eq!(
            next(sched("weekly", Some("11:00"), Some(6), None)).unwrap(),
            "2026-11-28T11:00:00Z"
        );
        assert_eq!(
            next(sched("monthly", Some("03:00"), None, Some(1))).unwrap(),
            "2026-12-01T03:00:00Z"
        );
        let dec = ms("2026-12-20T00:00:00Z");
        assert_eq!(
            crate::clock::rfc3339(
                sched("monthly", None, None, Some(15))
                    .next_run(dec, true)
                    .unwrap()
            ),
            "2027-01-15T00:00:00Z"
        );
    }

    #[test]
    fn rejections() {
        for (s, code) in [
            (sched("yearly", None, None, None), "invalid_schedule"),
            (sched("daily", Some("25:00"), None, None), "invalid_time"),
            (sched("daily", Some("6:00"), None, None), "invalid_time"),
            (sched("weekly", None, Some(8), None), "invalid_schedule"),
            (sched("weekly", None, None, None), "invalid_schedule"),
            (sched("monthly", None, None, Some(31)), "invalid_schedule"),
            (sched("daily", None, Some(1), None), "invalid_schedule"),
        ] {
            assert_eq!(s.validate("schedule").unwrap_err().0[0].code, code, "{s:?}");
        }
        assert!(sched("monthly", Some("23:59"), None, Some(28))
            .validate("s")
            .is_ok());
    }

    #[test]
    fn date_variables() {
        assert_eq!(
            fill_date_variables(
                "contacts_{yyyy}{MM}{dd}_{HH}{mm}.csv",
                ms("2026-03-04T05:06:00Z")
            ),
            "contacts_20260304_0506.csv"
        );
    }
}
