//! A desk's week and its slots, in the desk's own time zone (pure functions, table-tested).
//!
//! Opening hours are wall-clock times (`tue 09:00-12:00`): a slot at 09:00 in Rome is 08:00 UTC
//! in winter and 07:00 UTC in summer. On the night the clocks go forward the skipped hour has
//! no slots; on the night they go back the repeated hour yields each wall-clock slot once (its
//! first occurrence). Slots are `slot_minutes` long, back to back from the start of each range,
//! and a slot must end within its range.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// Shortest and longest slot (seed 003: "da un minimo di 8 minuti ad un massimo di 20").
pub const MIN_SLOT_MINUTES: u32 = 8;
pub const MAX_SLOT_MINUTES: u32 = 20;

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn day_name(d: Weekday) -> &'static str {
    DAY_NAMES
        .iter()
        .find(|(_, w)| *w == d)
        .map_or("mon", |(n, _)| n)
}

/// Why a weekly timetable was refused (operators read it: English).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpeningError {
    #[error("the opening hours are empty")]
    Empty,
    #[error("`{0}` is not `weekday[,weekday|-weekday] HH:MM-HH:MM[,HH:MM-HH:MM]`")]
    Syntax(String),
    #[error("`{0}` is not a weekday (mon, tue, wed, thu, fri, sat, sun)")]
    Weekday(String),
    #[error("`{0}` is not a time range HH:MM-HH:MM that ends after it starts")]
    Range(String),
    #[error("the ranges of {0} overlap")]
    Overlap(&'static str),
    #[error("the range {0} is shorter than one slot")]
    TooShort(String),
}

/// The weekly hours of a desk: for each weekday (Monday first), its ranges in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opening {
    days: [Vec<(NaiveTime, NaiveTime)>; 7],
}

impl Opening {
    /// Parses `mon-fri 08:30-12:30; tue,thu 14:00-16:00` (entries separated by `;`).
    pub fn parse(text: &str) -> Result<Self, OpeningError> {
        let mut o = Opening::default();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (days, ranges) = entry
                .split_once(char::is_whitespace)
                .ok_or_else(|| OpeningError::Syntax(entry.to_owned()))?;
            let days = parse_days(days.trim())?;
            for range in ranges.split(',').map(str::trim) {
                let (from, to) = parse_range(range)?;
                for d in &days {
                    if let Some(list) = o.days.get_mut(d.num_days_from_monday() as usize) {
                        list.push((from, to));
                    }
                }
            }
        }
        if o.days.iter().all(Vec::is_empty) {
            return Err(OpeningError::Empty);
        }
        for (i, list) in o.days.iter_mut().enumerate() {
            list.sort();
            list.dedup();
            if list.windows(2).any(|w| matches!(w, [a, b] if b.0 < a.1)) {
                let day = DAY_NAMES.get(i).map_or("mon", |(n, _)| n);
                return Err(OpeningError::Overlap(day));
            }
        }
        Ok(o)
    }

    /// Refuses ranges too short for one slot of `slot_minutes`.
    pub fn check_fits(&self, slot_minutes: u32) -> Result<(), OpeningError> {
        let len = Duration::minutes(i64::from(slot_minutes));
        for list in &self.days {
            for (from, to) in list {
                if *to - *from < len {
                    return Err(OpeningError::TooShort(format!(
                        "{}-{}",
                        from.format("%H:%M"),
                        to.format("%H:%M")
                    )));
                }
            }
        }
        Ok(())
    }

    /// The ranges of `day`'s weekday.
    pub fn ranges(&self, day: Weekday) -> &[(NaiveTime, NaiveTime)] {
        self.days
            .get(day.num_days_from_monday() as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The canonical text: one entry per open weekday, Monday first.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (name, day) in DAY_NAMES {
            let ranges = self.ranges(day);
            if ranges.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            out.push(' ');
            for (i, (from, to)) in ranges.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}-{}", from.format("%H:%M"), to.format("%H:%M"));
            }
        }
        out
    }

    /// Every open range as (weekday name, from, to), Monday first.
    pub fn hours(&self) -> Vec<(&'static str, NaiveTime, NaiveTime)> {
        DAY_NAMES
            .iter()
            .flat_map(|(name, day)| self.ranges(*day).iter().map(|(f, t)| (*name, *f, *t)))
            .collect()
    }
}

fn parse_weekday(s: &str) -> Result<Weekday, OpeningError> {
    let lower = s.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, d)| *d)
        .ok_or_else(|| OpeningError::Weekday(s.to_owned()))
}

fn parse_days(s: &str) -> Result<Vec<Weekday>, OpeningError> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (parse_weekday(a)?, parse_weekday(b)?);
        let (from, to) = (a.num_days_from_monday(), b.num_days_from_monday());
        if to < from {
            return Err(OpeningError::Syntax(s.to_owned()));
        }
        return Ok(DAY_NAMES
            .iter()
            .map(|(_, d)| *d)
            .filter(|d| (from..=to).contains(&d.num_days_from_monday()))
            .collect());
    }
    s.split(',').map(|d| parse_weekday(d.trim())).collect()
}

fn parse_range(s: &str) -> Result<(NaiveTime, NaiveTime), OpeningError> {
    let bad = || OpeningError::Range(s.to_owned());
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
    let (from, to) = (t(a)?, t(b)?);
    if to <= from {
        return Err(bad());
    }
    Ok((from, to))
}

/// One bookable interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The wall-clock start at the desk.
    pub local: NaiveDateTime,
}

/// The instant of a wall-clock time at the desk: `None` in the hour skipped when the clocks
/// go forward, the first occurrence in the hour repeated when they go back.
pub fn instant(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The slots of `day` by the weekly hours (closures and holidays are the caller's business).
pub fn slots_on(day: NaiveDate, opening: &Opening, slot_minutes: u32, tz: Tz) -> Vec<Slot> {
    let len = Duration::minutes(i64::from(slot_minutes.max(1)));
    let mut out = Vec::new();
    for (from, to) in opening.ranges(day.weekday()) {
        let mut t = *from;
        // A range never wraps past midnight (to > from), so `t + len` stays on `day`.
        while t.overflowing_add_signed(len).1 == 0 && t + len <= *to {
            let local = day.and_time(t);
            if let Some(starts_at) = instant(local, tz) {
                out.push(Slot {
                    starts_at,
                    ends_at: starts_at + len,
                    local,
                });
            }
            t += len;
        }
    }
    out
}

/// The desk's date of an instant.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The wall-clock time of an instant at the desk.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The instants where `day` starts and the next day starts at the desk (23 or 25 hours apart
/// on the nights the clocks change).
pub fn day_bounds(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start_of = |d: NaiveDate| {
        // Midnight exists in Europe/Rome; in zones that skip it, the day starts an hour later.
        (0..3)
            .find_map(|h| instant(d.and_hms_opt(h, 0, 0)?, tz))
            .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
    };
    let next = day.succ_opt().unwrap_or(day);
    (start_of(day), start_of(next))
}

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = ((h + l - 7 * m + 114) % 31) + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The Italian national holidays (L. 260/1949 and later): offices are closed.
pub fn is_national_holiday(day: NaiveDate) -> bool {
    const FIXED: [(u32, u32); 10] = [
        (1, 1),   // Capodanno
        (1, 6),   // Epifania
        (4, 25),  // Liberazione
        (5, 1),   // Festa del lavoro
        (6, 2),   // Festa della Repubblica
        (8, 15),  // Ferragosto
        (11, 1),  // Ognissanti
        (12, 8),  // Immacolata
        (12, 25), // Natale
        (12, 26), // Santo Stefano
    ];
    if FIXED.contains(&(day.month(), day.day())) {
        return true;
    }
    // Lunedì dell'Angelo.
    easter_sunday(day.year())
        .and_then(|e| e.succ_opt())
        .is_some_and(|monday| monday == day)
}

/// The name used in opening texts and views (`mon`…`sun`).
pub fn weekday_name(day: NaiveDate) -> &'static str {
    day_name(day.weekday())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Rome;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn parses_and_prints_canonically() {
        let o = Opening::parse("thu 09:00-12:00;  Tue 09:00-12:00").unwrap();
        assert_eq!(o.to_text(), "tue 09:00-12:00; thu 09:00-12:00");
        let o = Opening::parse("mon-wed 08:30-12:30, 14:00-15:00; sat 09:00-10:00").unwrap();
        assert_eq!(
            o.to_text(),
            "mon 08:30-12:30,14:00-15:00; tue 08:30-12:30,14:00-15:00; \
             wed 08:30-12:30,14:00-15:00; sat 09:00-10:00"
        );
        assert_eq!(o.hours().len(), 7);
    }

    #[test]
    fn refuses_bad_hours() {
        for (text, want) in [
            ("", OpeningError::Empty),
            ("  ;  ", OpeningError::Empty),
            ("tue", OpeningError::Syntax("tue".into())),
            (
                "tuesday 09:00-12:00",
                OpeningError::Weekday("tuesday".into()),
            ),
            ("tue 12:00-09:00", OpeningError::Range("12:00-09:00".into())),
            ("tue 09:00-09:00", OpeningError::Range("09:00-09:00".into())),
            ("tue 9-12", OpeningError::Range("9-12".into())),
            ("tue 09:00-11:00,10:00-12:00", OpeningError::Overlap("tue")),
            (
                "fri-mon 09:00-10:00",
                OpeningError::Syntax("fri-mon".into()),
            ),
        ] {
            assert_eq!(Opening::parse(text), Err(want), "{text:?}");
        }
        let o = Opening::parse("tue 09:00-09:10").unwrap();
        assert!(o.check_fits(8).is_ok());
        assert!(o.check_fits(15).is_err());
    }

    #[test]
    fn slots_follow_the_wall_clock_across_daylight_saving() {
        let o = Opening::parse("tue 09:00-12:00").unwrap();
        // 24 March 2026: CET (UTC+1); 31 March 2026: CEST (UTC+2).
        let winter = slots_on(d(2026, 3, 24), &o, 20, Rome);
        let summer = slots_on(d(2026, 3, 31), &o, 20, Rome);
        assert_eq!(winter.len(), 9);
        assert_eq!(summer.len(), 9);
        assert_eq!(
            winter[0].starts_at.to_rfc3339(),
            "2026-03-24T08:00:00+00:00"
        );
        assert_eq!(
            summer[0].starts_at.to_rfc3339(),
            "2026-03-31T07:00:00+00:00"
        );
        assert_eq!(winter[8].ends_at.to_rfc3339(), "2026-03-24T11:00:00+00:00");
        // A Wednesday: closed.
        assert!(slots_on(d(2026, 3, 25), &o, 20, Rome).is_empty());
        // 8-minute slots in 3 hours: 22 (the last would end at 12:56).
        assert_eq!(slots_on(d(2026, 3, 24), &o, 8, Rome).len(), 22);
    }

    #[test]
    fn the_skipped_and_the_repeated_hour() {
        // 29 March 2026: 02:00 → 03:00. 25 October 2026: 03:00 → 02:00.
        let o = Opening::parse("sun 01:00-04:00").unwrap();
        let spring = slots_on(d(2026, 3, 29), &o, 20, Rome);
        let times: Vec<String> = spring
            .iter()
            .map(|s| s.local.format("%H:%M").to_string())
            .collect();
        assert!(!times.iter().any(|t| t.starts_with("02:")), "{times:?}");
        assert_eq!(times.len(), 6);
        // Instants strictly increase and never collide.
        assert!(spring.windows(2).all(|w| w[0].starts_at < w[1].starts_at));
        let autumn = slots_on(d(2026, 10, 25), &o, 20, Rome);
        assert_eq!(autumn.len(), 9);
        assert!(autumn.windows(2).all(|w| w[0].starts_at < w[1].starts_at));
        // 02:00 is taken at its first occurrence (still CEST, UTC+2).
        let two = autumn
            .iter()
            .find(|s| s.local.format("%H:%M").to_string() == "02:00")
            .unwrap();
        assert_eq!(two.starts_at.to_rfc3339(), "2026-10-25T00:00:00+00:00");
    }

    #[test]
    fn day_bounds_are_23_or_25_hours_on_change_nights() {
        let hours = |day| {
            let (a, b) = day_bounds(day, Rome);
            (b - a).num_hours()
        };
        assert_eq!(hours(d(2026, 3, 29)), 23);
        assert_eq!(hours(d(2026, 10, 25)), 25);
        assert_eq!(hours(d(2026, 12, 1)), 24);
        assert_eq!(
            day_bounds(d(2026, 12, 1), Rome).0.to_rfc3339(),
            "2026-11-30T23:00:00+00:00"
        );
    }

    #[test]
    fn national_holidays() {
        assert_eq!(easter_sunday(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter_sunday(2027), Some(d(2027, 3, 28)));
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        for h in [
            d(2026, 1, 1),
            d(2026, 1, 6),
            d(2026, 4, 6),
            d(2026, 4, 25),
            d(2026, 5, 1),
            d(2026, 6, 2),
            d(2026, 8, 15),
            d(2026, 11, 1),
            d(2026, 12, 8),
            d(2026, 12, 25),
            d(2026, 12, 26),
            d(2027, 3, 29),
        ] {
            assert!(is_national_holiday(h), "{h}");
        }
        for w in [
            d(2026, 4, 5),
            d(2026, 4, 7),
            d(2026, 12, 1),
            d(2026, 12, 24),
        ] {
            assert!(!is_national_holiday(w), "{w}");
        }
    }
}
