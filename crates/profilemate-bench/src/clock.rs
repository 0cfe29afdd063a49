//! Provides wall-clock stamps in vLLM's formats (`%Y%m%d-%H%M%S` for `date`, ISO 8601 for
//! `rps_change_events`). profilemate writes UTC; vLLM writes the machine's local time.

use std::time::{SystemTime, UNIX_EPOCH};

use profilemate_metrics::civil::civil_from_days;

/// A civil UTC time, to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day 1–31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Microsecond.
    pub micros: u32,
}

impl Civil {
    /// The current UTC time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::from_unix(d.as_secs() as i64, d.subsec_micros())
    }

    /// Converts Unix seconds ([`civil_from_days`] for the date).
    pub fn from_unix(secs: i64, micros: u32) -> Self {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (
            (rem / 3600) as u32,
            (rem % 3600 / 60) as u32,
            (rem % 60) as u32,
        );
        Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        }
    }

    /// `20261122-172338`.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2026-11-22T17:23:38.123456` (Python's `datetime.isoformat()`).
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.micros
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let c = Civil::from_unix(1_795_368_218, 42);
        assert_eq!(c.compact(), "20261122-172338");
        assert_eq!(c.iso(), "2026-11-22T17:23:38.000042");
        assert_eq!(
            Civil::from_unix(951_782_400, 0).compact(),
            "20000229-000000"
        );
    }
}
