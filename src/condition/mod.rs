//! The condition language of `expect` and `warn_unless`: `LEFT OP RIGHT`.
//!
//! LEFT is `status`, `duration`, `header.NAME`, a JSONPath starting with `$`,
//! or `len(PATH)`. OP is one of `== != < <= > >= contains matches in`. RIGHT
//! is a literal: a number, a `'single'` or `"double"` quoted string, `true`,
//! `false`, `null`, a duration such as `800ms` (only against `duration`), or a
//! list such as `['a', 'b', 1]` (only with `in`).
//!
//! Parsing happens once, when the config is loaded, so every mistake in a
//! condition is a config error with a byte range for a caret and a hint.
//! Evaluation never fails the program: it yields [`Outcome::Held`],
//! [`Outcome::Violated`] (with what was actually seen) or [`Outcome::Error`]
//! (the condition could not be evaluated against this observation).
//!
//! Inside quoted strings the only escape is a backslash before the closing
//! quote character (`'it\'s'`); every other backslash is kept verbatim so
//! regular expressions such as `'^\d+$'` read as written.
//!
//! One file per step: `syntax` holds the parsed form, `scan` finds where
//! an operand ends, `path` wraps JSONPath, `parse` reads the text, `check`
//! rejects combinations that cannot make sense (before any probe runs) and
//! `eval` applies a condition to an observation. A new operator touches
//! `syntax` (the enum), `parse`, `check` and `eval`.

mod check;
mod error;
mod eval;
mod parse;
mod path;
mod scan;
mod syntax;

pub use crate::outcome::Observation;
pub use error::ConditionError;
pub use eval::Outcome;
pub use path::{CompiledPath, compile_path};
pub use syntax::{Condition, Literal, Op, Operand};

#[cfg(test)]
mod test_support {
    //! Helpers shared by the tests of every part of the condition language.
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    pub(super) fn obs() -> Observation {
        Observation {
            value: json!({
                "status": "ok",
                "count": 42,
                "count_str": "42",
                "ratio": 0.75,
                "name": "x",
                "ok": true,
                "nothing": null,
                "version": "1.4.2",
                "deployed_at": "2024-05-01T10:00:00Z",
                "tags": ["blue", "green", 3],
                "items": [{"ok": true, "id": 1}, {"ok": false, "id": 2}, {"ok": true, "id": 3}],
                "services": {"db": "up", "cache": "down"},
                "with-dash": "yes",
                "text": "héllo wörld",
            }),
            body_is_json: true,
            content_type: Some("application/json".into()),
            status: Some(200),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("x-version".into(), "1.4.2".into()),
                ("content-length".into(), "1234".into()),
            ],
            duration: Duration::from_millis(350),
        }
    }

    pub(super) fn cond(src: &str) -> Condition {
        Condition::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e} ({e:?})"))
    }

    pub(super) fn eval_on(src: &str, o: &Observation) -> Outcome {
        cond(src).eval(o)
    }

    #[track_caller]
    pub(super) fn held(src: &str) {
        assert_eq!(eval_on(src, &obs()), Outcome::Held, "{src}");
    }

    #[track_caller]
    pub(super) fn violated(src: &str) -> String {
        match eval_on(src, &obs()) {
            Outcome::Violated { actual } => actual,
            other => panic!("{src}: expected Violated, got {other:?}"),
        }
    }

    #[track_caller]
    pub(super) fn eval_error(src: &str) -> String {
        match eval_on(src, &obs()) {
            Outcome::Error(e) => e,
            other => panic!("{src}: expected Error, got {other:?}"),
        }
    }

    #[track_caller]
    pub(super) fn perr(src: &str) -> ConditionError {
        match Condition::parse(src) {
            Ok(c) => panic!("{src:?} should not parse, got {c:?}"),
            Err(e) => {
                assert!(
                    e.offset + e.len <= src.len(),
                    "{src}: span out of bounds {e:?}"
                );
                assert!(src.is_char_boundary(e.offset), "{src}: {e:?}");
                e
            }
        }
    }

    /// The text under the caret.
    pub(super) fn under(src: &str, e: &ConditionError) -> String {
        src[e.offset..e.offset + e.len].to_string()
    }

    pub(super) fn help(e: &ConditionError) -> &str {
        e.help.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_can_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Condition>();
        send_sync::<CompiledPath>();
        send_sync::<Observation>();
        send_sync::<ConditionError>();
    }
}
