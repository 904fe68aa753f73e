//! The report's JSON Schema (draft 2020-12), generated from the Rust types.
//!
//! Every status word carries its meaning (from the `///` on its variant), so
//! an agent reading the schema knows what `warning`, `error` or `stalled`
//! say without guessing. Strings the report copies from elsewhere (drift
//! status, its source) are described by schema-only enums beside them.

use serde_json::Value;

use super::{Report, SCHEMA_ID};

/// The report's JSON Schema as a JSON value, with `$id` = [`SCHEMA_ID`].
pub fn report_schema() -> Value {
    let mut schema = schemars::schema_for!(Report);
    schema.insert("$id".into(), SCHEMA_ID.into());
    schema.insert("title".into(), "villa-telemetry report".into());
    schema.to_value()
}

/// [`report_schema`] as pretty JSON with a trailing newline.
pub fn report_schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&report_schema()).expect("a schema serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_draft_2020_12_and_its_id() {
        let s = report_schema();
        assert_eq!(
            s["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{s:#}"
        );
        assert_eq!(s["$id"], SCHEMA_ID);
    }

    /// Every status word in the schema says what it means.
    #[test]
    fn every_status_value_has_a_description() {
        let s = report_schema();
        let defs = s["$defs"].as_object().expect("definitions");
        for name in [
            "Health",
            "CheckStatus",
            "CiStatus",
            "DriftStatus",
            "DriftSource",
            "Cause",
            "StopState",
            "ContainmentSource",
        ] {
            let def = &defs[name];
            let variants = def["oneOf"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} lists its values one by one: {def:#}"));
            assert!(!variants.is_empty());
            for v in variants {
                assert!(v.get("const").is_some(), "{name}: {v:#}");
                let d = v["description"].as_str().unwrap_or_default();
                assert!(!d.is_empty(), "{name} value {} has no meaning", v["const"]);
            }
        }
    }
}
