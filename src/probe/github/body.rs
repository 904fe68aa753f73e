//! Reading a GitHub answer with bounded memory.
//!
//! The body is read frame by frame up to a cap: an answer past it is an
//! error, not a buffer of whatever size GitHub (or something in its place)
//! sends. A list page is also cut while it arrives to the `per_page` items
//! that were asked for: of a top-level array nothing past them is read at
//! all, and of a list inside the top-level object (`workflow_runs`,
//! `check_runs`) the extra items are skipped, not kept.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the cap arrived.
    TooLarge,
    /// The connection failed mid-body.
    Read(octocrab::Error),
}

/// The body, or as much of a page as `keep` asks for, read up to `cap` bytes.
pub(crate) async fn read(
    mut body: BoxBody<Bytes, octocrab::Error>,
    cap: usize,
    keep: Option<usize>,
) -> Result<Vec<u8>, BodyError> {
    let mut cut = keep.map(Cut::new);
    let mut plain = Vec::new();
    let mut arrived: usize = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        arrived = arrived.saturating_add(data.len());
        if arrived > cap {
            return Err(BodyError::TooLarge);
        }
        match &mut cut {
            Some(cut) => {
                cut.feed(&data);
                if cut.done {
                    break; // the rest of the page is not needed: stop reading
                }
            }
            None => plain.extend_from_slice(&data),
        }
    }
    Ok(cut.map_or(plain, |c| c.out))
}

/// The `per_page=N` of a request path (1 to 100 is what GitHub honours;
/// anything else leaves the page uncut).
pub(crate) fn per_page(path: &str) -> Option<usize> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("per_page="))
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=100).contains(n))
}

/// A byte filter over JSON text that keeps the first `keep` items of the
/// page's list: the top-level array, or each array that is a value of the
/// top-level object. It tracks strings and nesting only, so it holds no
/// more state than two counters however deep or long the input is; what
/// it emits is JSON again when what it was fed is.
pub(crate) struct Cut {
    keep: usize,
    out: Vec<u8>,
    depth: usize,
    top_is_object: bool,
    /// Depth of the list being cut and the items of it finished so far.
    list: Option<(usize, usize)>,
    /// Past `keep` items of `list`: bytes are skipped until it closes.
    dropping: bool,
    in_string: bool,
    escaped: bool,
    /// The top-level array has its `keep` items and was closed.
    done: bool,
}

impl Cut {
    pub(crate) fn new(keep: usize) -> Self {
        Cut {
            keep: keep.max(1),
            out: Vec::new(),
            depth: 0,
            top_is_object: false,
            list: None,
            dropping: false,
            in_string: false,
            escaped: false,
            done: false,
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.done {
                return;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else if !self.structural(b) {
                continue;
            }
            if !self.dropping {
                self.out.push(b);
            }
        }
    }

    /// Tracks one byte outside a string; false when it must not be emitted.
    fn structural(&mut self, b: u8) -> bool {
        match b {
            b'"' => self.in_string = true,
            b'[' | b'{' => {
                self.depth = self.depth.saturating_add(1);
                match (self.depth, b) {
                    (1, b'{') => self.top_is_object = true,
                    (1, b'[') => self.list = Some((1, 0)),
                    (2, b'[') if self.top_is_object && !self.dropping => self.list = Some((2, 0)),
                    _ => {}
                }
            }
            b']' | b'}' => {
                if self.list.is_some_and(|(d, _)| d == self.depth) {
                    self.list = None;
                    self.dropping = false;
                }
                self.depth = self.depth.saturating_sub(1);
            }
            b',' => {
                let Some((depth, items)) = &mut self.list else {
                    return true;
                };
                if *depth != self.depth || self.dropping {
                    return true;
                }
                *items += 1;
                if *items == self.keep {
                    // This comma would start item keep + 1.
                    if *depth == 1 {
                        self.out.push(b']');
                        self.done = true;
                    }
                    self.dropping = true;
                    return false;
                }
            }
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn cut(text: &str, keep: usize, chunk: usize) -> Value {
        let mut c = Cut::new(keep);
        for piece in text.as_bytes().chunks(chunk.max(1)) {
            c.feed(piece);
        }
        serde_json::from_slice(&c.out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&c.out)))
    }

    /// What the cut must equal: the list's first `keep` items.
    fn expected(v: &Value, keep: usize) -> Value {
        let first = |a: &Vec<Value>| Value::Array(a.iter().take(keep).cloned().collect());
        match v {
            Value::Array(a) => first(a),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| match v {
                        Value::Array(a) => (k.clone(), first(a)),
                        v => (k.clone(), v.clone()),
                    })
                    .collect(),
            ),
            v => v.clone(),
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Strings full of what the filter must not take for structure.
            "[\\[\\]{},:\"\\\\a-z é\u{1F600}]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z\"\\[,]{1,5}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn a_cut_page_is_its_first_items(v in json_value(), keep in 1usize..5, chunk in 1usize..40, pretty: bool) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            prop_assert_eq!(cut(&text, keep, chunk), expected(&v, keep));
        }
    }

    #[test]
    fn a_top_level_array_stops_at_its_items() {
        let mut c = Cut::new(2);
        c.feed(br#"[{"id":1,"s":"a,]"},{"id":2},{"id":3},"#);
        assert!(c.done);
        assert_eq!(c.out, br#"[{"id":1,"s":"a,]"},{"id":2}]"#);
        // Nothing after the cut is even looked at.
        c.feed(b"garbage");
        assert_eq!(c.out, br#"[{"id":1,"s":"a,]"},{"id":2}]"#);
    }

    #[test]
    fn a_list_in_the_top_object_skips_what_is_past_its_items() {
        let page = json!({"total_count": 3, "workflow_runs": [{"id": 1, "a": [1, 2]}, {"id": 2}, {"id": 3}], "after": [4, 5]});
        assert_eq!(
            cut(&page.to_string(), 1, 3),
            json!({"total_count": 3, "workflow_runs": [{"id": 1, "a": [1, 2]}], "after": [4]})
        );
    }

    #[test]
    fn per_page_is_read_from_the_query() {
        assert_eq!(
            per_page("repos/o/r/deployments?environment=x&per_page=5"),
            Some(5)
        );
        assert_eq!(per_page("repos/o/r/deployments?per_page=0"), None);
        assert_eq!(per_page("repos/o/r/deployments?per_page=1000"), None);
        assert_eq!(per_page("repos/o/r/compare/a...b"), None);
    }
}
