//! Scanning the source of a condition: where an operand ends, skipping blanks.

use super::error::ConditionError;

/// Scan an operand starting at `start`, respecting brackets, parentheses and
/// quotes. With `stop`, ends at top-level whitespace or an operator character;
/// otherwise runs to the end. Returns the end offset.
pub(super) fn scan(src: &str, start: usize, stop: bool) -> Result<usize, ConditionError> {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut quote: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in src[start..].char_indices() {
        let i = start + i;
        if let Some((q, _)) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some((c, i)),
            '(' | '[' => stack.push((c, i)),
            ')' | ']' => match stack.last() {
                Some(&(o, _)) if (o, c) == ('(', ')') || (o, c) == ('[', ']') => {
                    stack.pop();
                }
                Some(&(o, oi)) => {
                    let want = if o == '(' { ')' } else { ']' };
                    return Err(ConditionError::new(
                        format!("`{c}` closes the `{o}` at offset {oi}"),
                        i,
                        1,
                    )
                    .help(format!("close `{o}` with `{want}` first")));
                }
                None => {}
            },
            _ if stop && stack.is_empty() && (c.is_whitespace() || "=!<>~".contains(c)) => {
                return Ok(i);
            }
            _ => {}
        }
    }
    if let Some((q, qi)) = quote {
        return Err(
            ConditionError::new("unterminated string", qi, src.len() - qi)
                .help(format!("add the closing {q}")),
        );
    }
    if let Some(&(o, oi)) = stack.last() {
        if o == '(' && src[..oi].ends_with("len") {
            return Err(
                ConditionError::new("`len(` is not closed", oi - 3, src.len() - (oi - 3))
                    .help("close it with `)`, e.g. `len($.items) > 0`"),
            );
        }
        let want = if o == '(' { ')' } else { ']' };
        return Err(ConditionError::new(format!("unclosed `{o}`"), oi, 1)
            .help(format!("add the matching `{want}`")));
    }
    Ok(src.len())
}

pub(super) fn skip_ws(src: &str, mut pos: usize) -> usize {
    while let Some(c) = src[pos..].chars().next() {
        if !c.is_whitespace() {
            break;
        }
        pos += c.len_utf8();
    }
    pos
}
