//! The XML parser every SAML input goes through, and escaping for the XML procura writes.
//!
//! roxmltree refuses DTDs (so no entity expansion, no external entities). It is not linear on
//! every shape, though: an element declaring a namespace copies and scans the whole list of
//! namespaces in scope, and duplicate attributes are looked for pairwise. So before roxmltree
//! sees a document, [`prescan`] walks it once, linearly, and refuses what would make that
//! work grow faster than the input: too many elements, too deep, too many attributes or
//! namespace declarations on one element, too many namespaces in scope or declared in all,
//! names or attribute values too long (issue 11). The limits come in two sets, for messages
//! and for metadata, both configurable (`[spid.message_limits]`, `[spid.metadata_limits]`).

use crate::config::{SpidConfig, XmlLimitsConfig};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use roxmltree::{Document, Node, ParsingOptions};
use std::borrow::Cow;

/// What a document may hold, checked by [`prescan`] before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the document.
    pub max_bytes: usize,
    /// Elements in the document.
    pub max_elements: usize,
    /// Elements open at once.
    pub max_depth: usize,
    /// Attributes of one element, namespace declarations not counted.
    pub max_attributes: usize,
    /// Namespace declarations on one element.
    pub max_namespace_declarations: usize,
    /// Namespace declarations on an element and its ancestors together (an upper bound of
    /// the namespaces in scope, redeclarations counted again).
    pub max_namespaces_in_scope: usize,
    /// Namespace declarations in the whole document.
    pub max_namespace_declarations_total: usize,
    /// Bytes of an element or attribute name (prefix included).
    pub max_name_bytes: usize,
    /// Bytes of an attribute value as written.
    pub max_attribute_value_bytes: usize,
}

impl Limits {
    /// SAML messages (Response, LogoutRequest, LogoutResponse) of at most `max_bytes`.
    ///
    /// What real messages need, measured (scripts/spid-xml-shape.py) on the 89 Response
    /// templates of spid-sp-test 1.2.18 with every SPID attribute and both signatures: at
    /// most 91 elements, depth 7, 5 attributes and 3 namespace declarations on an element,
    /// 7 in scope along a path, 51 in a document (each AttributeValue declaring `xs` and
    /// `xsi`), names of 28 bytes, attribute values of 60. The limits leave a factor of 5 to
    /// 45 above that.
    pub const fn message(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_elements: 4096,
            max_depth: 32,
            max_attributes: 32,
            max_namespace_declarations: 16,
            max_namespaces_in_scope: 32,
            max_namespace_declarations_total: 256,
            max_name_bytes: 256,
            max_attribute_value_bytes: 4096,
        }
    }

    /// IdP metadata and the AgID aggregate (fetched from configured sources, not anonymous,
    /// but parsed on every refresh and at start-up) of at most `max_bytes`.
    pub const fn metadata(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            max_elements: 200_000,
            max_depth: 64,
            max_attributes: 64,
            max_namespace_declarations: 64,
            max_namespaces_in_scope: 128,
            max_namespace_declarations_total: 16_384,
            max_name_bytes: 512,
            max_attribute_value_bytes: 65_536,
        }
    }

    /// The message limits as configured (`spid.max_message_bytes`, `[spid.message_limits]`).
    pub fn for_messages(config: &SpidConfig) -> Self {
        Self::message(config.max_message_bytes).with(&config.message_limits)
    }

    /// The metadata limits as configured (`spid.max_metadata_bytes`, `[spid.metadata_limits]`).
    pub fn for_metadata(config: &SpidConfig) -> Self {
        Self::metadata(config.max_metadata_bytes).with(&config.metadata_limits)
    }

    /// These limits with the configured overrides applied.
    pub fn with(self, overrides: &XmlLimitsConfig) -> Self {
        Self {
            max_bytes: self.max_bytes,
            max_elements: overrides.max_elements.unwrap_or(self.max_elements),
            max_depth: overrides.max_depth.unwrap_or(self.max_depth),
            max_attributes: overrides.max_attributes.unwrap_or(self.max_attributes),
            max_namespace_declarations: overrides
                .max_namespace_declarations
                .unwrap_or(self.max_namespace_declarations),
            max_namespaces_in_scope: overrides
                .max_namespaces_in_scope
                .unwrap_or(self.max_namespaces_in_scope),
            max_namespace_declarations_total: overrides
                .max_namespace_declarations_total
                .unwrap_or(self.max_namespace_declarations_total),
            max_name_bytes: overrides.max_name_bytes.unwrap_or(self.max_name_bytes),
            max_attribute_value_bytes: overrides
                .max_attribute_value_bytes
                .unwrap_or(self.max_attribute_value_bytes),
        }
    }

    /// For re-parsing the exclusive canonical form of a part whose signature verified: it may
    /// be a little longer than the part as received, and namespace declarations move down to
    /// where they are used (an `xsi` declared once on the Assertion is declared again on each
    /// AttributeValue), so those limits grow with the element count.
    pub fn canonical(self) -> Self {
        let per_element = self
            .max_attributes
            .saturating_add(1)
            .saturating_add(super::c14n::MAX_INCLUSIVE_PREFIXES);
        Self {
            max_bytes: self.max_bytes.saturating_mul(2),
            max_namespace_declarations: per_element,
            max_namespaces_in_scope: self
                .max_namespaces_in_scope
                .saturating_mul(2)
                .saturating_add(super::c14n::MAX_INCLUSIVE_PREFIXES),
            max_namespace_declarations_total: self.max_elements.saturating_mul(per_element),
            ..self
        }
    }
}

/// A byte count alone means a message of at most that size.
impl From<usize> for Limits {
    fn from(max_bytes: usize) -> Self {
        Self::message(max_bytes)
    }
}

impl From<&Limits> for Limits {
    fn from(limits: &Limits) -> Self {
        *limits
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// A structural limit of [`Limits`] (what, the limit).
    #[error("{0}: more than {1}")]
    Limit(&'static str, usize),
    #[error("not base64")]
    Base64,
    #[error("not UTF-8")]
    Utf8,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
}

/// Parses `text` within `limits` (a byte count means [`Limits::message`]): refuses DTDs and
/// whatever breaks a limit, before roxmltree builds the tree.
pub fn parse(text: &str, limits: impl Into<Limits>) -> Result<Document<'_>, XmlError> {
    let limits = limits.into();
    prescan(text, &limits)?;
    let options = ParsingOptions {
        allow_dtd: false,
        // Elements are bounded by the prescan; text, comments and PIs lie between them.
        nodes_limit: u32::try_from(limits.max_elements.saturating_mul(4).saturating_add(64))
            .unwrap_or(u32::MAX),
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| XmlError::Malformed(e.to_string()))
}

/// One linear pass over `text` checking every limit; no tree is built. It reads tags,
/// attributes (quoted values may hold `>`), comments, processing instructions and CDATA
/// sections as XML defines them, and refuses a DTD or anything it cannot read; well-formedness
/// is left to the parser that runs after it.
pub fn prescan(text: &str, limits: &Limits) -> Result<(), XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge(limits.max_bytes));
    }
    let mut scan = Prescan {
        bytes: text.as_bytes(),
        at: 0,
        limits,
        elements: 0,
        declarations_total: 0,
        in_scope: 0,
        open: Vec::new(),
    };
    scan.run()
}

struct Prescan<'t, 'l> {
    bytes: &'t [u8],
    at: usize,
    limits: &'l Limits,
    elements: usize,
    declarations_total: usize,
    /// Declarations on the open elements together.
    in_scope: usize,
    /// Declarations of each open element.
    open: Vec<usize>,
}

fn malformed(what: &str) -> XmlError {
    XmlError::Malformed(what.to_owned())
}

impl Prescan<'_, '_> {
    fn rest(&self) -> &[u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    fn starts_with(&self, s: &[u8]) -> bool {
        self.rest().starts_with(s)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Moves past the next `end`, which must come.
    fn skip_past(&mut self, end: &[u8], what: &str) -> Result<(), XmlError> {
        let found = self
            .rest()
            .windows(end.len())
            .position(|w| w == end)
            .ok_or_else(|| malformed(what))?;
        self.at = self.at.saturating_add(found).saturating_add(end.len());
        Ok(())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// A name up to whitespace, `=`, `/` or `>`; returns it.
    fn name(&mut self) -> Result<&[u8], XmlError> {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || matches!(b, b'=' | b'/' | b'>' | b'<' | b'"' | b'\'') {
                break;
            }
            self.at += 1;
            if self.at - start > self.limits.max_name_bytes {
                return Err(XmlError::Limit("name length", self.limits.max_name_bytes));
            }
        }
        if self.at == start {
            return Err(malformed("a name was expected"));
        }
        Ok(self.bytes.get(start..self.at).unwrap_or_default())
    }

    fn run(&mut self) -> Result<(), XmlError> {
        while let Some(offset) = self.rest().iter().position(|&b| b == b'<') {
            self.at += offset;
            if self.starts_with(b"<!--") {
                self.skip_past(b"-->", "unterminated comment")?;
            } else if self.starts_with(b"<![CDATA[") {
                self.skip_past(b"]]>", "unterminated CDATA section")?;
            } else if self.starts_with(b"<!") {
                return Err(malformed("DTD or declaration not allowed"));
            } else if self.starts_with(b"<?") {
                self.skip_past(b"?>", "unterminated processing instruction")?;
            } else if self.starts_with(b"</") {
                self.at += 2;
                self.name()?;
                self.skip_whitespace();
                if self.peek() != Some(b'>') {
                    return Err(malformed("unterminated end tag"));
                }
                self.at += 1;
                let declared = self
                    .open
                    .pop()
                    .ok_or_else(|| malformed("unbalanced end tag"))?;
                self.in_scope = self.in_scope.saturating_sub(declared);
            } else {
                self.at += 1;
                self.start_tag()?;
            }
        }
        Ok(())
    }

    fn start_tag(&mut self) -> Result<(), XmlError> {
        let l = self.limits;
        self.name()?;
        self.elements += 1;
        if self.elements > l.max_elements {
            return Err(XmlError::Limit("elements", l.max_elements));
        }
        let (mut attributes, mut declarations) = (0_usize, 0_usize);
        let empty = loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'>') => {
                    self.at += 1;
                    break false;
                }
                Some(b'/') => {
                    if self.bytes.get(self.at + 1) != Some(&b'>') {
                        return Err(malformed("`/` in a start tag"));
                    }
                    self.at += 2;
                    break true;
                }
                None => return Err(malformed("unterminated start tag")),
                Some(_) => {}
            }
            let name = self.name()?;
            let is_declaration = name == b"xmlns" || name.starts_with(b"xmlns:");
            self.skip_whitespace();
            if self.peek() != Some(b'=') {
                return Err(malformed("an attribute without a value"));
            }
            self.at += 1;
            self.skip_whitespace();
            let quote = self
                .peek()
                .filter(|q| matches!(q, b'"' | b'\''))
                .ok_or_else(|| malformed("an unquoted attribute value"))?;
            self.at += 1;
            let length = self
                .rest()
                .iter()
                .position(|&b| b == quote)
                .ok_or_else(|| malformed("unterminated attribute value"))?;
            if length > l.max_attribute_value_bytes {
                return Err(XmlError::Limit(
                    "attribute value length",
                    l.max_attribute_value_bytes,
                ));
            }
            self.at += length + 1;
            if is_declaration {
                declarations += 1;
                if declarations > l.max_namespace_declarations {
                    return Err(XmlError::Limit(
                        "namespace declarations on an element",
                        l.max_namespace_declarations,
                    ));
                }
            } else {
                attributes += 1;
                if attributes > l.max_attributes {
                    return Err(XmlError::Limit(
                        "attributes on an element",
                        l.max_attributes,
                    ));
                }
            }
        };
        self.declarations_total += declarations;
        if self.declarations_total > l.max_namespace_declarations_total {
            return Err(XmlError::Limit(
                "namespace declarations",
                l.max_namespace_declarations_total,
            ));
        }
        if self.in_scope + declarations > l.max_namespaces_in_scope {
            return Err(XmlError::Limit(
                "namespaces in scope",
                l.max_namespaces_in_scope,
            ));
        }
        if self.open.len() >= l.max_depth {
            return Err(XmlError::Limit("depth", l.max_depth));
        }
        if !empty {
            self.open.push(declarations);
            self.in_scope += declarations;
        }
        Ok(())
    }
}

/// Decodes a base64 SAML message (line breaks and spaces allowed), bounded before and after.
pub fn decode_base64(encoded: &str, max_bytes: usize) -> Result<String, XmlError> {
    // base64 is 4/3 the size of what it carries; refuse early what could not fit.
    if encoded.len() > max_bytes.saturating_mul(4) / 3 + 1024 {
        return Err(XmlError::TooLarge(max_bytes));
    }
    // Bytes, not chars: base64 is ASCII, and this runs on every anonymous POST.
    let compact: Vec<u8> = encoded
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD.decode(compact).map_err(|_| XmlError::Base64)?;
    if bytes.len() > max_bytes {
        return Err(XmlError::TooLarge(max_bytes));
    }
    String::from_utf8(bytes)
        .map(normalize_line_ends)
        .map_err(|_| XmlError::Utf8)
}

/// Line ends as XML 1.0 §2.11 has a processor see them before it parses anything: `\r\n` and a
/// lone `\r` become `\n` (a `&#xD;` reference stays a carriage return).
///
/// Every XML that arrives goes through this before [`parse`]: roxmltree normalizes line ends
/// itself, except a `\r` next to an entity or character reference, which it keeps; libxml2
/// (and so the IdPs' signers) does not, and the canonical forms would differ (found by the
/// differential tests, scripts/spid-differential.sh).
pub fn normalize_line_ends(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('\r') {
        out.push_str(rest.get(..at).unwrap_or(""));
        out.push('\n');
        rest = rest.get(at + 1..).unwrap_or("");
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The element's qualified name as written in the source (`saml:Assertion`): roxmltree keeps
/// only the namespace URI, canonicalization needs the prefix.
pub fn qname<'a>(node: Node<'a, '_>) -> &'a str {
    let source = node.document().input_text();
    let start = node.range().start + 1;
    let rest = source.get(start..).unwrap_or("");
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or("")
}

/// The prefix of the element's name, `""` for the default namespace.
pub fn prefix<'a>(node: Node<'a, '_>) -> &'a str {
    qname(node).split_once(':').map_or("", |(p, _)| p)
}

pub fn is<'a>(node: Node<'a, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// The element children of `node` named `ns:local`.
pub fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, ns, local))
}

/// The first element child of `node` named `ns:local`.
pub fn child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> Option<Node<'a, 'i>> {
    children(node, ns, local).next()
}

/// Every element in the document named `ns:local`.
pub fn descendants<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.descendants().filter(move |c| is(*c, ns, local))
}

/// The text of an element (its text children joined), trimmed.
pub fn text(node: Node<'_, '_>) -> String {
    let joined: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect();
    joined.trim().to_owned()
}

/// Escapes character data for an element's content.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Escapes an attribute value (double-quoted).
pub fn escape_attr(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, attr: bool) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\r', '\n', '\t']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            '\n' if attr => out.push_str("&#xA;"),
            '\t' if attr => out.push_str("&#x9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dtd_and_entities() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(matches!(parse(xxe, 1 << 20), Err(XmlError::Malformed(_))));
        let bomb = r#"<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>"#;
        assert!(parse(bomb, 1 << 20).is_err());
    }

    #[test]
    fn refuses_oversized_input() {
        let big = format!("<r>{}</r>", "x".repeat(2000));
        assert_eq!(parse(&big, 1000).err(), Some(XmlError::TooLarge(1000)));
        let encoded = STANDARD.encode(big.as_bytes());
        assert_eq!(decode_base64(&encoded, 1000), Err(XmlError::TooLarge(1000)));
    }

    /// Small limits, so that each can be broken by a few bytes.
    const SMALL: Limits = Limits {
        max_bytes: 1 << 20,
        max_elements: 5,
        max_depth: 3,
        max_attributes: 2,
        max_namespace_declarations: 2,
        max_namespaces_in_scope: 3,
        max_namespace_declarations_total: 4,
        max_name_bytes: 8,
        max_attribute_value_bytes: 8,
    };

    fn limit_of(text: &str) -> Option<&'static str> {
        match parse(text, SMALL) {
            Err(XmlError::Limit(what, _)) => Some(what),
            Err(e) => panic!("{text}: {e}"),
            Ok(_) => None,
        }
    }

    #[test]
    fn each_limit_refuses_what_breaks_it() {
        let cases = [
            ("<r><a/><a/><a/><a/></r>", None),
            ("<r><a/><a/><a/><a/><a/></r>", Some("elements")),
            ("<r><a><b/></a></r>", None),
            ("<r><a><b><c/></b></a></r>", Some("depth")),
            (r#"<r a="1" b='2'/>"#, None),
            (
                r#"<r a="1" b="2" c="3"/>"#,
                Some("attributes on an element"),
            ),
            (r#"<r xmlns="urn:a" xmlns:b="urn:b"/>"#, None),
            (
                r#"<r xmlns="urn:a" xmlns:b="urn:b" xmlns:c="urn:c"/>"#,
                Some("namespace declarations on an element"),
            ),
            (
                r#"<r xmlns:a="a"><s xmlns:b="b"><t xmlns:c="c"/></s></r>"#,
                None,
            ),
            (
                r#"<r xmlns:a="a"><s xmlns:b="b" xmlns:c="c"><t xmlns:d="d"/></s></r>"#,
                Some("namespaces in scope"),
            ),
            // Scope ends with the element: siblings may each declare, up to the total.
            (
                r#"<r><s xmlns:a="a"/><s xmlns:a="a"/><s xmlns:a="a"/></r>"#,
                None,
            ),
            (
                r#"<r><s xmlns:a="a"/><s xmlns:a="a"/><s xmlns:a="a"/><s xmlns:a="a" xmlns:b="b"/></r>"#,
                Some("namespace declarations"),
            ),
            ("<abcdefgh/>", None),
            ("<abcdefghi/>", Some("name length")),
            (r#"<r abcdefghi="1"/>"#, Some("name length")),
            ("<r></abcdefghi>", Some("name length")),
            (r#"<r a="12345678"/>"#, None),
            (r#"<r a="123456789"/>"#, Some("attribute value length")),
        ];
        for (text, expected) in cases {
            assert_eq!(limit_of(text), expected, "{text}");
        }
    }

    #[test]
    fn the_prescan_reads_markup_as_xml_does() {
        // `>` and `<`-free markup inside quotes, comments, PIs and CDATA is not a tag.
        let text = concat!(
            r#"<?xml version="1.0"?><!-- <a><a><a><a><a><a> --><r a='x>"y' b="/>">"#,
            "<?pi <a><a><a><a><a>?><![CDATA[<a><a><a><a><a><a>]]>text > more</r>"
        );
        assert_eq!(limit_of(text), None);
        assert!(parse(text, SMALL).is_ok());
        for broken in [
            "<r><!-- open",
            "<r><![CDATA[ open",
            "<r a=\"x></r>",
            "<r a=x/>",
            "<r a/>",
            "<r/ >",
            "</r>",
            "<r",
        ] {
            assert!(
                matches!(parse(broken, SMALL), Err(XmlError::Malformed(_))),
                "{broken}"
            );
        }
    }

    #[test]
    fn configured_overrides_replace_single_limits() {
        let overrides = XmlLimitsConfig {
            max_depth: Some(7),
            ..XmlLimitsConfig::default()
        };
        let limits = Limits::message(100).with(&overrides);
        assert_eq!(limits.max_depth, 7);
        assert_eq!(limits.max_elements, Limits::message(100).max_elements);
        assert_eq!(limits.max_bytes, 100);
    }

    /// procura.example.toml states the default limits in full (commented out): they must be
    /// the ones in the code.
    #[test]
    fn the_example_file_states_the_default_limits() -> Result<(), Box<dyn std::error::Error>> {
        use figment::providers::{Format, Toml};
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/procura.example.toml"))?;
        for (key, defaults) in [
            ("message_limits", Limits::message(1)),
            ("metadata_limits", Limits::metadata(1)),
        ] {
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("# ").filter(|l| l.starts_with(key)))
                .ok_or(key)?;
            let stated: std::collections::HashMap<String, XmlLimitsConfig> =
                figment::Figment::from(Toml::string(line)).extract()?;
            let stated = stated.get(key).ok_or(key)?;
            assert_eq!(Limits::message(1).with(stated), defaults, "{key}");
            assert_eq!(Limits::metadata(1).with(stated), defaults, "{key}");
        }
        Ok(())
    }

    #[test]
    fn qualified_names_come_from_the_source() -> Result<(), XmlError> {
        let doc = parse(
            r#"<samlp:Response xmlns:samlp="urn:p"><a/><x:b xmlns:x="urn:x">t</x:b></samlp:Response>"#,
            1 << 20,
        )?;
        let root = doc.root_element();
        assert_eq!(qname(root), "samlp:Response");
        assert_eq!(prefix(root), "samlp");
        let names: Vec<&str> = root.children().map(qname).collect();
        assert_eq!(names, ["a", "x:b"]);
        Ok(())
    }

    #[test]
    fn line_ends_are_normalized_before_parsing() -> Result<(), XmlError> {
        assert_eq!(
            normalize_line_ends("a\r\nb\rc\r\r\nd\r".into()),
            "a\nb\nc\n\nd\n"
        );
        assert_eq!(normalize_line_ends("&#xD;\r".into()), "&#xD;\n");
        // A carriage return next to a reference: roxmltree alone would keep it.
        let text = normalize_line_ends("<r>\r&gt;\r&#xA;\r</r>".into());
        let doc = parse(&text, 1 << 20)?;
        assert_eq!(doc.root_element().text(), Some("\n>\n\n\n"));
        let encoded = STANDARD.encode("<r>\r&amp;</r>");
        assert_eq!(decode_base64(&encoded, 1 << 20)?, "<r>\n&amp;</r>");
        Ok(())
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_attr("a\"<&\n"), "a&quot;&lt;&amp;&#xA;");
        assert_eq!(escape_text("a\"<&>"), "a\"&lt;&amp;&gt;");
    }
}
