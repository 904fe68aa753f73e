//! How quantities are written for people: one duration format and one
//! byte-size type, used by every output, message and config setting.
//!
//! Measured times read "0 ms", "95 ms", "1 s", "1.2 s", "2m 5s" wherever they
//! appear (summaries, cards, tables, errors); sizes read "1 MiB", "512 KiB",
//! "1000 bytes" and parse from what people write in TOML ("1MiB", "2MB").
//! How long ago something happened reads "5m ago", "3d ago" ([`ago`]) in
//! the dashboard, the text and the verdict's evidence alike.
//! Durations a person configured (`timeout = "2s"`) are echoed in their own
//! syntax with `humantime`, so a message quotes the setting as written.

use std::fmt;
use std::time::Duration;

/// A measured time as every output shows it: "0 ms", "95 ms", "1 s", "1.2 s",
/// "2m 5s". Less than a millisecond (but not zero) reads "<1 ms".
pub fn duration(d: Duration) -> String {
    if d < Duration::from_millis(1) && !d.is_zero() {
        return "<1 ms".to_owned();
    }
    millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`duration`] for a count of milliseconds, as stored in reports.
pub fn millis(ms: u64) -> String {
    // Tenths of a second, rounded, so 59 960 ms reads "1m", never "60.0 s".
    let tenths = ms.saturating_add(50) / 100;
    if ms < 1000 {
        format!("{ms} ms")
    } else if tenths < 600 {
        match tenths % 10 {
            0 => format!("{} s", tenths / 10),
            t => format!("{}.{t} s", tenths / 10),
        }
    } else {
        let secs = ms.saturating_add(500) / 1000;
        match (secs / 60, secs % 60) {
            (m, 0) => format!("{m}m"),
            (m, s) => format!("{m}m {s}s"),
        }
    }
}

/// A coarse elapsed time for prose, in whole units: "45s", "3m", "1h5m".
/// Truncates (3m 40s reads "3m"); [`coarse_shown`] is the value it shows,
/// so a sum or a difference of shown values agrees with the prose.
pub fn coarse(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The seconds [`coarse`] shows for `secs` (the rest truncated).
pub fn coarse_shown(secs: u64) -> u64 {
    if secs < 60 { secs } else { secs - secs % 60 }
}

/// A span of whole seconds in its two largest units, for spans of hours
/// and days (DORA's lead time and time to restore): "45s", "5m 10s",
/// "3h 20m", "2d 4h"; a zero second unit is left out ("3h").
pub fn span(secs: u64) -> String {
    let (big, small, units) = match secs {
        s if s < 60 => return format!("{s}s"),
        s if s < 3600 => (s / 60, s % 60, ("m", "s")),
        s if s < 86_400 => (s / 3600, s % 3600 / 60, ("h", "m")),
        s => (s / 86_400, s % 86_400 / 3600, ("d", "h")),
    };
    match small {
        0 => format!("{big}{}", units.0),
        _ => format!("{big}{} {small}{}", units.0, units.1),
    }
}

/// "1 commit", "2 commits": every count of commits in prose.
pub fn commits(n: u64) -> String {
    format!("{n} commit{}", if n == 1 { "" } else { "s" })
}

/// How long ago `then` was, as every output says it (dashboard, text,
/// markdown, verdict evidence): "just now", "45s ago", "5m ago", "2h ago",
/// "3d ago"; "in 5m" for the future. One unit, truncated: a time this far
/// back is read at a glance, not to the minute.
pub fn ago(then: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let secs = (now - then).num_seconds();
    let (abs, future) = (secs.unsigned_abs(), secs < 0);
    let span = if abs < 5 {
        return "just now".to_owned();
    } else if abs < 60 {
        format!("{abs}s")
    } else if abs < 3600 {
        format!("{}m", abs / 60)
    } else if abs < 86_400 {
        format!("{}h", abs / 3600)
    } else {
        format!("{}d", abs / 86_400)
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A range a configured duration must fall in; the config is refused with
/// file, line and column otherwise (see [`bounded`]).
pub struct DurationRange {
    /// Shortest accepted.
    pub min: Duration,
    /// Longest accepted.
    pub max: Duration,
    /// Why the range is what it is, for the message.
    pub why: &'static str,
}

/// Timeouts (checks, `[run]`, plugins, actions): a check or action that
/// takes more than an hour is not one.
pub const TIMEOUT: DurationRange = DurationRange {
    min: Duration::from_millis(1),
    max: Duration::from_secs(3600),
    why: "a timeout",
};

/// `[serve] refresh`: below a second `serve` would do little but re-run.
pub const REFRESH: DurationRange = DurationRange {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * 3600),
    why: "`refresh` (below 1s serve would spend a core re-running checks)",
};

/// `stalled_after` on a workflow check.
pub const STALLED_AFTER: DurationRange = DurationRange {
    min: Duration::from_secs(1),
    max: Duration::from_secs(30 * 24 * 3600),
    why: "`stalled_after`",
};

/// Deserializes an optional humantime duration ("5s", "2m") and refuses one
/// outside `range`. Used through the functions below, so a bad value is
/// a config error that names its place like any other.
pub fn bounded<'de, D: serde::Deserializer<'de>>(
    de: D,
    range: &DurationRange,
) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error as _;
    let Some(d) = humantime_serde::option::deserialize(de)? else {
        return Ok(None);
    };
    if d < range.min || d > range.max {
        return Err(D::Error::custom(format!(
            "{} must be between {} and {}, got {}",
            range.why,
            humantime::format_duration(range.min),
            humantime::format_duration(range.max),
            humantime::format_duration(d)
        )));
    }
    Ok(Some(d))
}

/// `#[serde(deserialize_with = "crate::units::timeout")]`: an optional
/// duration in [`TIMEOUT`].
pub fn timeout<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    bounded(de, &TIMEOUT)
}

/// `#[serde(deserialize_with = "crate::units::refresh")]`: an optional
/// duration in [`REFRESH`].
pub fn refresh<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    bounded(de, &REFRESH)
}

/// `#[serde(deserialize_with = "crate::units::stalled_after")]`: an optional
/// duration in [`STALLED_AFTER`].
pub fn stalled_after<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Duration>, D::Error> {
    bounded(de, &STALLED_AFTER)
}

/// A size in bytes: `[run] max_body`, a plugin's `memory`, the caps on what
/// plugins may return. Parsed from "1MiB", "512 KiB", "2MB", "1000"; shown
/// as "1 MiB", "512 KiB", "1000 bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(u64);

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl ByteSize {
    /// `n` bytes.
    pub const fn bytes(n: u64) -> Self {
        ByteSize(n)
    }

    /// `n` KiB (1024 bytes each).
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * KIB)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * MIB)
    }

    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The number of bytes as a `usize`, saturating on 32-bit targets.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    /// Parses "1MiB", "512 KiB", "2MB", "1k", "1000" (bytes). Decimal units
    /// (KB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) of 1024.
    /// `None` for anything else, or a size that does not fit in 64 bits.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => KIB,
            "m" | "mb" => 1_000_000,
            "mib" => MIB,
            "g" | "gb" => 1_000_000_000,
            "gib" => GIB,
            _ => return None,
        };
        n.checked_mul(mult).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, so a size
    /// reads the way it was most likely written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n @ (0..KIB) => write!(f, "{n} bytes"),
            n if n % GIB == 0 => write!(f, "{} GiB", n / GIB),
            n if n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

impl From<usize> for ByteSize {
    fn from(n: usize) -> Self {
        ByteSize(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_their_two_largest_units() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(310), "5m 10s");
        assert_eq!(span(3600), "1h");
        assert_eq!(span(12_000), "3h 20m");
        assert_eq!(span(2 * 86_400 + 4 * 3600 + 59), "2d 4h");
    }

    #[test]
    fn durations_read_the_same_everywhere() {
        assert_eq!(duration(Duration::ZERO), "0 ms");
        assert_eq!(duration(Duration::from_micros(250)), "<1 ms");
        assert_eq!(duration(Duration::from_millis(95)), "95 ms");
        assert_eq!(duration(Duration::from_millis(999)), "999 ms");
        assert_eq!(duration(Duration::from_millis(1000)), "1 s");
        assert_eq!(duration(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(duration(Duration::from_millis(59_940)), "59.9 s");
        assert_eq!(duration(Duration::from_millis(59_960)), "1m");
        assert_eq!(duration(Duration::from_secs(61)), "1m 1s");
        assert_eq!(duration(Duration::from_secs(125)), "2m 5s");
        assert_eq!(duration(Duration::MAX), millis(u64::MAX));
        assert_eq!(millis(0), "0 ms");
    }

    #[test]
    fn sizes_parse_as_people_write_them() {
        assert_eq!(ByteSize::parse("1MiB"), Some(ByteSize::mib(1)));
        assert_eq!(ByteSize::parse(" 512 KiB "), Some(ByteSize::kib(512)));
        assert_eq!(ByteSize::parse("2MB"), Some(ByteSize::bytes(2_000_000)));
        assert_eq!(ByteSize::parse("1k"), Some(ByteSize::bytes(1000)));
        assert_eq!(ByteSize::parse("1000"), Some(ByteSize::bytes(1000)));
        assert_eq!(ByteSize::parse("1gib"), Some(ByteSize::bytes(GIB)));
        assert_eq!(ByteSize::parse("1.5MiB"), None);
        assert_eq!(ByteSize::parse("MiB"), None);
        assert_eq!(ByteSize::parse("-1"), None);
        assert_eq!(ByteSize::parse("5 parsecs"), None);
        assert_eq!(ByteSize::parse("99999999999999999999"), None);
        assert_eq!(ByteSize::parse("99999999999 GiB"), None);
    }

    #[test]
    fn sizes_show_in_the_unit_they_were_written_in() {
        assert_eq!(ByteSize::mib(32).to_string(), "32 MiB");
        assert_eq!(ByteSize::kib(64).to_string(), "64 KiB");
        assert_eq!(ByteSize::bytes(GIB * 2).to_string(), "2 GiB");
        assert_eq!(ByteSize::bytes(1000).to_string(), "1000 bytes");
        assert_eq!(ByteSize::bytes(0).to_string(), "0 bytes");
        assert_eq!(ByteSize::bytes(1536).to_string(), "1536 bytes");
        assert_eq!(ByteSize::from(2048usize).get(), 2048);
        assert_eq!(ByteSize::mib(1).as_usize(), 1 << 20);
    }
}
