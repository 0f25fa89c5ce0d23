//! Tokenizer for filters and PATCH paths: input becomes [`Token`]s ending with [`Tok::End`].

use super::{clip, Fail};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// Attribute path, keyword, or `.subAttr` after `]`; told apart by the parser.
    Word(&'a str),
    Str(String),
    Num(serde_json::Number),
    End,
}

#[derive(Debug, Clone)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    pub(super) pos: usize,
}

/// Bytes of attribute paths and keywords. `:` and `.` are included so a whole URN-qualified
/// path (`urn:...:2.0:User:name.givenName`) is one word, split later by `parser::attr_path`.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':' | b'.')
}

pub(super) fn describe(tok: &Tok<'_>) -> String {
    match tok {
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Word(w) => format!("`{}`", clip(w)),
        Tok::Str(s) => format!("string \"{}\"", clip(s)),
        Tok::Num(n) => format!("number {n}"),
        Tok::End => "the end of input".into(),
    }
}

pub(super) fn lex(input: &str) -> Result<Vec<Token<'_>>, Fail> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        // Multi-byte arms leave `i` just past their token; single-byte ones leave it alone.
        let tok = match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'"' => {
                // Only ASCII `"` and `\` matter here, and UTF-8 continuation bytes are
                // never ASCII, so scanning bytes is safe.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(Fail::new(start, "unterminated string literal"));
                }
                i += 1;
                // Filter strings are JSON strings (RFC 7644 §3.4.2.2), so JSON decodes them.
                let text = serde_json::from_str::<String>(&input[start..i]);
                let why = "invalid string literal (bad escape or unescaped control character)";
                let text = text.map_err(|_| Fail::new(start, why))?;
                // No stored value holds one, and PostgreSQL refuses it in text and jsonb.
                if text.contains('\0') {
                    return Err(Fail::new(
                        start,
                        "a string contains a NUL character (\\u0000)",
                    ));
                }
                Tok::Str(text)
            }
            b'-' | b'0'..=b'9' => {
                // Scan generously (`12abc` is one bad number, not a number and a word) and
                // let serde_json enforce the JSON number grammar.
                i += 1;
                while i < bytes.len()
                    && (is_word_byte(bytes[i])
                        || (matches!(bytes[i], b'+' | b'-') && matches!(bytes[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                let text = &input[start..i];
                let why = || Fail::new(start, format!("invalid number `{}`", clip(text)));
                let number: serde_json::Number = text.parse().map_err(|_| why())?;
                // serde_json's default float parsing may be one ULP off; the standard
                // library's is exact, so the value compared is the one written.
                let number = if number.is_f64() {
                    text.parse().ok().and_then(serde_json::Number::from_f64)
                } else {
                    Some(number)
                };
                Tok::Num(number.ok_or_else(why)?)
            }
            b if is_word_byte(b) => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                Tok::Word(&input[start..i])
            }
            _ => {
                let ch = input[i..].chars().next().unwrap_or('?');
                return Err(Fail::new(i, format!("unexpected character `{ch}`")));
            }
        };
        if i == start {
            i += 1;
        }
        tokens.push(Token { tok, pos: start });
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: bytes.len(),
    });
    Ok(tokens)
}
