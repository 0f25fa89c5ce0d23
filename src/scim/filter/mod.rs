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

mod lexer;
mod parser;

use lexer::lex;
use parser::Parser;

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

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // JSON string escapes are the grammar's own (RFC 7644 §3.4.2.2, compValue).
            CompValue::Str(text) => write!(f, "{}", serde_json::Value::String(text.clone())),
            CompValue::Num(number) => write!(f, "{number}"),
            CompValue::Bool(flag) => write!(f, "{flag}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

/// The canonical text of a filter: every operand of `and`/`or`/`not` in parentheses, so that
/// reading it back gives the same tree whatever the precedence.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(a, b) => write!(f, "({a}) and ({b})"),
            Filter::Or(a, b) => write!(f, "({a}) or ({b})"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath { attr, filter } => write!(f, "{attr}[{filter}]"),
        }
    }
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

/// Parses one attribute path (`sortBy`, `attributes`): `[urn ":"] name ["." sub]`. Errors are
/// 400 `invalidValue` naming `parameter`.
pub fn parse_attribute(input: &str, parameter: &str) -> Result<AttrPath, ScimError> {
    let text = input.trim();
    if text.contains('\0') {
        let detail = format!("{parameter}: the name contains a NUL character.");
        return Err(ScimError::bad_request(ScimType::InvalidValue, detail));
    }
    parser::attr_path(text, 0).map_err(|fail| {
        ScimError::bad_request(
            ScimType::InvalidValue,
            format!("{parameter}: {}.", fail.msg),
        )
    })
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
    if input.contains('\0') {
        let detail = format!("The {noun} contains a NUL character.");
        return Err(ScimError::bad_request(scim_type, detail));
    }
    let result = lex(input).and_then(|tokens| parse(&mut Parser::new(input, tokens)));
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

#[cfg(test)]
mod tests;
