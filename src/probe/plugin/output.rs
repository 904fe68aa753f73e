//! Reading what a run left behind: the guest's verdict checked and capped, or one sentence saying why there is none.

use std::time::Duration;

use crate::redact::Redactor;

use super::api::PluginOutput;
use super::bindings::villa::telemetry::types;
use super::sandbox::Limits;
use crate::units::ByteSize;

/// Longest summary kept; longer ones are truncated, not rejected.
pub(super) const MAX_SUMMARY: usize = 4 * 1024;
/// Largest `fields-json` accepted.
pub(super) const MAX_FIELDS_JSON: usize = 64 * 1024;

pub(super) fn timeout_reason(timeout: Duration) -> String {
    format!(
        "plugin exceeded timeout {}",
        humantime::format_duration(timeout)
    )
}

/// Turns a failed call into one sentence, most specific cause first.
pub(super) fn failure_reason(
    err: &wasmtime::Error,
    memory_exceeded: bool,
    limits: &Limits,
    stderr: &str,
) -> String {
    if matches!(
        err.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        return timeout_reason(limits.timeout);
    }
    // The guest's allocator usually turns a refused grow into an abort, so
    // the trap itself says "unreachable"; the limiter knows the real cause.
    if memory_exceeded {
        return format!(
            "plugin exceeded memory limit {}",
            ByteSize::bytes(limits.memory_bytes)
        );
    }
    if let Some(panic) = panic_message(stderr) {
        return format!("plugin panicked: {panic}");
    }
    let why = match err.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => format!("plugin trapped: {trap}"),
        None => format!("plugin failed: {err:#}"),
    };
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(3)
        .collect();
    if tail.is_empty() {
        why
    } else {
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{why}; stderr: {}", truncate(tail.join(" | "), 1024))
    }
}

/// Rust std prints `thread '…' panicked at FILE:LINE:COL:` then the message
/// on the following lines (until the `note:` about backtraces).
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let header = lines.find(|l| l.contains(" panicked at "))?;
    let location = header
        .split(" panicked at ")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    let message = truncate(message.join(" ").trim().to_owned(), 1024);
    Some(if location.is_empty() {
        message
    } else {
        format!("{message} (at {location})")
    })
}

/// Checks and caps what the guest returned.
pub(super) fn validate_output(
    out: types::CheckOutput,
    redactor: &Redactor,
) -> Result<PluginOutput, String> {
    let fields = match out.fields_json {
        None => serde_json::Map::new(),
        Some(text) if text.len() > MAX_FIELDS_JSON => {
            return Err(format!(
                "plugin returned fields-json of {}; the limit is {}",
                ByteSize::from(text.len()),
                ByteSize::from(MAX_FIELDS_JSON)
            ));
        }
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => {
                return Err(format!(
                    "plugin returned fields-json that is not a JSON object (got {})",
                    json_kind(&other)
                ));
            }
            Err(e) => return Err(format!("plugin returned invalid fields-json: {e}")),
        },
    };
    Ok(PluginOutput {
        status: out.status.into(),
        summary: truncate(redactor.redact(&out.summary).into_owned(), MAX_SUMMARY),
        fields,
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
pub(super) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        assert_eq!(truncate("héllo".into(), 4), "h…");
        assert_eq!(truncate("short".into(), 10), "short");
    }

    #[test]
    fn panic_message_is_taken_from_rust_std_stderr() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:12:13:\nboom went\nthe plugin\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("boom went the plugin (at src/lib.rs:12:13)")
        );
        assert_eq!(panic_message("just noise\n"), None);
    }
}
