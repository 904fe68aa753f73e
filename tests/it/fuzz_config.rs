//! Property tests for the config loader, the plan builder and the condition
//! parser (issue 9): arbitrary bytes and mutated valid configs never panic,
//! never take more than a second, and end in a plan or a config error whose
//! message renders. A few cases go through the binary: exit 0 or 3, nothing
//! else.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use villa_telemetry::condition::Condition;
use villa_telemetry::config::Config;
use villa_telemetry::error::ConfigError;
use villa_telemetry::plan;

/// CPU time one case may take (debug build included).
const CASE_BUDGET: Duration = Duration::from_secs(1);

/// Wall time one case may take: CPU time plus waiting for a machine that
/// is shared with other builds; a hang still fails.
const CASE_WALL: Duration = Duration::from_secs(5);

/// CPU time this thread has used, where the OS tells (Linux); else `None`
/// and the wall-clock bound alone applies.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field, stime the 15th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Fails the case when it used more than [`CASE_BUDGET`] of CPU or more
/// than [`CASE_WALL`] of wall time.
struct Budget {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Budget {
    fn start() -> Budget {
        Budget {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        self.check_within(1)
    }

    /// As [`Budget::check`] with `times` the budgets.
    fn check_within(&self, times: u32) -> Result<(), TestCaseError> {
        let wall = self.wall.elapsed();
        prop_assert!(wall < CASE_WALL * times, "took {wall:?} of wall time");
        if let (Some(before), Some(now)) = (self.cpu, thread_cpu()) {
            let cpu = now.saturating_sub(before);
            prop_assert!(cpu < CASE_BUDGET * times, "took {cpu:?} of CPU time");
        }
        Ok(())
    }
}

/// Valid configs the mutations start from: the shapes users write.
const SEEDS: [&str; 4] = [
    r#"[project]
name = "Shop"
repo = "acme/shop"

[run]
timeout = "2s"
concurrency = 8

[[environments]]
id = "production"
url = "https://shop.example"

[[environments]]
id = "staging"
url = "https://staging.shop.example"
tracks = "production"

[[checks]]
id = "health"
environments = ["*"]
http = { url = "{{env.url}}/api/health", headers = { Authorization = "Bearer ${TOKEN}" } }
expect = ["status == 200", "$.status == 'ok'", "duration < 800ms"]
extract = { sha = "$.commit", version = "$.version" }

[[checks]]
id = "drift"
github = { compare = "{{environments.production.sha}}...{{environments.staging.sha}}" }
warn_unless = ["$.ahead_by == 0"]

[[links]]
name = "Logs"
url = "https://logs.example/?env={{environments.production.id}}"
"#,
    r#"[[environments]]
id = "p"
url = "http://127.0.0.1:9/"

[[checks]]
id = "ci"
github = { workflow = "ci.yml", branch = "main", repo = "o/r", stalled_after = "20m" }

[[checks]]
id = "local"
git = { path = "." }
expect = ["$.uncommitted_changes == false", "len($.branch) > 0"]

[[checks]]
id = "body"
environments = ["p"]
http = { url = "{{env.url}}/x?v={{checks.ci.sha}}", method = "POST", body = "{\"a\": {{#if env.sha}}1{{else}}2{{/if}}}" }
expect = ["header.content-type contains 'json'", "$.items[0].name matches '^a.*'"]
"#,
    include_str!("../../checks/examples/prometheus.toml"),
    include_str!("../../checks/examples/vercel.toml"),
];

/// Fragments mutations insert: syntax that has broken parsers before.
const FRAGMENTS: [&str; 32] = [
    "{{",
    "}}",
    "{{> p}}",
    "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
    "{{#if a}}",
    "{{/if}}",
    "{{#each checks}}{{#each ../checks}}",
    "((((((((((",
    "${TOKEN}",
    "${",
    "[[checks]]\nid = \"health\"\nhttp = { url = \"http://x/\" }\n",
    "[[checks]]\n",
    "[[environments]]\nid = \"production\"\n",
    "include = [\"/dev/zero\"]\n",
    "include = [\"/**\"]\n",
    "\"",
    "'",
    "\n",
    "=",
    "[",
    "]",
    "{",
    "}",
    "\u{0}",
    "\u{1b}[31m",
    "é",
    "$..[?(@.a == 1)]",
    " == ",
    " matches '(' ",
    "len(",
    "tracks = \"staging\"\n",
    "environments = [\"nope\", \"*\"]\n",
];

/// One edit of a config text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Remove `len` bytes at a position.
    Delete(usize, usize),
    /// Insert a fragment at a position.
    Insert(usize, usize),
    /// Repeat the line at a position this many times.
    RepeatLine(usize, usize),
    /// Insert a long run of one character (long lines, far columns).
    Long(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(at, f)| Mutation::Insert(at, f)),
        (any::<usize>(), 1..50usize).prop_map(|(at, n)| Mutation::RepeatLine(at, n)),
        (any::<usize>(), 65_000..66_000usize).prop_map(|(at, n)| Mutation::Long(at, n)),
    ]
}

/// Largest mutated text: past it the case measures the debug build's
/// parsing speed, not the loader's bounds (the huge-input cases are in
/// tests/it/hardening.rs).
const MAX_MUTATED: usize = 64 * 1024;

/// The char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &mut String, m: &Mutation) {
    match *m {
        Mutation::Delete(at, n) => {
            let from = boundary(text, at);
            let to = boundary(text, from + n.min(text.len() - from));
            text.replace_range(from..to.max(from), "");
        }
        Mutation::Insert(at, f) => {
            let at = boundary(text, at);
            text.insert_str(at, FRAGMENTS[f]);
        }
        Mutation::RepeatLine(at, n) => {
            let at = boundary(text, at);
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
            let line = text[start..end].to_owned();
            text.insert_str(end, &line.repeat(n));
        }
        Mutation::Long(at, n) => {
            let at = boundary(text, at);
            text.insert_str(at, &"a".repeat(n));
        }
    }
}

/// Loads and plans `text` as a main file in `dir`, as `check` does (minus
/// plugin compilation), and renders any error. Panics fail the property.
fn load_and_plan(dir: &Path, text: String) -> Result<(), TestCaseError> {
    let budget = Budget::start();
    let outcome = Config::from_text(&dir.join("villa-telemetry.toml"), text).and_then(plan::build);
    match outcome {
        Ok(plan) => {
            prop_assert!(plan.jobs.len() <= 100_000);
        }
        Err(e) => {
            let rendered = e.render(false);
            prop_assert!(!rendered.is_empty());
            prop_assert!(
                rendered.len() < 64 * 1024,
                "{} bytes of message",
                rendered.len()
            );
            if let ConfigError::Invalid(problems) = &e {
                prop_assert!(!problems.is_empty());
            }
        }
    }
    budget.check()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().expect("tempdir");
        load_and_plan(dir.path(), String::from_utf8_lossy(&bytes).into_owned())?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let dir = tempfile::tempdir().expect("tempdir");
        load_and_plan(dir.path(), text)?;
    }

    #[test]
    fn mutated_configs_never_panic(
        seed in 0..SEEDS.len(),
        edits in proptest::collection::vec(mutation(), 1..6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = SEEDS[seed].to_owned();
        for m in &edits {
            apply(&mut text, m);
        }
        text.truncate(boundary(&text, MAX_MUTATED.min(text.len())));
        load_and_plan(dir.path(), text)?;
    }

    #[test]
    fn conditions_never_panic(
        text in prop_oneof![
            "\\PC{0,120}",
            proptest::sample::select(vec![
                "status == 200", "$.a.b[0] == 'x'", "len($.items) > 3", "duration < 800ms",
                "header.etag matches '^W/'", "$.v in [1, 2, 3]", "$..[?(@.a > 1)] contains 'z'",
            ]).prop_flat_map(|c| (Just(c), any::<usize>(), 0..FRAGMENTS.len()))
              .prop_map(|(c, at, f)| {
                  let mut s = c.to_owned();
                  apply(&mut s, &Mutation::Insert(at, f));
                  s
              }),
        ]
    ) {
        let budget = Budget::start();
        if let Err(e) = Condition::parse(&text) {
            prop_assert!(e.offset <= text.len(), "offset {} past {}", e.offset, text.len());
            prop_assert!(text.is_char_boundary(e.offset));
        }
        budget.check()?;
    }
}

/// Deep nesting where parsers recurse: TOML arrays and tables, templates,
/// sub-expressions, conditions, JSONPath.
#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 100_000;
    let cases = [
        format!("x = {}{}\n", "[".repeat(n), "]".repeat(n)),
        format!("x = {}{}\n", "{a = ".repeat(n), "}".repeat(n)),
        format!(
            "[[checks]]\nid = \"a\"\nplugin = {{ wasm = \"x.wasm\", config = {{ a = {}1{} }} }}\n",
            "[".repeat(5_000),
            "]".repeat(5_000)
        ),
        format!(
            "[[checks]]\nid = \"a\"\nhttp = {{ url = \"http://x/{}\" }}\n",
            "{{#if a}}".repeat(n)
        ),
        format!(
            "[[checks]]\nid = \"a\"\nhttp = {{ url = \"http://x/{{{{eq {}1{}}}}}\" }}\n",
            "(eq 1 ".repeat(n),
            ")".repeat(n)
        ),
        format!(
            "[[checks]]\nid = \"a\"\nhttp = {{ url = \"http://x/\" }}\nexpect = [\"{}$.a{} == 1\"]\n",
            "len(".repeat(n),
            ")".repeat(n)
        ),
        format!(
            "[[checks]]\nid = \"a\"\nhttp = {{ url = \"http://x/\" }}\nextract = {{ a = \"$..[?({}@.a{})]\" }}\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    ];
    for text in cases {
        let budget = Budget::start();
        let outcome = Config::from_text(&dir.path().join("villa-telemetry.toml"), text.clone())
            .and_then(plan::build);
        let err = outcome.expect_err("refused");
        assert!(!err.render(false).is_empty());
        // Inputs of about 1 MB: twice the per-case budget of the properties.
        if let Err(e) = budget.check_within(2) {
            panic!("{e} for {}", &text[..60]);
        }
    }
}

/// Through the binary: a few hostile files give exit 0 or 3, never a panic
/// (101) or a signal, within the budget.
#[test]
fn the_binary_exits_0_or_3() {
    let mut cases: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00, b'[', 0x80],
        b"[[checks]]\nid = \"a\"\nhttp = { url = \"http://127.0.0.1:9/{{#*inline \\\"p\\\"}}{{> p}}{{/inline}}{{> p}}\" }\n".to_vec(),
        format!("[project]\nname = \"{}\" junk\n", "a".repeat(65_530)).into_bytes(),
        b"[project]\ninclude = [\"/dev/zero\"]\n".to_vec(),
        SEEDS[0].as_bytes().to_vec(),
    ];
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..3 {
        let edits = proptest::collection::vec(mutation(), 1..4)
            .new_tree(&mut runner)
            .expect("value")
            .current();
        let mut text = SEEDS[1].to_owned();
        for m in &edits {
            apply(&mut text, m);
        }
        cases.push(text.into_bytes());
    }
    for bytes in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("villa-telemetry.toml"), &bytes).expect("write");
        let mut cmd = assert_cmd::Command::cargo_bin("villa-telemetry").expect("binary");
        cmd.current_dir(dir.path()).arg("check");
        support::clean_env(&mut cmd);
        let out = support::execute(cmd);
        assert!(
            out.code == 0 || out.code == 3,
            "exit {} for {:?}…\nstderr:\n{}",
            out.code,
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)]),
            &out.stderr[..out.stderr.len().min(2000)]
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        // Process start, a debug build and a machine shared with other
        // builds add to the in-process budget.
        assert!(out.elapsed < Duration::from_secs(10), "{:?}", out.elapsed);
    }
}

/// A number as a config might spell it: small, at a unit boundary, huge,
/// past `u64`, negative, fractional.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..5_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        proptest::sample::select(vec![
            "18446744073709551615",
            "18446744073709551616",
            "2305843009213693952",
            "99999999999999999999999999",
            "-1",
            "0",
            "1.5",
            "1e30",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A duration text: a number and any of humantime's units (or none, or
/// two numbers glued together as "1h30m" is).
fn duration_text() -> impl Strategy<Value = String> {
    let unit = proptest::sample::select(vec![
        "", "ns", "us", "ms", "s", "m", "h", "d", "w", "M", "y", "days", "x",
    ]);
    prop_oneof![
        (number(), unit.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (number(), unit.clone(), number(), unit).prop_map(|(a, u, b, v)| format!("{a}{u}{b}{v}")),
    ]
}

/// The places a config holds a duration or a count, each as the line that
/// sets it: `[run] timeout`, a check's timeout, `refresh`, `stalled_after`,
/// `concurrency`, `history`, `max_body`.
const SLOTS: [&str; 7] = [
    "[run]\ntimeout = \"{}\"\n",
    "[[checks]]\nid = \"t\"\nhttp = {{ url = \"http://127.0.0.1:9/t\", timeout = \"{}\" }}\n",
    "[serve]\nrefresh = \"{}\"\n",
    "[[checks]]\nid = \"w\"\ngithub = {{ workflow = \"ci.yml\", repo = \"o/r\", stalled_after = \"{}\" }}\n",
    "[run]\nconcurrency = {}\n",
    "[github]\nhistory = {}\n",
    "[run]\nmax_body = \"{}\"\n",
];

fn slot_value(slot: usize) -> BoxedStrategy<String> {
    match slot {
        0..=3 => duration_text().boxed(),
        4 | 5 => number().boxed(),
        _ => prop_oneof![
            number(),
            (
                number(),
                proptest::sample::select(vec!["B", "KiB", "MiB", "GiB", "kb"])
            )
                .prop_map(|(n, u)| format!("{n}{u}")),
        ]
        .boxed(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every duration and count a config may hold (issue 17): either the
    /// plan holds a value inside the stated range, or the config is refused
    /// with a message that names the line. Never a panic or an overflow.
    #[test]
    fn durations_and_counts_are_in_range_or_refused(
        (slot, value) in (0..SLOTS.len()).prop_flat_map(|s| (Just(s), slot_value(s))),
    ) {
        use villa_telemetry::units::{REFRESH, TIMEOUT};
        let line = SLOTS[slot].replace("{}", &value).replace("{{", "{").replace("}}", "}");
        let text = format!("{line}[[checks]]\nid = \"a\"\nhttp = {{ url = \"http://127.0.0.1:9/a\" }}\n");
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = Budget::start();
        match Config::from_text(&dir.path().join("villa-telemetry.toml"), text.clone()).and_then(plan::build) {
            Ok(planned) => {
                let s = &planned.settings;
                prop_assert!((TIMEOUT.min..=TIMEOUT.max).contains(&s.timeout), "{text}");
                prop_assert!((REFRESH.min..=REFRESH.max).contains(&s.refresh), "{text}");
                prop_assert!((1..=plan::MAX_CONCURRENCY).contains(&s.concurrency), "{text}");
                prop_assert!(s.github_history <= plan::MAX_GITHUB_HISTORY, "{text}");
                for c in &planned.checks {
                    prop_assert!((TIMEOUT.min..=TIMEOUT.max).contains(&c.timeout), "{text}");
                }
            }
            Err(e) => {
                let rendered = e.render(false);
                prop_assert!(rendered.contains("villa-telemetry.toml:"), "{rendered}");
            }
        }
        budget.check()?;
    }
}
