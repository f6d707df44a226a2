//! XML read into a small element tree that remembers where every element and attribute starts,
//! so that the hwloc and NCCL loaders can point at any value they reject
//! (`file:line:column: expected ..., found ...`).
//!
//! The tree is built without recursion (an explicit stack), nesting is limited to
//! [`MAX_XML_DEPTH`](crate::limits::MAX_XML_DEPTH) levels, and the whole input is checked: mismatched or missing end tags,
//! truncated markup, bad escapes and text outside the root element are errors.

use std::borrow::Cow;

use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{LoadError, LoadWarning, quote};

use crate::limits::MAX_XML_DEPTH as MAX_DEPTH;

/// One attribute, with the byte offset of its value in the input. Names and values borrow the
/// input, unless a value had to be unescaped.
#[derive(Clone, Debug)]
pub(crate) struct Attr<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
    pub pos: usize,
}

/// One element, with the byte offset of its `<`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Element<'a> {
    pub name: &'a str,
    pub pos: usize,
    pub attrs: Vec<Attr<'a>>,
    pub children: Vec<Element<'a>>,
    /// Character data directly inside the element; whitespace alone (the indentation between
    /// child elements) is not kept.
    pub text: String,
}

impl<'a> Element<'a> {
    /// The attribute named `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&Attr<'a>> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// The value of the attribute named `name`, if present.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.attr(name).map(|a| a.value.as_ref())
    }

    /// Child elements named `name`.
    pub fn children_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl DoubleEndedIterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// An input document and its name, for positioned errors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Doc<'a> {
    /// How to name the input in messages (a path).
    pub path: &'a str,
    /// The text.
    pub text: &'a str,
}

impl Doc<'_> {
    /// An error at byte offset `pos`.
    pub fn error(
        &self,
        pos: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> LoadError {
        let (line, column) = super::line_column(self.text, pos);
        LoadError::MalformedAt {
            path: self.path.to_owned(),
            line,
            column,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// A warning at byte offset `pos`.
    pub fn warning(&self, pos: usize, message: impl Into<String>) -> LoadWarning {
        let (line, column) = super::line_column(self.text, pos);
        LoadWarning {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// An error about an attribute's value.
    pub fn bad_value(&self, a: &Attr<'_>, expected: impl Into<String>) -> LoadError {
        self.error(
            a.pos,
            format!("{} = {}", a.name, expected.into()),
            quote(a.value.as_bytes()),
        )
    }

    /// A required attribute that is missing from `e`.
    pub fn missing(&self, e: &Element<'_>, name: &str, expected: &str) -> LoadError {
        self.error(
            e.pos,
            format!("attribute {name} ({expected}) on <{}>", e.name),
            "none",
        )
    }

    /// A required attribute of `e`.
    pub fn required<'e, 'x>(
        &self,
        e: &'e Element<'x>,
        name: &str,
        expected: &str,
    ) -> Result<&'e Attr<'x>, LoadError> {
        e.attr(name).ok_or_else(|| self.missing(e, name, expected))
    }
}

/// Byte offset of `inner` in `outer`, if `inner` is a slice of it.
fn offset_in(outer: &str, inner: &[u8]) -> Option<usize> {
    let start = outer.as_ptr() as usize;
    let p = inner.as_ptr() as usize;
    (p >= start && p + inner.len() <= start + outer.len()).then(|| p - start)
}

/// A parser error in words, without the byte positions quick-xml writes into some of its
/// messages (the error itself is placed at a line and column).
fn describe(e: &quick_xml::Error) -> String {
    match e {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
            format!("the unknown entity `&{name};` (XML predefines &amp; &lt; &gt; &quot; &apos;)")
        }
        quick_xml::Error::Escape(EscapeError::UnterminatedEntity(_)) => {
            "an `&` without the `;` that ends its entity".to_owned()
        }
        quick_xml::Error::InvalidAttr(a) => attr_problem(a).1,
        other => other.to_string(),
    }
}

/// Where in an attribute's value an escape error is (bytes from the value's start).
fn escape_offset(e: &quick_xml::Error) -> usize {
    match e {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(r, _)) => {
            r.start.saturating_sub(1)
        }
        quick_xml::Error::Escape(EscapeError::UnterminatedEntity(r)) => r.start,
        _ => 0,
    }
}

/// Where an attribute error is (bytes from the start of the tag's name) and what it is.
fn attr_problem(e: &AttrError) -> (usize, String) {
    match *e {
        AttrError::ExpectedEq(p) => (p, "an attribute name without `=` after it".to_owned()),
        AttrError::ExpectedValue(p) => (p, "`=` without a value".to_owned()),
        AttrError::UnquotedValue(p) => (p, "an unquoted value".to_owned()),
        AttrError::ExpectedQuote(p, q) => (p, format!("a value not closed by {}", q as char)),
        AttrError::Duplicated(p, _) => (p, "an attribute given twice".to_owned()),
    }
}

/// The input's text for `bytes`, a slice of it.
fn text_of<'a>(doc: &Doc<'a>, bytes: &[u8]) -> Option<&'a str> {
    let at = offset_in(doc.text, bytes)?;
    doc.text.get(at..at + bytes.len())
}

fn element<'a>(
    doc: &Doc<'a>,
    e: &BytesStart<'a>,
    fallback: usize,
) -> Result<Element<'a>, LoadError> {
    // `e` borrows the input: the name starts right after `<`.
    let pos = offset_in(doc.text, e.as_ref()).map_or(fallback, |p| p.saturating_sub(1));
    let name = text_of(doc, e.name().as_ref())
        .ok_or_else(|| doc.error(pos, "an element name", "bytes outside the input"))?;
    let mut attrs: Vec<Attr<'a>> = Vec::new();
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| {
            let (at, found) = attr_problem(&err);
            // Positions count from the tag's name, just after `<`.
            doc.error(
                pos + 1 + at,
                format!("attributes written name=\"value\" in <{name}>"),
                found,
            )
        })?;
        let apos = offset_in(doc.text, a.value.as_ref()).unwrap_or(pos);
        let key = text_of(doc, a.key.as_ref())
            .ok_or_else(|| doc.error(apos, "an attribute name", "bytes outside the input"))?;
        let value = match text_of(doc, a.value.as_ref()) {
            // Only `&` (references) and line breaks change a value when normalised.
            Some(v) if !v.bytes().any(|b| matches!(b, b'&' | b'\t' | b'\r' | b'\n')) => {
                Cow::Borrowed(v)
            }
            _ => Cow::Owned(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|err| {
                        doc.error(
                            apos + escape_offset(&err),
                            format!("a valid value for {key}"),
                            describe(&err),
                        )
                    })?
                    .into_owned(),
            ),
        };
        if attrs.iter().any(|x| x.name == key) {
            return Err(doc.error(
                apos,
                format!("one {key} attribute in <{name}>"),
                "a second one",
            ));
        }
        attrs.push(Attr {
            name: key,
            value,
            pos: apos,
        });
    }
    Ok(Element {
        name,
        pos,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Parses a whole document into its root element.
pub(crate) fn parse<'a>(doc: &Doc<'a>) -> Result<Element<'a>, LoadError> {
    let mut reader = Reader::from_str(doc.text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element<'a>> = Vec::new();
    let mut root: Option<Element<'a>> = None;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(0);
            doc.error(at, "well-formed XML", describe(&e))
        })?;
        match ev {
            Event::Start(e) | Event::Empty(e) if root.is_some() && stack.is_empty() => {
                let at = offset_in(doc.text, e.as_ref()).map_or(before, |p| p.saturating_sub(1));
                return Err(doc.error(
                    at,
                    "the end of the document after the root element",
                    "another element",
                ));
            }
            Event::Start(e) => {
                let el = element(doc, &e, before)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(doc.error(
                        el.pos,
                        format!("elements nested at most {MAX_DEPTH} deep"),
                        "deeper nesting",
                    ));
                }
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element(doc, &e, before)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(doc.error(before, "a start tag before an end tag", "an end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let s = t
                    .xml10_content()
                    .map_err(|e| doc.error(before, "UTF-8 text", e.to_string()))?;
                push_text(doc, &mut stack, root.is_some(), &s, before)?;
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| doc.error(before, "UTF-8 text", e.to_string()))?;
                push_text(doc, &mut stack, root.is_some(), &s, before)?;
            }
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&name)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            doc.error(before, "a predefined entity (&amp; &lt; &gt; &quot; &apos;) or a character reference", format!("&{name};"))
                        })?,
                    Err(e) => return Err(doc.error(before, "a valid character reference", describe(&e))),
                };
                push_text(doc, &mut stack, root.is_some(), &resolved, before)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(doc.error(
            doc.text.len(),
            format!("</{}> closing the element opened at {}", open.name, {
                let (l, c) = super::line_column(doc.text, open.pos);
                format!("{l}:{c}")
            }),
            "the end of the file",
        ));
    }
    root.ok_or_else(|| doc.error(doc.text.len(), "an XML root element", "none"))
}

fn push_text(
    doc: &Doc<'_>,
    stack: &mut [Element<'_>],
    after_root: bool,
    s: &str,
    pos: usize,
) -> Result<(), LoadError> {
    match stack.last_mut() {
        Some(e) => {
            if !(e.text.is_empty() && s.trim().is_empty()) {
                e.text.push_str(s);
            }
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(doc.error(
            pos,
            if after_root {
                "nothing after the root element"
            } else {
                "an XML element"
            },
            quote(s.as_bytes()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Element<'_>, LoadError> {
        parse(&Doc {
            path: "t.xml",
            text,
        })
    }

    #[test]
    fn tree_and_positions() {
        let t = "<a x=\"1\">\n  <b y='2'/>\n  <c>hi &amp; 3</c>\n</a>";
        let r = p(t).unwrap();
        assert_eq!(r.name, "a");
        assert_eq!(r.value("x"), Some("1"));
        assert_eq!(r.children.len(), 2);
        let b = &r.children[0];
        assert_eq!(super::super::line_column(t, b.pos), (2, 3));
        let y = b.attr("y").unwrap();
        assert_eq!(super::super::line_column(t, y.pos), (2, 9));
        assert_eq!(r.children[1].text, "hi & 3");
    }

    #[test]
    fn broken_documents_are_positioned_errors() {
        for (bad, line) in [
            ("<a>\n<b>\n</a>", 3),
            ("<a>\n<b>", 2),
            ("<a x=\"1\" x=\"2\"/>", 1),
            ("", 1),
            ("<a/>\n<b/>", 2),
            ("<a>\n &bogus; </a>", 2),
            ("<a\n", 1),
        ] {
            match p(bad) {
                Err(LoadError::MalformedAt { line: l, .. }) => assert_eq!(l, line, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn nesting_is_limited() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(p(&deep).is_err());
    }
}
