//! The grammar of header values (docs/spec.md §2): names, origins, nonces, numbers, titles.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use super::{AlertState, MAX_COMMENT_CHARS, MAX_DEDUP_KEY_CHARS, MAX_TITLE_CHARS, ParseError};

/// Most combining marks on one character (a base letter and two accents is as far as any
/// language here needs; dozens stacked are an attack on the screen).
pub const MAX_COMBINING_MARKS: usize = 2;

/// Text the LCD shows (an alert's title and body lines) holds only characters that show as
/// themselves or as the font's visible replacement: no format or bidirectional-control
/// characters (which make text read differently from its bytes, or take no room at all), no
/// line or paragraph separators, no private-use or unassigned code points, and combining marks
/// only on a character, at most [`MAX_COMBINING_MARKS`] of them. `line` is the text's first line
/// number; a body is checked line by line.
pub(super) fn check_showable(text: &str, line: usize) -> Result<(), ParseError> {
    for (i, l) in text.split('\n').enumerate() {
        let mut marks = 0usize;
        let mut base = false;
        for c in l.chars() {
            let refuse = |class| ParseError::Unshowable {
                line: line + i,
                code: c as u32,
                class,
            };
            match c.general_category() {
                GeneralCategory::Format => {
                    return Err(refuse("a format or bidirectional-control character"));
                }
                GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                    return Err(refuse("a line or paragraph separator"));
                }
                GeneralCategory::PrivateUse => return Err(refuse("a private-use character")),
                GeneralCategory::Unassigned => return Err(refuse("an unassigned code point")),
                GeneralCategory::NonspacingMark
                | GeneralCategory::SpacingMark
                | GeneralCategory::EnclosingMark => {
                    marks += 1;
                    if !base {
                        return Err(refuse("a combining mark with no character to combine with"));
                    }
                    if marks > MAX_COMBINING_MARKS {
                        return Err(refuse("one combining mark too many on a character"));
                    }
                }
                _ => {
                    marks = 0;
                    base = !c.is_whitespace();
                }
            }
        }
    }
    Ok(())
}

pub(super) fn check_chars(line: &str, line_no: usize, tab_ok: bool) -> Result<(), ParseError> {
    match line
        .chars()
        .find(|&c| c.is_control() && !(tab_ok && c == '\t'))
    {
        Some(c) => Err(ParseError::ControlChar {
            line: line_no,
            code: c as u32,
        }),
        None => Ok(()),
    }
}

/// Decimal without sign or leading zeros.
pub fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty()
        || v.len() > 20
        || !v.bytes().all(|b| b.is_ascii_digit())
        || (v.len() > 1 && v.starts_with('0'))
    {
        return None;
    }
    v.parse().ok()
}

pub(super) fn parse_state(v: &str) -> Option<AlertState> {
    match v {
        "firing" => Some(AlertState::Firing),
        "resolved" => Some(AlertState::Resolved),
        _ => None,
    }
}

pub(super) fn parse_hash_hex(v: &str) -> Option<[u8; 32]> {
    if v.len() != 64 || v.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(v, &mut out).ok()?;
    Some(out)
}

/// A principal or topic name: `[a-z0-9][a-z0-9._@-]{0,63}`.
pub fn valid_name(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._@-".contains(&c))
}

/// A name pattern: name characters plus `*` and `?`.
pub(super) fn valid_glob(v: &str) -> Option<String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._@-*?".contains(&c));
    ok.then(|| v.to_owned())
}

/// A log origin: printable ASCII without spaces or `+`, 1–128 bytes.
pub fn valid_origin(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic() && b != b'+')
}

/// 32–64 lowercase hex characters.
pub fn valid_nonce(v: &str) -> bool {
    (32..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn valid_title(v: &str) -> Option<String> {
    let n = v.chars().count();
    ((1..=MAX_TITLE_CHARS).contains(&n)).then(|| v.to_owned())
}

pub(super) fn valid_dedup_key(v: &str) -> Option<String> {
    let n = v.chars().count();
    ((1..=MAX_DEDUP_KEY_CHARS).contains(&n) && !v.contains(' ')).then(|| v.to_owned())
}

pub(super) fn valid_comment(v: &str) -> Option<String> {
    (v.chars().count() <= MAX_COMMENT_CHARS).then(|| v.to_owned())
}

/// Glob match over names (`*` any run, `?` one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
