//! UTC date-times as nfdump prints them (`2014-11-18 13:15:05.734`) to epoch milliseconds.
//!
//! The conversion is exact integer arithmetic (days from the civil date, as in Howard
//! Hinnant's `days_from_civil`), never floating point: the original RelBot converter used
//! single-precision seconds and was off by one millisecond on some lines, which changes what
//! the periodicity detector sees.

/// Milliseconds per day.
const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day`.
///
/// The caller guarantees `1 <= month <= 12` and a valid day; any year is fine.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so that the leap day is the last day of the year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400); // [0, 399]
    let shifted_month = i64::from((month + 9) % 12); // March = 0 … February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `true` for Gregorian leap years.
pub(crate) fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Number of days in `month` (1–12) of `year`.
pub(crate) fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD` and `HH:MM:SS[.fff]` (given separately, as the whitespace formats
/// split them) into milliseconds since the Unix epoch, UTC.
///
/// The fraction may have 0 to 9 digits; digits past the millisecond are truncated (nfdump
/// prints 3). Out-of-range fields (month 13, 2015-02-29, 24:00:00, second 60) are rejected.
#[inline]
pub(crate) fn parse_date_time(date: &[u8], time: &[u8]) -> Option<i64> {
    let days = parse_date(date)?;
    let ms_of_day = parse_time_of_day(time)?;
    Some(days * MS_PER_DAY + ms_of_day)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.fff]` (one field, a single space between date and time).
#[inline]
pub(crate) fn parse_date_time_field(field: &[u8]) -> Option<i64> {
    if field.len() < 19 || field[10] != b' ' {
        return None;
    }
    parse_date_time(&field[..10], &field[11..])
}

/// `YYYY-MM-DD` to days since 1970-01-01.
#[inline]
fn parse_date(date: &[u8]) -> Option<i64> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *date else {
        return None;
    };
    let year = i64::from(digits4(y0, y1, y2, y3)?);
    let month = digits2(m0, m1)?;
    let day = digits2(d0, d1)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// `HH:MM:SS[.fraction]` to milliseconds since midnight.
#[inline]
fn parse_time_of_day(time: &[u8]) -> Option<i64> {
    if time.len() < 8 {
        return None;
    }
    let (hms, fraction) = time.split_at(8);
    let [h0, h1, b':', m0, m1, b':', s0, s1] = *hms else {
        return None;
    };
    let hours = digits2(h0, h1)?;
    let minutes = digits2(m0, m1)?;
    let seconds = digits2(s0, s1)?;
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let millis = parse_fraction_ms(fraction)?;
    Some(i64::from((hours * 60 + minutes) * 60 + seconds) * 1000 + i64::from(millis))
}

/// A duration in seconds with an optional fraction (`0.268`, nfdump's `td`) to milliseconds.
pub(crate) fn parse_duration_ms(field: &[u8]) -> Option<i64> {
    let dot = memchr::memchr(b'.', field).unwrap_or(field.len());
    let seconds = i64::try_from(super::fields::parse_u64(&field[..dot])?).ok()?;
    let millis = parse_fraction_ms(&field[dot..])?;
    seconds.checked_mul(1000)?.checked_add(i64::from(millis))
}

/// `""`, `"."` or `".d…"` (up to 9 digits) to whole milliseconds, truncating.
#[inline]
fn parse_fraction_ms(fraction: &[u8]) -> Option<u32> {
    let Some(digits) = fraction.strip_prefix(b".") else {
        return fraction.is_empty().then_some(0);
    };
    if digits.len() > 9 {
        return None;
    }
    let mut millis = 0;
    let mut scale = 100;
    for &b in digits {
        let digit = u32::from(b.wrapping_sub(b'0'));
        if digit > 9 {
            return None;
        }
        millis += digit * scale;
        scale /= 10;
    }
    Some(millis)
}

#[inline]
fn digits2(a: u8, b: u8) -> Option<u32> {
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    (a <= 9 && b <= 9).then(|| u32::from(a) * 10 + u32::from(b))
}

#[inline]
fn digits4(a: u8, b: u8, c: u8, d: u8) -> Option<u32> {
    Some(digits2(a, b)? * 100 + digits2(c, d)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<i64> {
        parse_date_time_field(text.as_bytes())
    }

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(ms("1970-01-01 00:00:00"), Some(0));
        assert_eq!(ms("1970-01-01 00:00:00.001"), Some(1));
        assert_eq!(ms("1969-12-31 23:59:59.999"), Some(-1));
        // First line of the shared nfdump-fmt fixture.
        assert_eq!(ms("2014-11-18 13:15:05.734"), Some(1_416_316_505_734));
        assert_eq!(ms("2038-01-19 03:14:08"), Some(2_147_483_648_000));
    }

    #[test]
    fn leap_years() {
        assert_eq!(ms("2016-02-29 00:00:00"), Some(1_456_704_000_000));
        assert_eq!(ms("2016-03-01 00:00:00"), Some(1_456_790_400_000));
        assert_eq!(ms("2000-02-29 12:00:00"), Some(951_825_600_000));
        assert_eq!(ms("2000-03-01 00:00:00"), Some(951_868_800_000));
        assert_eq!(ms("2015-02-29 00:00:00"), None);
        assert_eq!(ms("1900-02-29 00:00:00"), None);
        assert_eq!(ms("2100-02-29 00:00:00"), None);
        assert_eq!(ms("2400-02-29 00:00:00"), Some(13_574_563_200_000));
    }

    #[test]
    fn days_from_civil_agrees_with_counting_days() {
        let mut days = days_from_civil(1899, 1, 1);
        for year in 1899..2101 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        days,
                        "{year}-{month}-{day}"
                    );
                    days += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }

    #[test]
    fn fractions() {
        let base = 1_416_316_505_000;
        assert_eq!(ms("2014-11-18 13:15:05"), Some(base));
        assert_eq!(ms("2014-11-18 13:15:05."), Some(base));
        assert_eq!(ms("2014-11-18 13:15:05.7"), Some(base + 700));
        assert_eq!(ms("2014-11-18 13:15:05.73"), Some(base + 730));
        assert_eq!(ms("2014-11-18 13:15:05.734"), Some(base + 734));
        assert_eq!(ms("2014-11-18 13:15:05.734999"), Some(base + 734));
        assert_eq!(ms("2014-11-18 13:15:05.7349999999"), None);
        assert_eq!(ms("2014-11-18 13:15:05.7a4"), None);
        assert_eq!(ms("2014-11-18 13:15:05,734"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms(b"0.268"), Some(268));
        assert_eq!(parse_duration_ms(b"12"), Some(12_000));
        assert_eq!(parse_duration_ms(b"1.5"), Some(1_500));
        assert_eq!(parse_duration_ms(b".5"), None);
        assert_eq!(parse_duration_ms(b"-1.0"), None);
        assert_eq!(parse_duration_ms(b"99999999999999999999.0"), None);
    }

    #[test]
    fn rejects_out_of_range_and_malformed() {
        for bad in [
            "2014-13-18 13:15:05",
            "2014-00-18 13:15:05",
            "2014-11-00 13:15:05",
            "2014-11-31 13:15:05",
            "2014-11-18 24:00:00",
            "2014-11-18 13:60:00",
            "2014-11-18 13:15:60",
            "2014-11-18T13:15:05",
            "2014/11/18 13:15:05",
            "14-11-18 13:15:05.000",
            "2014-11-18 13:15:5",
            "2014-11-18  13:15:05",
            "",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }
}
