//! UTC calendar arithmetic for build timestamps (no time-zone database, no extra crate).

/// Calendar fields of a Unix time in UTC.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct UtcDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

pub fn utc_from_unix(seconds: i64) -> UtcDateTime {
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year eras from 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    UtcDateTime {
        year,
        month,
        day,
        hour: (second_of_day / 3600) as u32,
        minute: (second_of_day % 3600 / 60) as u32,
        second: (second_of_day % 60) as u32,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(seconds: i64) -> String {
    let t = utc_from_unix(seconds);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year, t.month, t.day, t.hour, t.minute, t.second)
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn every_day_of_a_leap_cycle_advances_by_one() {
        let mut previous = utc_from_unix(946_684_800); // 2000-01-01
        for day in 1..(366 * 4 + 10) {
            let next = utc_from_unix(946_684_800 + day * 86_400);
            let rolled = (next.year, next.month, next.day) > (previous.year, previous.month, previous.day);
            assert!(rolled && next.day >= 1 && next.day <= 31 && next.month <= 12, "{previous:?} -> {next:?}");
            if next.day != 1 {
                assert_eq!(next.day, previous.day + 1);
            }
            previous = next;
        }
    }
}
