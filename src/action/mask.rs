//! Masks the secrets of one action attempt in everything shown or audited.
//!
//! One function so that the project-wide redactor can replace it in one place.

/// What replaces a secret.
pub const MASK: &str = "••••";

/// The secrets of one attempt (`${VAR}` values and the GitHub token).
#[derive(Clone, Default)]
pub struct Mask {
    secrets: Vec<String>,
}

/// Hand-written so secrets never show up in `{:?}`.
impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mask({} secrets)", self.secrets.len())
    }
}

impl Mask {
    /// Adds a secret; empty ones are ignored.
    pub fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret that contains another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
            for encoded in encodings(s) {
                if out.contains(encoded.as_str()) {
                    out = out.replace(encoded.as_str(), MASK);
                }
            }
        }
        out
    }

    /// Masks first, then keeps at most `max` characters (never the reverse:
    /// cutting first could leave half a secret that no longer matches).
    pub fn apply_short(&self, text: &str, max: usize) -> String {
        let masked = self.apply(text);
        if masked.chars().count() <= max {
            return masked;
        }
        let mut cut: String = masked.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// JSON-escaped and percent-encoded forms a body or URL may carry.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    if json != secret {
        out.push(json);
    }
    let pct: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if pct != secret {
        out.push(pct);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plain_and_encoded_then_shortens() {
        let mut m = Mask::default();
        m.add("s3cr3t/+x");
        assert_eq!(m.apply("a s3cr3t/+x b"), format!("a {MASK} b"));
        assert_eq!(m.apply("q=s3cr3t%2F%2Bx"), format!("q={MASK}"));
        assert_eq!(m.apply_short("xx s3cr3t/+x yy", 7), format!("xx {MASK}…"));
        assert!(!format!("{m:?}").contains("s3cr3t"));
    }
}
