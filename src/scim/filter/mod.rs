//! SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2 and §3.5.2): parsing only.
//!
//! A small lexer feeds a recursive-descent parser. Recursion only happens on `(`, `not (`
//! and `[`, each bounded by [`MAX_DEPTH`], and input is bounded by [`MAX_FILTER_LEN`], so a
//! hostile filter can neither exhaust the stack nor make parsing slow.
//!
//! Accepted beyond the strict RFC text, because real IdPs send it:
//! * `emails[type eq "work"].value eq "a@b.c"` (Microsoft Entra); see [`Filter::ValuePath`].
//! * Keywords `true`/`false`/`null` in any case (`True`), `not(` without a space, any
//!   whitespace (space, tab, CR, LF) where the RFC says one SP, and none around brackets.
//! * `and`/`or`/`not` inside `[...]` with parentheses (RFC errata 7322).

use std::fmt;

use crate::scim::error::{ScimError, ScimType};

/// Longer input is rejected before lexing.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest allowed nesting of `(...)`, `not (...)` and `[...]`.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// Schema URN prefix if the path was URN-qualified, e.g.
    /// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"; None otherwise.
    /// Kept as written.
    pub urn: Option<String>,
    /// Attribute name as written (callers compare case-insensitively).
    pub name: String,
    /// Sub-attribute, e.g. "givenName" in "name.givenName".
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// An unqualified path without sub-attribute.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    /// True when this is `name` (any case) without sub-attribute. The URN is not checked:
    /// callers that care about the schema look at `urn` themselves.
    pub fn is(&self, name: &str) -> bool {
        self.sub_attr.is_none() && self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    const KEYWORDS: [(Self, &'static str); 9] = [
        (Self::Eq, "eq"),
        (Self::Ne, "ne"),
        (Self::Co, "co"),
        (Self::Sw, "sw"),
        (Self::Ew, "ew"),
        (Self::Gt, "gt"),
        (Self::Ge, "ge"),
        (Self::Lt, "lt"),
        (Self::Le, "le"),
    ];

    /// Case-insensitive lookup of an operator keyword (`pr` is not a comparison).
    pub fn from_keyword(word: &str) -> Option<Self> {
        let found = Self::KEYWORDS
            .iter()
            .find(|(_, kw)| kw.eq_ignore_ascii_case(word));
        found.map(|(op, _)| *op)
    }

    /// The lowercase keyword, e.g. "eq".
    pub fn as_str(self) -> &'static str {
        let found = Self::KEYWORDS.iter().find(|(op, _)| *op == self);
        found.map_or("", |(_, kw)| kw)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`; the inner filter's paths are relative to `attr` (their
    /// `urn` is None and `name` is the sub-attribute, e.g. "type").
    ///
    /// Entra sends `emails[type eq "work"].value eq "a@b.c"`, which RFC 7644 does not allow
    /// in filters. It means "some email is work-typed and has that value", so the trailing
    /// `.value eq "a@b.c"` (or `.value pr`) is folded into the bracket filter:
    /// `ValuePath { attr: emails, filter: And(type eq "work", value eq "a@b.c") }`.
    ValuePath {
        attr: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH `path`: `attrPath`, or `valuePath [ "." subAttr ]` (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchPath {
    Attr(AttrPath),
    Value {
        attr: AttrPath,
        filter: Filter,
        sub_attr: Option<String>,
    },
}

/// Parses a `filter` query parameter or SearchRequest attribute. Errors are 400
/// `invalidFilter` naming the position and what was expected.
pub fn parse_filter(input: &str) -> Result<Filter, ScimError> {
    run(input, ScimType::InvalidFilter, |p| {
        let filter = p.parse_or(false)?;
        p.expect_end("`and`, `or` or the end of the filter")?;
        Ok(filter)
    })
}

/// Parses a PATCH operation `path`. Errors are 400 `invalidPath`.
pub fn parse_path(input: &str) -> Result<PatchPath, ScimError> {
    run(input, ScimType::InvalidPath, |p| p.parse_patch_path())
}

fn run<T>(
    input: &str,
    scim_type: ScimType,
    parse: impl FnOnce(&mut Parser<'_>) -> Result<T, Fail>,
) -> Result<T, ScimError> {
    let noun = if scim_type == ScimType::InvalidPath {
        "path"
    } else {
        "filter"
    };
    if input.len() > MAX_FILTER_LEN {
        let detail = format!("The {noun} is longer than {MAX_FILTER_LEN} bytes.");
        return Err(ScimError::bad_request(scim_type, detail));
    }
    if input.trim().is_empty() {
        return Err(ScimError::bad_request(
            scim_type,
            format!("The {noun} is empty."),
        ));
    }
    let result = lex(input).and_then(|tokens| {
        parse(&mut Parser {
            input,
            tokens,
            idx: 0,
            depth: 0,
        })
    });
    result.map_err(|fail| {
        let detail = format!(
            "Invalid {noun} at position {}: {}.",
            column(input, fail.pos),
            fail.msg
        );
        ScimError::bad_request(scim_type, detail)
    })
}

/// A parse failure at a byte offset; turned into a [`ScimError`] by [`run`].
#[derive(Debug)]
struct Fail {
    pos: usize,
    msg: String,
}

impl Fail {
    fn new(pos: usize, msg: impl Into<String>) -> Self {
        Self {
            pos,
            msg: msg.into(),
        }
    }
}

/// 1-based character column, because clients count characters, not UTF-8 bytes.
fn column(input: &str, pos: usize) -> usize {
    input.get(..pos).map_or(pos, |s| s.chars().count()) + 1
}

/// Shortens echoed input so an error detail stays readable.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
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
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

/// Bytes of attribute paths and keywords. `:` and `.` are included so a whole URN-qualified
/// path (`urn:...:2.0:User:name.givenName`) is one word, split later by [`attr_path`].
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'$' | b':' | b'.')
}

fn describe(tok: &Tok<'_>) -> String {
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

fn lex(input: &str) -> Result<Vec<Token<'_>>, Fail> {
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
                Tok::Str(text.map_err(|_| Fail::new(start, why))?)
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
                Tok::Num(text.parse().map_err(|_| why())?)
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

/// ALPHA *(nameChar), or `$ref` (RFC 7643 §2.1 and the `$ref` sub-attribute).
fn is_attr_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.eq_ignore_ascii_case("$ref")
        || (bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// `urn:NID:NSS...` with no empty segment.
fn is_urn(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        && s.split(':').count() >= 3
        && s.split(':').all(|segment| !segment.is_empty())
}

/// Splits `[urn ":"] name ["." sub]`. URNs contain dots ("2.0"), so the URN ends at the
/// last `:` and only what follows it is split on `.`.
fn attr_path(text: &str, pos: usize) -> Result<AttrPath, Fail> {
    let invalid = |why: &str| {
        Fail::new(
            pos,
            format!("`{}` is not a valid attribute path: {why}", clip(text)),
        )
    };
    let (urn, rest) = match text.rfind(':') {
        None => (None, text),
        Some(i) if is_urn(&text[..i]) => (Some(text[..i].to_string()), &text[i + 1..]),
        Some(_) => {
            return Err(invalid(
                "only a schema URN prefix (urn:...:) may contain `:`",
            ))
        }
    };
    let (name, sub_attr) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    if !is_attr_name(name) {
        return Err(invalid(
            "an attribute name starts with a letter, then letters, digits, `-` or `_`",
        ));
    }
    if let Some(sub) = sub_attr.filter(|sub| !is_attr_name(sub)) {
        return Err(invalid(&format!(
            "`{}` is not a valid sub-attribute name",
            clip(sub)
        )));
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub_attr: sub_attr.map(str::to_string),
    })
}

fn keyword(tok: &Tok<'_>, kw: &str) -> bool {
    matches!(tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    idx: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.idx]
    }

    fn bump(&mut self) -> Token<'a> {
        let token = self.tokens[self.idx].clone();
        if self.idx + 1 < self.tokens.len() {
            self.idx += 1;
        }
        token
    }

    fn unexpected(&self, expected: &str) -> Fail {
        let token = self.peek();
        Fail::new(
            token.pos,
            format!("expected {expected}, found {}", describe(&token.tok)),
        )
    }

    fn expect_end(&self, expected: &str) -> Result<(), Fail> {
        match self.peek().tok {
            Tok::End => Ok(()),
            Tok::RParen => Err(Fail::new(self.peek().pos, "`)` without a matching `(`")),
            _ => Err(self.unexpected(expected)),
        }
    }

    /// Consumes the opening `(` or `[` at the current token, parses the inner filter and
    /// the matching `close`, counting one nesting level.
    fn nested(&mut self, in_brackets: bool, close: Tok<'static>) -> Result<Filter, Fail> {
        let open = self.bump().pos;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Fail::new(
                open,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        let inner = self.parse_or(in_brackets)?;
        if self.peek().tok != close {
            let column = column(self.input, open);
            let close = describe(&close);
            return Err(self.unexpected(&format!(
                "`and`, `or` or {close} closing the one at position {column}"
            )));
        }
        self.bump();
        self.depth -= 1;
        Ok(inner)
    }

    fn parse_or(&mut self, in_brackets: bool) -> Result<Filter, Fail> {
        let mut left = self.parse_and(in_brackets)?;
        while keyword(&self.peek().tok, "or") {
            self.bump();
            let right = self.parse_and(in_brackets)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self, in_brackets: bool) -> Result<Filter, Fail> {
        let mut left = self.parse_unary(in_brackets)?;
        while keyword(&self.peek().tok, "and") {
            self.bump();
            let right = self.parse_unary(in_brackets)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self, in_brackets: bool) -> Result<Filter, Fail> {
        let token = self.peek().clone();
        match token.tok {
            // RFC 7644 only has `not (filter)`, so `not` is never an attribute name here.
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.bump();
                if self.peek().tok != Tok::LParen {
                    return Err(self.unexpected("`(` after `not` (write `not (expression)`)"));
                }
                let inner = self.nested(in_brackets, Tok::RParen)?;
                Ok(Filter::Not(Box::new(inner)))
            }
            Tok::LParen => self.nested(in_brackets, Tok::RParen),
            Tok::Word(w) => {
                self.bump();
                self.parse_attr_exp(w, token.pos, in_brackets)
            }
            _ => Err(self.unexpected("an attribute path, `(` or `not`")),
        }
    }

    fn parse_attr_exp(
        &mut self,
        text: &str,
        pos: usize,
        in_brackets: bool,
    ) -> Result<Filter, Fail> {
        let path = attr_path(text, pos)?;
        if in_brackets {
            // RFC errata 4690: a value filter cannot contain another value path, and its
            // paths name sub-attributes of the bracketed attribute.
            if self.peek().tok == Tok::LBracket {
                return Err(Fail::new(
                    self.peek().pos,
                    "value filters `[...]` cannot be nested",
                ));
            }
            if path.urn.is_some() || path.sub_attr.is_some() {
                let msg = format!(
                    "inside `[...]` use a plain sub-attribute name such as `type`, not `{}`",
                    clip(text)
                );
                return Err(Fail::new(pos, msg));
            }
        }
        if self.peek().tok != Tok::LBracket {
            return self.parse_operator(path);
        }
        let filter = self.parse_value_filter(&path)?;
        match self.take_dot_sub()? {
            // Entra's `emails[type eq "work"].value eq "x"`: see `Filter::ValuePath`.
            Some(sub) => {
                let trailing = self.parse_operator(AttrPath::new(sub))?;
                let filter = Box::new(Filter::And(Box::new(filter), Box::new(trailing)));
                Ok(Filter::ValuePath { attr: path, filter })
            }
            None => Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(filter),
            }),
        }
    }

    fn parse_value_filter(&mut self, attr: &AttrPath) -> Result<Filter, Fail> {
        if attr.sub_attr.is_some() {
            let msg = "`[...]` must follow a multi-valued attribute, not a sub-attribute";
            return Err(Fail::new(self.peek().pos, msg));
        }
        self.nested(true, Tok::RBracket)
    }

    /// The `.subAttr` that may follow `]`; the lexer reads it as a word starting with `.`.
    fn take_dot_sub(&mut self) -> Result<Option<String>, Fail> {
        let token = self.peek().clone();
        let Tok::Word(word) = token.tok else {
            return Ok(None);
        };
        let Some(sub) = word.strip_prefix('.') else {
            return Ok(None);
        };
        if !is_attr_name(sub) {
            let msg = format!(
                "`{}` after `]` is not a valid sub-attribute name",
                clip(word)
            );
            return Err(Fail::new(token.pos, msg));
        }
        self.bump();
        Ok(Some(sub.to_string()))
    }

    fn parse_operator(&mut self, path: AttrPath) -> Result<Filter, Fail> {
        const EXPECTED: &str = "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr)";
        let Tok::Word(word) = self.peek().tok else {
            return Err(self.unexpected(EXPECTED));
        };
        if word.eq_ignore_ascii_case("pr") {
            self.bump();
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(self.unexpected(EXPECTED));
        };
        self.bump();
        let value = match self.peek().tok.clone() {
            Tok::Str(s) => CompValue::Str(s),
            Tok::Num(n) => CompValue::Num(n),
            // Any case, because IdPs send `True`.
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => {
                let op = op.as_str();
                let expected = format!(
                    "a value after `{op}`: a double-quoted string, a number, true, false or null"
                );
                return Err(self.unexpected(&expected));
            }
        };
        self.bump();
        Ok(Filter::Compare { path, op, value })
    }

    fn parse_patch_path(&mut self) -> Result<PatchPath, Fail> {
        let token = self.peek().clone();
        let Tok::Word(text) = token.tok else {
            return Err(self.unexpected("an attribute path"));
        };
        self.bump();
        let attr = attr_path(text, token.pos)?;
        match self.peek().tok {
            Tok::End => Ok(PatchPath::Attr(attr)),
            Tok::LBracket => {
                let filter = self.parse_value_filter(&attr)?;
                let sub_attr = self.take_dot_sub()?;
                self.expect_end(match sub_attr {
                    Some(_) => "the end of the path",
                    None => "`.subAttribute` or the end of the path",
                })?;
                Ok(PatchPath::Value {
                    attr,
                    filter,
                    sub_attr,
                })
            }
            _ => Err(self.unexpected(
                "`[` or the end of the path (a PATCH path is like `name.givenName` or \
                 `emails[type eq \"work\"].value`, not a filter)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compact S-expression rendering so the tables stay readable.
    fn sexp(filter: &Filter) -> String {
        match filter {
            Filter::Compare { path, op, value } => {
                let value = match value {
                    CompValue::Str(s) => serde_json::to_string(s).unwrap(),
                    CompValue::Num(n) => n.to_string(),
                    CompValue::Bool(b) => b.to_string(),
                    CompValue::Null => "null".into(),
                };
                format!("({} {path} {value})", op.as_str())
            }
            Filter::Present(path) => format!("(pr {path})"),
            Filter::And(a, b) => format!("(and {} {})", sexp(a), sexp(b)),
            Filter::Or(a, b) => format!("(or {} {})", sexp(a), sexp(b)),
            Filter::Not(inner) => format!("(not {})", sexp(inner)),
            Filter::ValuePath { attr, filter } => format!("({attr} [{}])", sexp(filter)),
        }
    }

    /// Rows of `input => expected`, one per non-blank line.
    fn rows(table: &str) -> Vec<(&str, &str)> {
        let rows = table.lines().filter(|line| !line.trim().is_empty());
        rows.map(|line| line.split_once(" => ").expect(line))
            .map(|(input, expected)| (input.trim(), expected.trim()))
            .collect()
    }

    fn check_valid(table: &str) {
        for (input, expected) in rows(table) {
            match parse_filter(input) {
                Ok(filter) => assert_eq!(sexp(&filter), expected, "filter: {input}"),
                Err(e) => panic!("filter {input:?} should parse, got {e:?}"),
            }
        }
    }

    fn check_invalid_filter(input: &str, needle: &str) {
        let err = parse_filter(input).expect_err(input);
        assert_eq!(
            (err.status, err.scim_type),
            (400, Some(ScimType::InvalidFilter)),
            "{input}"
        );
        assert!(
            err.detail.contains(needle),
            "{input:?}: {:?} lacks {needle:?}",
            err.detail
        );
    }

    #[test]
    fn rfc_7644_examples() {
        check_valid(
            r#"
userName eq "bjensen" => (eq userName "bjensen")
name.familyName co "O'Malley" => (co name.familyName "O'Malley")
userName sw "J" => (sw userName "J")
urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J" => (sw urn:ietf:params:scim:schemas:core:2.0:User:userName "J")
title pr => (pr title)
meta.lastModified gt "2011-05-13T04:42:34Z" => (gt meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified ge "2011-05-13T04:42:34Z" => (ge meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified lt "2011-05-13T04:42:34Z" => (lt meta.lastModified "2011-05-13T04:42:34Z")
meta.lastModified le "2011-05-13T04:42:34Z" => (le meta.lastModified "2011-05-13T04:42:34Z")
title pr and userType eq "Employee" => (and (pr title) (eq userType "Employee"))
title pr or userType eq "Intern" => (or (pr title) (eq userType "Intern"))
schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User" => (eq schemas "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
userType eq "Employee" and (emails co "example.com" or emails.value co "example.org") => (and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))
userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org") => (and (ne userType "Employee") (not (or (co emails "example.com") (co emails.value "example.org"))))
userType eq "Employee" and (emails.type eq "work") => (and (eq userType "Employee") (eq emails.type "work"))
userType eq "Employee" and emails[type eq "work" and value co "@example.com"] => (and (eq userType "Employee") (emails [(and (eq type "work") (co value "@example.com"))]))
emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"] => (or (emails [(and (eq type "work") (co value "@example.com"))]) (ims [(and (eq type "xmpp") (co value "@foo.com"))]))
"#,
        );
    }

    #[test]
    fn idp_shapes() {
        check_valid(
            r#"
userName eq "jane@example.com" => (eq userName "jane@example.com")
externalId eq "00u1abc" => (eq externalId "00u1abc")
userName eq "9a3f-guid" => (eq userName "9a3f-guid")
emails[type eq "work"].value eq "jane@example.com" => (emails [(and (eq type "work") (eq value "jane@example.com"))])
emails[type eq "work"].value pr => (emails [(and (eq type "work") (pr value))])
emails.value eq "a@b.c" => (eq emails.value "a@b.c")
id eq "x" and userName eq "y" => (and (eq id "x") (eq userName "y"))
displayName eq "Engineering" => (eq displayName "Engineering")
members[value eq "2819c223"] => (members [(eq value "2819c223")])
manager.$ref pr => (pr manager.$ref)
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915" => (eq urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value "26118915")
"#,
        );
    }

    #[test]
    fn keywords_are_case_insensitive_and_precedence_holds() {
        check_valid(
            r#"
userName EQ "x" => (eq userName "x")
title PR AND userType Ne "y" => (and (pr title) (ne userType "y"))
NOT (a pr) Or b pr => (or (not (pr a)) (pr b))
not(a pr) => (not (pr a))
a eq 1 or b eq 2 and c eq 3 => (or (eq a 1) (and (eq b 2) (eq c 3)))
a eq 1 and b eq 2 or c eq 3 => (or (and (eq a 1) (eq b 2)) (eq c 3))
a pr and b pr and c pr => (and (and (pr a) (pr b)) (pr c))
a pr or b pr or c pr => (or (or (pr a) (pr b)) (pr c))
(a pr or b pr) and c pr => (and (or (pr a) (pr b)) (pr c))
(((a pr))) => (pr a)
a eq 1 and(b pr) => (and (eq a 1) (pr b))
emails [ type eq "work" ] => (emails [(eq type "work")])
emails[type eq "work" or not (type eq "home" and value ew "@x.com")] => (emails [(or (eq type "work") (not (and (eq type "home") (ew value "@x.com"))))])
"#,
        );
        assert_eq!(sexp(&parse_filter(" \t a   pr \t\r\n ").unwrap()), "(pr a)");
    }

    #[test]
    fn values() {
        check_valid(
            r#"
a eq "a\"b" => (eq a "a\"b")
a eq "\u00e9\\\/\n" => (eq a "é\\/\n")
a eq "Rock and (Roll) [x]" => (eq a "Rock and (Roll) [x]")
a eq "" and b pr => (and (eq a "") (pr b))
a eq "日本" => (eq a "日本")
a eq 42 => (eq a 42)
a gt -7 => (gt a -7)
a lt 1.5 => (lt a 1.5)
a le 1.5e3 => (le a 1500.0)
a ge -2E-2 => (ge a -0.02)
a eq 1e+2 => (eq a 100.0)
active eq true => (eq active true)
active eq True => (eq active true)
active eq FALSE => (eq active false)
manager eq null => (eq manager null)
"#,
        );
    }

    #[test]
    fn paths_split_urn_name_and_sub_attribute() {
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let filter = parse_filter(&format!("{enterprise}:manager.value eq \"x\"")).unwrap();
        let Filter::Compare { path, .. } = filter else {
            panic!("{filter:?}")
        };
        assert_eq!(path.urn.as_deref(), Some(enterprise));
        assert_eq!(
            (path.name.as_str(), path.sub_attr.as_deref()),
            ("manager", Some("value"))
        );
        assert!(!path.is("manager"));

        let filter = parse_filter(r#"emails[TYPE eq "work"]"#).unwrap();
        let Filter::ValuePath { attr, filter } = filter else {
            panic!("{filter:?}")
        };
        assert!(attr.is("EMAILS"));
        let Filter::Compare { path, .. } = *filter else {
            panic!("{filter:?}")
        };
        assert_eq!(path, AttrPath::new("TYPE"));
        assert!(path.is("type"));
    }

    #[test]
    fn invalid_filters() {
        let deep_ok = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse_filter(&deep_ok).is_ok());
        let max_len = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 7));
        assert!(parse_filter(&max_len).is_ok());

        let too_deep = format!("{}a pr{}", "(".repeat(100), ")".repeat(100));
        check_invalid_filter(&too_deep, "deeper than 32");
        let too_deep_not = format!("{}a pr{}", "not (".repeat(33), ")".repeat(33));
        check_invalid_filter(&too_deep_not, "deeper than 32");
        let too_deep_brackets = format!("a[{}b pr{}]", "(".repeat(32), ")".repeat(32));
        check_invalid_filter(&too_deep_brackets, "deeper than 32");
        check_invalid_filter(
            &format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN)),
            "longer than 4096",
        );
        check_invalid_filter("", "empty");
        check_invalid_filter(" \t ", "empty");
        check_invalid_filter("userName eq \"tab\there\"", "invalid string literal");

        let table = r#"
userName eq "bjensen => unterminated string
userName eq "bad \q escape" => invalid string literal
userName eq => expected a value after `eq`
userName eq and b pr => expected a value
userName eq bjensen => double-quoted string
userName => expected an operator
userName xx "a" => expected an operator
userName = "a" => unexpected character `=`
userName eq 'a' => unexpected character `'`
not userName eq "x" => `(` after `not`
not => `(` after `not`
(a pr => closing the one at position 1
a pr) => without a matching `(`
((a pr) => closing
() => expected an attribute path
userName eq "x" garbage => expected `and`, `or` or the end
a pr b pr => expected `and`, `or`
a pr and => expected an attribute path
or a pr => expected an operator
a eq 01 => invalid number
a eq 12abc => invalid number
a eq 1. => invalid number
a eq - => invalid number
a eq 1e999 => invalid number
1abc pr => invalid number
_a pr => not a valid attribute path
$foo pr => not a valid attribute path
a.b.c pr => not a valid sub-attribute name
name. pr => not a valid sub-attribute name
foo:bar pr => schema URN
urn:x pr => schema URN
urn:a::b:name pr => schema URN
emails[type eq "work" => closing the one at position 7
emails[type eq "work"]] => expected `and`, `or` or the end
emails[] => expected an attribute path
a[b[c eq 1]] => cannot be nested
emails[type eq "work" and x[y pr]] => cannot be nested
emails[emails.type eq "work"] => plain sub-attribute name
name.givenName[value eq "x"] => not a sub-attribute
emails[type eq "work"].value => expected an operator
emails[type eq "work"].value.x eq "y" => not a valid sub-attribute name
emails[type eq "work"]. eq "y" => not a valid sub-attribute name
"#;
        for (input, needle) in rows(table) {
            check_invalid_filter(input, needle);
        }
    }

    #[test]
    fn error_detail_names_position_and_expectation() {
        let err = parse_filter(r#"userName eq "é" xx"#).unwrap_err();
        let expected = "Invalid filter at position 17: \
                        expected `and`, `or` or the end of the filter, found `xx`.";
        assert_eq!(err.detail, expected);
    }

    #[test]
    fn patch_paths() {
        let table = r#"
active => active
 name.givenName  => name.givenName
members.$ref => members.$ref
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager => urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager
urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber => urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber
urn:ietf:params:scim:schemas:core:2.0:User:name.familyName => urn:ietf:params:scim:schemas:core:2.0:User:name.familyName
emails[type eq "work"].value => emails [(eq type "work")] value
emails[type eq "work"] => emails [(eq type "work")]
members[value eq "2819c223"] => members [(eq value "2819c223")]
addresses[type eq "work" and primary eq True].streetAddress => addresses [(and (eq type "work") (eq primary true))] streetAddress
"#;
        for (input, expected) in rows(table) {
            let rendered = match parse_path(input) {
                Ok(PatchPath::Attr(path)) => path.to_string(),
                Ok(PatchPath::Value {
                    attr,
                    filter,
                    sub_attr,
                }) => {
                    let sub = sub_attr.map(|sub| format!(" {sub}")).unwrap_or_default();
                    format!("{attr} [{}]{sub}", sexp(&filter))
                }
                Err(e) => panic!("path {input:?} should parse, got {e:?}"),
            };
            assert_eq!(rendered, expected, "path: {input}");
        }
        let path = parse_path("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName");
        let Ok(PatchPath::Attr(path)) = path else {
            panic!("{path:?}")
        };
        assert_eq!(
            path.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert_eq!(
            (path.name.as_str(), path.sub_attr.as_deref()),
            ("name", Some("familyName"))
        );

        let too_long = "a".repeat(MAX_FILTER_LEN + 1);
        let invalid = [
            "",
            r#"userName eq "x""#,
            "title pr",
            "name.givenName.x",
            "emails[]",
            r#"emails[type eq "work""#,
            r#"emails[type eq "work"].value.x"#,
            r#"emails[type eq "work"].value extra"#,
            r#"emails[type eq "work"][value eq "x"]"#,
            r#"emails[type[value eq "x"]]"#,
            r#"name.givenName[value eq "x"]"#,
            "(active)",
            "\"active\"",
            "foo:bar",
            &too_long,
        ];
        for input in invalid {
            let err = parse_path(input).expect_err(input);
            assert_eq!(
                (err.status, err.scim_type),
                (400, Some(ScimType::InvalidPath)),
                "{input}"
            );
        }
        assert!(parse_path(r#"userName eq "x""#)
            .unwrap_err()
            .detail
            .contains("not a filter"));
    }

    #[test]
    fn mutated_input_never_panics() {
        // Deterministic random edits of valid filters reach deep parser states cheaply.
        let bases = [
            r#"emails[type eq "work" and not (value co "@x")].value eq "a@b.c""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "é" or a gt -1.5e3"#,
            r#"(a pr and b ne true) or members[$ref eq null]"#,
        ];
        let pieces = [
            "[", "]", "(", ")", ".", ":", "\"", "\\", "\\u00", " ", "pr", "and", "not", "-", "e+",
            "é", "日", "$", "\t",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let mut parsed = 0;
        for _ in 0..5000 {
            let mut input = bases[next() % bases.len()].to_string();
            for _ in 0..1 + next() % 3 {
                let boundaries: Vec<usize> = input.char_indices().map(|(i, _)| i).collect();
                let at = boundaries[next() % boundaries.len()];
                if next() % 2 == 0 {
                    input.insert_str(at, pieces[next() % pieces.len()]);
                } else {
                    input.remove(at);
                }
            }
            parsed += usize::from(parse_filter(&input).is_ok());
            let _ = parse_path(&input);
        }
        assert!(parsed > 0, "some edits should keep the filter valid");
    }
}
