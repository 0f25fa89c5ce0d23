//! Recursive descent over the tokens of [`super::lexer`]; the grammar is described in the
//! parent module.

use super::lexer::{describe, Tok, Token};
use super::{clip, column, AttrPath, CompValue, CompareOp, Fail, Filter, PatchPath, MAX_DEPTH};

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
pub(super) fn attr_path(text: &str, pos: usize) -> Result<AttrPath, Fail> {
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

pub(super) struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    idx: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(input: &'a str, tokens: Vec<Token<'a>>) -> Self {
        Self {
            input,
            tokens,
            idx: 0,
            depth: 0,
        }
    }

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

    pub(super) fn expect_end(&self, expected: &str) -> Result<(), Fail> {
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

    pub(super) fn parse_or(&mut self, in_brackets: bool) -> Result<Filter, Fail> {
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

    pub(super) fn parse_patch_path(&mut self) -> Result<PatchPath, Fail> {
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
