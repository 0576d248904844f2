//! The XML parser every SAML input goes through, and escaping for the XML procura writes.
//!
//! roxmltree refuses DTDs (so no entity expansion, no external entities) and we cap the
//! size and the node count before anything else looks at a message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use roxmltree::{Document, Node, ParsingOptions};
use std::borrow::Cow;

/// Most nodes a SAML message may have; a real Response has a few hundred.
const NODES_LIMIT: u32 = 20_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("not base64")]
    Base64,
    #[error("not UTF-8")]
    Utf8,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
}

/// Parses `text`, refusing DTDs, oversized input and documents with too many nodes.
pub fn parse(text: &str, max_bytes: usize) -> Result<Document<'_>, XmlError> {
    if text.len() > max_bytes {
        return Err(XmlError::TooLarge(max_bytes));
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    Document::parse_with_options(text, options).map_err(|e| XmlError::Malformed(e.to_string()))
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
    String::from_utf8(bytes).map_err(|_| XmlError::Utf8)
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
    fn escapes() {
        assert_eq!(escape_attr("a\"<&\n"), "a&quot;&lt;&amp;&#xA;");
        assert_eq!(escape_text("a\"<&>"), "a\"&lt;&amp;&gt;");
    }
}
