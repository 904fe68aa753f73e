//! Config file text and the excerpts of it that messages show.
//!
//! An excerpt is a few lines around a span, each cut to a window of columns,
//! so that a message about a 10 MB line prints about a hundred characters of
//! it, and control characters in the file never reach the terminal.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// One file that was read, kept for error messages.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as given or as found by the include glob.
    pub path: PathBuf,
    /// The text, for carets.
    pub text: Arc<String>,
}

/// Columns of a line an excerpt shows.
const WIDTH: usize = 120;
/// Columns shown before the start of the span when a line is cut.
const LEAD: usize = 40;

impl SourceFile {
    /// `path:line:column` of byte `offset` (1-based, column in characters).
    pub fn location(&self, offset: usize) -> String {
        let (line, column) = self.line_col(offset);
        format!("{}:{line}:{column}", self.path.display())
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = self.text.as_str();
        let offset = floor_boundary(text, offset);
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        (line, before[line_start..].chars().count() + 1)
    }

    /// The lines around `span` (with `context` lines before and after),
    /// cut to a window of columns around its start.
    pub fn excerpt(&self, span: Range<usize>, context: usize) -> Excerpt {
        let text = self.text.as_str();
        let start = floor_boundary(text, span.start);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        // A span over several lines is shown from its start to the line's end.
        let end = floor_boundary(text, span.end.clamp(start, line_end));
        let (line, column) = self.line_col(start);

        let caret_line = &text[line_start..line_end];
        let first_char = caret_line[..start - line_start].chars().count();
        let span_chars = text[start..end].chars().count();
        let window = if caret_line.chars().nth(WIDTH).is_none() {
            0..WIDTH
        } else {
            let from = first_char.saturating_sub(LEAD);
            from..from + WIDTH
        };

        let mut before: Vec<&str> = text[..line_start]
            .strip_suffix('\n')
            .map(|t| t.rsplit('\n').take(context).collect())
            .unwrap_or_default();
        before.reverse();
        let after: Vec<&str> = if line_end < text.len() {
            text[line_end + 1..].split('\n').take(context).collect()
        } else {
            Vec::new()
        };

        let mut out = String::new();
        for l in &before {
            push_cut(&mut out, l, &window, None);
            out.push('\n');
        }
        let caret_from = first_char.clamp(window.start, window.end);
        let caret_to = (first_char + span_chars).clamp(caret_from, window.end);
        let (a, b) = push_cut(&mut out, caret_line, &window, Some(caret_from..caret_to));
        for l in &after {
            out.push('\n');
            push_cut(&mut out, l, &window, None);
        }
        Excerpt {
            name: self.path.display().to_string(),
            text: out,
            span: (a, b - a).into(),
            first_line: line - 1 - before.len(),
            caret_line: before.len(),
            column: column - 1,
        }
    }
}

/// Appends the characters of `line` in `window` (cut ends marked with `…`,
/// control characters replaced) and returns the byte range in `out` that
/// `mark` (a range of characters of `line`) covers.
fn push_cut(
    out: &mut String,
    line: &str,
    window: &Range<usize>,
    mark: Option<Range<usize>>,
) -> (usize, usize) {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if window.start > 0 && !line.is_empty() {
        out.push('…');
    }
    let (mut mark_start, mut mark_end) = (None, None);
    let shown = line.chars().skip(window.start).take(window.len());
    for (count, c) in (window.start..).zip(shown) {
        if let Some(m) = &mark {
            if m.start == count {
                mark_start = Some(out.len());
            }
            if m.end == count {
                mark_end = Some(out.len());
            }
        }
        out.push(if c.is_control() && c != '\t' {
            '\u{FFFD}'
        } else {
            c
        });
    }
    let from = mark_start.unwrap_or(out.len());
    let to = mark_end.unwrap_or(out.len()).max(from);
    if line.chars().nth(window.end).is_some() {
        out.push('…');
    }
    (from, to)
}

/// The largest char boundary of `text` at or before `offset`.
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A few cut lines of a file, with the real line numbers and the column of
/// the span's start, for miette's renderer.
#[derive(Debug, Clone)]
pub struct Excerpt {
    name: String,
    text: String,
    span: SourceSpan,
    /// 0-based line number of the first line of `text`.
    first_line: usize,
    /// Line of `text` (0-based) that holds the span.
    caret_line: usize,
    /// 0-based column (in characters) of the span's start in the file.
    column: usize,
}

impl Excerpt {
    /// The span to mark, in the excerpt's own coordinates.
    pub fn span(&self) -> SourceSpan {
        self.span
    }

    /// The excerpt's text (cut lines joined by `\n`).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let inner =
            self.text
                .as_bytes()
                .read_span(span, context_lines_before, context_lines_after)?;
        // Columns are only shown for the span itself: report the file's.
        let column = if inner.line() == self.caret_line && *span == self.span {
            self.column
        } else {
            inner.column()
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            column,
            inner.line_count(),
        )))
    }
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some(_) => {
            let keep = text
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..keep]).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile {
            path: "f.toml".into(),
            text: Arc::new(text.to_owned()),
        }
    }

    #[test]
    fn locates_lines_and_character_columns() {
        let f = file("a = 1\nb = \"é\" x\n");
        assert_eq!(f.location(0), "f.toml:1:1");
        assert_eq!(f.line_col(6), (2, 1));
        // `x` sits after a two-byte character.
        assert_eq!(f.line_col(15), (2, 9));
        assert_eq!(f.line_col(999), (3, 1));
    }

    #[test]
    fn short_lines_are_shown_whole_with_context() {
        let f = file("one\ntwo = 2\nthree\nfour\n");
        let e = f.excerpt(10..11, 1);
        assert_eq!(e.text(), "one\ntwo = 2\nthree");
        assert_eq!(&e.text()[e.span().offset()..e.span().offset() + 1], "2");
        assert_eq!((e.first_line, e.caret_line, e.column), (0, 1, 6));
    }

    #[test]
    fn a_huge_line_is_cut_around_the_caret() {
        let long = format!("x = \"{}\" junk", "a".repeat(10_000_000));
        let at = long.find("junk").expect("present");
        let f = file(&format!("[run]\n{long}\nnext = 1\n"));
        let e = f.excerpt(6 + at..6 + at + 4, 1);
        assert!(e.text().len() < 3 * (WIDTH + 10) * 3, "{}", e.text().len());
        let marked = &e.text()[e.span().offset()..e.span().offset() + e.span().len()];
        assert_eq!(marked, "junk");
        assert!(e.text().contains("…aaa"));
        assert_eq!(e.column, at);
        assert_eq!(e.first_line, 0);
    }

    #[test]
    fn control_characters_are_not_echoed() {
        let f = file("x = \"\u{1b}[31mred\" y");
        let e = f.excerpt(15..16, 0);
        assert!(!e.text().contains('\u{1b}'));
        assert_eq!(&e.text()[e.span().offset()..e.span().offset() + 1], "y");
    }

    #[test]
    fn spans_past_the_end_and_inside_characters_are_clamped() {
        let f = file("é");
        let e = f.excerpt(1..50, 0);
        assert_eq!(e.text(), "é");
        assert_eq!(e.span().offset(), 0);
        let e = f.excerpt(99..120, 2);
        assert_eq!(e.span().offset(), 2);
    }

    #[test]
    fn shortens_by_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééé", 2), "é…");
    }
}
