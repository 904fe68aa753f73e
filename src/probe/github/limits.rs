//! The numbers in GitHub's rate-limit headers, range-checked before any
//! arithmetic: `retry-after` (seconds), `x-ratelimit-reset` (epoch seconds)
//! and `x-ratelimit-remaining`. A value out of range is clamped or ignored,
//! never trusted into a panic (chrono's `TimeDelta::seconds` panics past
//! ±2^63 ms), and each such value yields a warning for the report.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// Longest `retry-after` believed: an hour, GitHub's whole primary window.
pub(crate) const MAX_RETRY_AFTER_S: u64 = 3600;

/// Latest `x-ratelimit-reset` believed, from now: the hourly window.
pub(crate) const MAX_RESET_AHEAD_S: i64 = 3600;

/// A header as read: the value used (None when absent or ignored) and, when
/// it was not used as sent, why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Read<T> {
    pub value: Option<T>,
    pub warning: Option<String>,
}

impl<T> Read<T> {
    fn absent() -> Self {
        Read {
            value: None,
            warning: None,
        }
    }

    fn ignored(name: &str, raw: &[u8], why: &str) -> Self {
        Read {
            value: None,
            warning: Some(format!("GitHub sent {name}: {}; {why}", shown(raw))),
        }
    }
}

/// What the header says as a number: a decimal integer, which may be too
/// large for any machine type (`Huge`), or anything else (`Other`).
enum Number {
    Int(i128),
    Huge { negative: bool },
    Other,
}

fn number(raw: &[u8]) -> Number {
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Number::Other;
    }
    match digits.parse::<i128>() {
        Ok(n) if negative => Number::Int(-n),
        Ok(n) => Number::Int(n),
        Err(_) => Number::Huge { negative },
    }
}

/// `retry-after` in seconds, at most [`MAX_RETRY_AFTER_S`]; negative or
/// non-numeric values (GitHub sends seconds, never a date) are ignored, and
/// the caller's default applies.
pub(crate) fn retry_after(raw: Option<&[u8]>) -> Read<u64> {
    const NAME: &str = "retry-after";
    let Some(raw) = raw else {
        return Read::absent();
    };
    let clamped = Read {
        value: Some(MAX_RETRY_AFTER_S),
        warning: Some(format!(
            "GitHub sent {NAME}: {}; waiting at most 1h",
            shown(raw)
        )),
    };
    match number(raw) {
        Number::Int(n) if n < 0 => Read::ignored(NAME, raw, "ignored (negative)"),
        Number::Int(n) if n > i128::from(MAX_RETRY_AFTER_S) => clamped,
        Number::Int(n) => Read {
            value: u64::try_from(n).ok(),
            warning: None,
        },
        Number::Huge { negative: false } => clamped,
        Number::Huge { negative: true } => Read::ignored(NAME, raw, "ignored (negative)"),
        Number::Other => Read::ignored(NAME, raw, "ignored (not a number of seconds)"),
    }
}

/// `x-ratelimit-reset` (epoch seconds) as a time from the Unix epoch to at
/// most `now` + [`MAX_RESET_AHEAD_S`]. A time in the past is kept (the
/// report shows when the window last reset); [`GithubClient`] does not
/// block on it. Negative, non-numeric or unrepresentable values are ignored.
///
/// [`GithubClient`]: super::GithubClient
pub(crate) fn reset(raw: Option<&[u8]>, now: DateTime<Utc>) -> Read<DateTime<Utc>> {
    const NAME: &str = "x-ratelimit-reset";
    let Some(raw) = raw else {
        return Read::absent();
    };
    let latest = now
        .checked_add_signed(TimeDelta::seconds(MAX_RESET_AHEAD_S))
        .unwrap_or(now);
    let clamped = Read {
        value: Some(latest),
        warning: Some(format!(
            "GitHub sent {NAME}: {}; read as at most 1h from now",
            shown(raw)
        )),
    };
    match number(raw) {
        Number::Int(n) if n < 0 => Read::ignored(NAME, raw, "ignored (negative)"),
        Number::Int(n) if n > i128::from(latest.timestamp()) => clamped,
        Number::Int(n) => match i64::try_from(n)
            .ok()
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
        {
            Some(t) => Read {
                value: Some(t),
                warning: None,
            },
            None => Read::ignored(NAME, raw, "ignored (not a time)"),
        },
        Number::Huge { negative: false } => clamped,
        Number::Huge { negative: true } => Read::ignored(NAME, raw, "ignored (negative)"),
        Number::Other => Read::ignored(NAME, raw, "ignored (not epoch seconds)"),
    }
}

/// `x-ratelimit-remaining`: a count, so a negative, fractional or
/// non-numeric value is ignored; a count beyond `u64` is too.
pub(crate) fn remaining(raw: Option<&[u8]>) -> Read<u64> {
    const NAME: &str = "x-ratelimit-remaining";
    let Some(raw) = raw else {
        return Read::absent();
    };
    match number(raw) {
        Number::Int(n) => match u64::try_from(n) {
            Ok(n) => Read {
                value: Some(n),
                warning: None,
            },
            Err(_) => Read::ignored(NAME, raw, "ignored (not a count)"),
        },
        Number::Huge { .. } | Number::Other => Read::ignored(NAME, raw, "ignored (not a count)"),
    }
}

/// A header value as a warning may quote it: in quotes, anything unusual
/// escaped (the value is GitHub's data), cut at about 40 bytes.
fn shown(raw: &[u8]) -> String {
    let mut out = String::from("\"");
    for c in String::from_utf8_lossy(raw).chars() {
        let escaped: String = c.escape_debug().collect();
        if out.len() + escaped.len() > 41 {
            out.push_str("\"…");
            return out;
        }
        out.push_str(&escaped);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000, 0).single().unwrap()
    }

    /// Header-like text: decimal numbers of any length and sign, around the
    /// edges of every integer type, and arbitrary bytes.
    fn header() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[-+]?[0-9]{0,40}".prop_map(String::into_bytes),
            any::<i128>().prop_map(|n| n.to_string().into_bytes()),
            any::<u64>().prop_map(|n| n.to_string().into_bytes()),
            (-5_000i64..5_000).prop_map(|d| (1_750_000_000 + d).to_string().into_bytes()),
            " ?[0-9a-zA-Z.,:;-]{0,20} ?".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    /// The header as a whole number of 0 or more, the way Rust reads one.
    fn count(raw: &[u8]) -> Option<u64> {
        let n: i128 = String::from_utf8_lossy(raw).trim().parse().ok()?;
        u64::try_from(n).ok()
    }

    proptest! {
        #[test]
        fn retry_after_is_at_most_an_hour(raw in header()) {
            let read = retry_after(Some(&raw));
            prop_assert!(read.value.is_none_or(|s| s <= MAX_RETRY_AFTER_S));
            // A value is either used as sent, or there is a word about it.
            let as_sent = count(&raw);
            prop_assert!(read.warning.is_some() || read.value == as_sent);
            if let Some(w) = &read.warning {
                prop_assert!(w.chars().count() < 120, "{}", w);
            }
        }

        #[test]
        fn reset_is_between_the_epoch_and_an_hour_from_now(raw in header()) {
            let read = reset(Some(&raw), now());
            let latest = now() + TimeDelta::seconds(MAX_RESET_AHEAD_S);
            prop_assert!(read.value.is_none_or(|t| t.timestamp() >= 0 && t <= latest));
            prop_assert!(read.value.is_some() || read.warning.is_some());
        }

        #[test]
        fn remaining_is_a_count_or_nothing(raw in header()) {
            let read = remaining(Some(&raw));
            let as_sent = count(&raw);
            prop_assert_eq!(read.value, as_sent);
            prop_assert_eq!(read.warning.is_some(), as_sent.is_none());
        }
    }

    #[test]
    fn values_in_range_are_used_as_sent_without_a_word() {
        assert_eq!(
            retry_after(Some(b"30")),
            Read {
                value: Some(30),
                warning: None
            }
        );
        assert_eq!(retry_after(None), Read::absent());
        let r = reset(Some(b"1750000600"), now());
        assert_eq!(r.value.map(|t| t.timestamp()), Some(1_750_000_600));
        assert_eq!(r.warning, None);
        // The past is kept for the report (a recorded answer's reset).
        assert_eq!(
            reset(Some(b"1663891143"), now())
                .value
                .map(|t| t.timestamp()),
            Some(1_663_891_143)
        );
        assert_eq!(remaining(Some(b" 4849 ")).value, Some(4849));
    }

    #[test]
    fn wild_values_are_clamped_or_ignored_with_a_word() {
        let r = retry_after(Some(b"100000000000000000"));
        assert_eq!(r.value, Some(3600));
        assert_eq!(
            r.warning.as_deref(),
            Some("GitHub sent retry-after: \"100000000000000000\"; waiting at most 1h")
        );
        assert_eq!(retry_after(Some(b"-5")).value, None);
        assert_eq!(
            retry_after(Some(b"Wed, 21 Oct 2015 07:28:00 GMT")).value,
            None
        );
        let r = reset(Some(b"99999999999999999999999"), now());
        assert_eq!(r.value, Some(now() + TimeDelta::hours(1)));
        assert!(r.warning.unwrap().contains("at most 1h from now"));
        assert_eq!(reset(Some(b"-1"), now()).value, None);
        assert_eq!(reset(Some(b"1e9"), now()).value, None);
        let long = "9".repeat(300);
        let w = retry_after(Some(long.as_bytes())).warning.unwrap();
        assert!(w.len() < 100, "{w}");
    }
}
