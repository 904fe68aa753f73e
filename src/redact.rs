//! The one place secrets are taken out of text: every output, endpoint and
//! log line passes what it shows through a [`Redactor`] before anything
//! shortens it.
//!
//! A run's secrets are the values of the `${VAR}`s in its header values and
//! the GitHub token. Each is replaced with [`MASK`] wherever it appears:
//!
//! - literally, and URL-encoded in any mix (every byte as itself or as `%XX`
//!   with upper- or lower-case hex, a space also as `+`), since encoders
//!   differ in which characters they escape;
//! - base64, standard and URL-safe, padded or not, also inside a longer
//!   base64 text (`Basic` auth's `user:secret`): the secret can start at
//!   any of the three byte offsets of a base64 group, so each offset gets
//!   the characters that depend on the secret alone; a character or two
//!   at either end that mixes in the neighbours' bits remains;
//! - hex, lower or upper case;
//! - escaped as inside a JSON string (quotes, backslashes, controls), and
//!   with any character as a `\uXXXX` escape or `/` as `\/` (PHP's and
//!   some JSON encoders' habits);
//! - with any character as an HTML entity (`&#115;`, `&#x73;`, `&amp;`…);
//! - base64 wrapped at any column (MIME's 76), by `\n` or `\r\n`.
//!
//! Encoded forms shorter than [`MIN_ENCODED`] characters are not matched:
//! they would hit ordinary text.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use regex::Regex;
use serde_json::{Map, Value};

/// What replaces a secret.
pub const MASK: &str = "••••";

/// Shortest encoded form (base64, hex) that is matched.
pub const MIN_ENCODED: usize = 6;

/// Replaces a fixed set of secrets, in every form it knows, with [`MASK`].
/// Cheap to clone; the empty one changes nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    secrets: Vec<String>,
    /// Every form of every secret, longest first, so a longer form wins where
    /// two start at the same place.
    pattern: Regex,
}

/// Hand-written so the secrets never show up in `{:?}` output.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets().len())
    }
}

impl Redactor {
    /// A redactor for these secrets; empty ones are ignored.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut list: Vec<String> = Vec::new();
        for s in secrets {
            let s = s.as_ref();
            if !s.is_empty() && !list.iter().any(|x| x == s) {
                list.push(s.to_owned());
            }
        }
        if list.is_empty() {
            return Redactor::default();
        }
        let mut forms: Vec<Form> = list.iter().flat_map(|s| forms(s)).collect();
        forms.sort_by(|a, b| {
            (b.text.len().cmp(&a.text.len()))
                .then_with(|| a.text.cmp(&b.text))
                .then_with(|| a.wrapped.cmp(&b.wrapped))
        });
        forms.dedup_by(|a, b| a.text == b.text && a.wrapped == b.wrapped);
        let alternatives: Vec<String> = forms.iter().map(form_pattern).collect();
        let pattern = Regex::new(&alternatives.join("|"))
            // The pattern is made of escaped literals only: it always compiles
            // unless a secret is so long that the compiled size limit is hit.
            .or_else(|_| {
                regex::RegexBuilder::new(&alternatives.join("|"))
                    .size_limit(1 << 30)
                    .build()
            })
            .expect("escaped literals compile");
        Redactor {
            inner: Some(Arc::new(Inner {
                secrets: list,
                pattern,
            })),
        }
    }

    /// This redactor plus `more` secrets (itself when it has them all).
    pub fn with<S: AsRef<str>>(&self, more: &[S]) -> Redactor {
        let known = self.secrets();
        if more
            .iter()
            .all(|s| s.as_ref().is_empty() || known.iter().any(|k| k == s.as_ref()))
        {
            return self.clone();
        }
        Redactor::new(
            known
                .iter()
                .map(String::as_str)
                .chain(more.iter().map(AsRef::as_ref)),
        )
    }

    /// The secrets this redactor removes.
    pub fn secrets(&self) -> &[String] {
        self.inner.as_ref().map_or(&[], |i| &i.secrets)
    }

    /// True when it has no secret.
    pub fn is_empty(&self) -> bool {
        self.inner.is_none()
    }

    /// `text` with every form of every secret replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.inner {
            None => Cow::Borrowed(text),
            Some(i) => i.pattern.replace_all(text, MASK),
        }
    }

    /// [`Redactor::redact`] in place.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// Redacts every string and object key inside `value`.
    pub fn redact_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.redact_string(s),
            Value::Array(a) => a.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(o) => self.redact_map(o),
            _ => {}
        }
    }

    /// Redacts every value and key of a JSON object.
    pub fn redact_map(&self, map: &mut Map<String, Value>) {
        if self.is_empty() {
            return;
        }
        if map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_))) {
            let old = std::mem::take(map);
            for (k, v) in old {
                map.insert(self.redact(&k).into_owned(), v);
            }
        }
        map.values_mut().for_each(|v| self.redact_value(v));
    }

    /// Redacts `text`, then cuts it to at most `max_chars` characters, the
    /// last one `…` when it was cut. The order matters: cutting first could
    /// leave a part of a secret that no longer matches.
    pub fn redact_then_cut(&self, text: &str, max_chars: usize) -> String {
        shorten(&self.redact(text), max_chars)
    }
}

/// Cuts `text` to at most `max_chars` characters, the last one `…` when it
/// was cut. Only for text that is already redacted.
pub fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max_chars.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// One form a secret may take in text.
struct Form {
    text: String,
    /// Base64, which may be wrapped into lines.
    wrapped: bool,
}

/// The literal secret and its base64 and hex forms (URL-encoding, `\uXXXX`
/// and HTML entities are matched by [`form_pattern`] for every form, since
/// base64 may be encoded too).
fn forms(secret: &str) -> Vec<Form> {
    let bytes = secret.as_bytes();
    let plain = |text: String| Form {
        text,
        wrapped: false,
    };
    let mut out = vec![plain(secret.to_owned())];
    // As a JSON string holds it (an action's JSON body, an echoing answer).
    let json = serde_json::to_string(secret).unwrap_or_default();
    if let Some(inner) = json.get(1..json.len().saturating_sub(1))
        && inner != secret
    {
        out.push(plain(inner.to_owned()));
    }
    let mut encoded = Vec::new();
    for (padded, bare) in [(&STANDARD, &STANDARD_NO_PAD), (&URL_SAFE, &URL_SAFE_NO_PAD)] {
        encoded.push(Form {
            text: padded.encode(bytes),
            wrapped: true,
        });
        for offset in 0..3usize {
            let mut shifted = vec![0u8; offset];
            shifted.extend_from_slice(bytes);
            let text = bare.encode(&shifted);
            // Characters whose six bits all come from the secret.
            let first = (8 * offset).div_ceil(6);
            let end = (8 * (offset + bytes.len())) / 6;
            if end > first {
                encoded.push(Form {
                    text: text[first..end].to_owned(),
                    wrapped: true,
                });
            }
        }
    }
    let hex = hex::encode(bytes);
    encoded.push(plain(hex.to_ascii_uppercase()));
    encoded.push(plain(hex));
    out.extend(encoded.into_iter().filter(|f| f.text.len() >= MIN_ENCODED));
    out
}

/// A regex for `form` as it may appear in text: each character as itself,
/// percent-encoded (either hex case; a space also as `+`), as a JSON
/// `\uXXXX` escape, as an HTML character reference (decimal, hex, or the
/// named ones encoders emit), `/` also as `\/`; base64 with line breaks
/// anywhere.
fn form_pattern(form: &Form) -> String {
    let mut p = String::from("(?:");
    let mut buf = [0u8; 4];
    for (i, c) in form.text.chars().enumerate() {
        if form.wrapped && i > 0 {
            p.push_str(r"(?:\r?\n|\\r\\n|\\n)?");
        }
        p.push_str("(?:");
        p.push_str(&regex::escape(c.encode_utf8(&mut buf)));
        p.push('|');
        for b in c.encode_utf8(&mut buf).bytes() {
            let escaped = percent_encoding::percent_encode_byte(b);
            for h in escaped.chars() {
                push_hex_digit(&mut p, h);
            }
        }
        if c == ' ' {
            p.push_str("|\\+");
        }
        // JSON: \uXXXX (a surrogate pair beyond the BMP), `\/`.
        p.push('|');
        for unit in c.encode_utf16(&mut [0u16; 2]) {
            p.push_str(r"\\[uU]");
            for h in format!("{unit:04x}").chars() {
                push_hex_digit(&mut p, h);
            }
        }
        if c == '/' {
            p.push_str(r"|\\/");
        }
        // HTML: &#115; &#x73; and the named references for markup characters.
        p.push_str(&format!("|&#0*{};|&#[xX]0*", u32::from(c)));
        for h in format!("{:x}", u32::from(c)).chars() {
            push_hex_digit(&mut p, h);
        }
        p.push(';');
        let named: &[&str] = match c {
            '&' => &["amp"],
            '<' => &["lt"],
            '>' => &["gt"],
            '"' => &["quot"],
            '\'' => &["apos"],
            '/' => &["sol"],
            '=' => &["equals"],
            '+' => &["plus"],
            _ => &[],
        };
        for name in named {
            p.push_str(&format!("|&{name};"));
        }
        p.push(')');
    }
    p.push(')');
    p
}

/// A hex digit as a regex matching either case.
fn push_hex_digit(p: &mut String, h: char) {
    if h.is_ascii_alphabetic() {
        p.push('[');
        p.push(h.to_ascii_uppercase());
        p.push(h.to_ascii_lowercase());
        p.push(']');
    } else {
        p.push(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-T0ken/+=";

    fn clean(secret: &str, text: &str) -> String {
        Redactor::new([secret]).redact(text).into_owned()
    }

    #[test]
    fn literal_and_url_encoded_forms_are_masked() {
        let r = Redactor::new([SECRET]);
        assert_eq!(r.redact("a s3cr3t-T0ken/+= b"), "a •••• b");
        for encoded in [
            "s3cr3t-T0ken%2F%2B%3D",
            "s3cr3t-T0ken%2f%2b%3d",
            "%73%33cr3t-T0ken%2F%2b=",
        ] {
            assert_eq!(
                r.redact(&format!("?k={encoded}&x")),
                "?k=••••&x",
                "{encoded}"
            );
        }
        assert_eq!(clean("a b", "q=a+b"), "q=••••");
        assert_eq!(clean("a b", "q=a%20b"), "q=••••");
    }

    #[test]
    fn base64_forms_are_masked_at_every_offset() {
        for prefix in ["", "u:", "us:", "user:", "a-much-longer-user:"] {
            let text = format!("{prefix}{SECRET}");
            for engine in [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                let encoded = engine.encode(text.as_bytes());
                let out = clean(SECRET, &format!("Basic {encoded}"));
                assert!(out.contains(MASK), "{prefix:?}: {out}");
                // Left: the prefix's characters and at most one mixed
                // character at each end, plus padding.
                let left = out.len() - "Basic ".len() - MASK.len();
                let prefix_chars = (prefix.len() * 4).div_ceil(3);
                assert!(left <= prefix_chars + 3, "{prefix:?}: {out}");
            }
        }
        let whole = STANDARD.encode(SECRET);
        assert_eq!(clean(SECRET, &format!("x {whole} y")), "x •••• y");
    }

    #[test]
    fn hex_forms_are_masked() {
        let lower = hex::encode(SECRET);
        assert_eq!(clean(SECRET, &format!("h={lower}")), "h=••••");
        assert_eq!(
            clean(SECRET, &format!("h={}", lower.to_ascii_uppercase())),
            "h=••••"
        );
    }

    #[test]
    fn json_escaped_form_is_masked() {
        let secret = r#"pa"ss\word"#;
        let body = serde_json::json!({ "token": secret }).to_string();
        assert_eq!(clean(secret, &body), r#"{"token":"••••"}"#);
    }

    #[test]
    fn json_unicode_and_slash_escapes_are_masked() {
        let secret = "s3cr/t-T0ken";
        // PHP's json_encode escapes `/`; others write any character as \uXXXX.
        assert_eq!(clean(secret, r#"{"t":"s3cr\/t-T0ken"}"#), r#"{"t":"••••"}"#);
        assert_eq!(
            clean(secret, r#"{"t":"\u0073\u0033cr\/t-T0\u006Ben"}"#),
            r#"{"t":"••••"}"#
        );
        assert_eq!(clean("pässwörd-x", r"p\u00e4ssw\u00F6rd-x"), "••••");
        assert_eq!(clean("key-😀-xyz", r"key-\ud83d\ude00-xyz"), "••••");
    }

    #[test]
    fn html_entities_are_masked() {
        let secret = "s3cr3t&T0k<en>";
        for text in [
            "s3cr3t&amp;T0k&lt;en&gt;",
            "&#115;3cr3t&#38;T0k&#x3C;en&#X3e;",
            "&#0115;&#x033;cr3t&amp;T0k<en>",
        ] {
            assert_eq!(
                clean(secret, &format!("<p>{text}</p>")),
                "<p>••••</p>",
                "{text}"
            );
        }
    }

    #[test]
    fn base64_wrapped_at_76_columns_is_masked() {
        let secret = "a-rather-long-secret-value-that-wraps-".repeat(3);
        let encoded = STANDARD.encode(format!("user:{secret}"));
        let mime: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        for sep in ["\r\n", "\n", r"\n"] {
            let text = mime.join(sep);
            let out = clean(&secret, &text);
            assert!(out.contains(MASK), "{sep:?}: {out}");
            // Only the prefix's characters and a mixed one at each end remain.
            let left = out
                .replace(MASK, "")
                .replace(['\r', '\n'], "")
                .replace(r"\n", "");
            assert!(left.len() <= 12, "{sep:?}: {out}");
        }
    }

    #[test]
    fn short_encoded_forms_are_left_alone() {
        // "ab" in base64 is "YWI": too short to tell from ordinary text.
        assert_eq!(clean("ab", "YWI= and ab"), "YWI= and ••••");
    }

    #[test]
    fn json_values_and_keys_are_redacted() {
        let r = Redactor::new([SECRET]);
        let mut v =
            serde_json::json!({"k": [SECRET, 1], SECRET: {"x": format!("Bearer {SECRET}")}});
        r.redact_value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"k": ["••••", 1], "••••": {"x": "Bearer ••••"}})
        );
    }

    #[test]
    fn redact_comes_before_the_cut() {
        let r = Redactor::new([SECRET]);
        let text = format!("{}{SECRET}", "x".repeat(70));
        let out = r.redact_then_cut(&text, 80);
        assert!(out.ends_with("x••••"), "{out}");
        let long = format!("{}{SECRET}tail", "x".repeat(75));
        let out = r.redact_then_cut(&long, 78);
        assert_eq!(out.chars().count(), 78);
        assert!(!out.contains("s3c"), "{out}");
    }

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("héllo", 4), "hél…");
        assert_eq!(shorten("short", 5), "short");
        assert_eq!(shorten("", 0), "");
    }

    #[test]
    fn with_adds_only_new_secrets() {
        let r = Redactor::new(["one-secret"]);
        assert_eq!(r.with(&["one-secret"]).secrets().len(), 1);
        let more = r.with(&["two-secret"]);
        assert_eq!(more.redact("one-secret two-secret"), "•••• ••••");
        assert!(Redactor::new([""]).is_empty());
        assert_eq!(format!("{more:?}"), "Redactor(2 secrets)");
    }
}
