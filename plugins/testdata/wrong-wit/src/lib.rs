//! Test plugin: built against an incompatible WIT (no `run`), so load() must
//! reject it with a reason.
wit_bindgen::generate!({ path: "wit", world: "check-plugin" });

struct Plugin;

impl Guest for Plugin {
    fn describe() -> String {
        r#"{"name":"wrong-wit"}"#.into()
    }
}

export!(Plugin);
