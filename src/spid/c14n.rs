//! Exclusive XML Canonicalization 1.0 without comments
//! (`http://www.w3.org/2001/10/xml-exc-c14n#`), over an element subtree of a parsed document.
//!
//! What a signature digests is these bytes, so every rule of the W3C recommendation matters:
//! - a namespace declaration is written only where it is *visibly utilized* (the element's own
//!   prefix, or the prefix of one of its attributes) and only if the nearest output ancestor
//!   did not already render the same prefix with the same URI; prefixes that appear only inside
//!   attribute values (`xsi:type="xs:string"`) do not count, unless named in the
//!   InclusiveNamespaces `PrefixList`, whose prefixes are rendered as inclusive c14n would;
//! - namespace declarations come first, sorted by prefix (the default namespace first), then the
//!   attributes sorted by (namespace URI, local name);
//! - empty elements are written as a start and an end tag, comments are dropped, processing
//!   instructions inside the subtree are kept, nothing outside the subtree is written;
//! - one descendant (the `ds:Signature` an enveloped-signature transform removes) can be left out.
//!
//! roxmltree has already normalized line endings and attribute values as a conformant parser
//! must; it does not keep prefixes, so qualified names are read back from the source text.
//!
//! Cost: linear in the subtree. The namespaces rendered by the output ancestors are kept per
//! prefix (a map of stacks), so deciding whether a declaration must be written takes constant
//! time whatever the depth; the URI a prefix has is looked up among the element's namespaces
//! in scope, which the parse limits bound (`xml::Limits::max_namespaces_in_scope`); and a
//! `PrefixList` has at most [`MAX_INCLUSIVE_PREFIXES`] entries.

use roxmltree::{Node, NodeId};
use std::collections::HashMap;

/// The XML namespace (`xml:` prefix), implicitly declared and never rendered.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Most prefixes an InclusiveNamespaces `PrefixList` may name. Signatures in the wild name
/// none or one or two (`xs`, `xsi`, `saml`); each costs a lookup on every element.
pub const MAX_INCLUSIVE_PREFIXES: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum C14nError {
    #[error("not an element")]
    NotAnElement,
    #[error("unreadable name in the source at byte {0}")]
    Name(usize),
    #[error("prefix {0:?} is not declared")]
    UndeclaredPrefix(String),
    #[error("more than {MAX_INCLUSIVE_PREFIXES} inclusive prefixes")]
    TooManyInclusivePrefixes,
}

/// What to canonicalize besides the subtree itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// A descendant left out with its whole subtree (the enveloped signature).
    pub omit: Option<NodeId>,
    /// The InclusiveNamespaces `PrefixList`, already split; `#default` names the default namespace.
    pub inclusive_prefixes: &'a [&'a str],
}

/// The exclusive canonical form of `element` and its descendants.
pub fn canonicalize<'a>(element: Node<'a, '_>, options: &Options<'a>) -> Result<String, C14nError> {
    if !element.is_element() {
        return Err(C14nError::NotAnElement);
    }
    if options.inclusive_prefixes.len() > MAX_INCLUSIVE_PREFIXES {
        return Err(C14nError::TooManyInclusivePrefixes);
    }
    let mut out = String::with_capacity(element.range().len());
    let mut rendered = Rendered::default();
    // How many declarations each open element rendered, dropped when it closes.
    let mut scopes: Vec<usize> = Vec::new();

    // Depth-first walk without recursion: documents are bounded in node count, not in depth.
    let mut open: Vec<Node<'a, '_>> = Vec::new();
    let mut current = Some(element);
    while let Some(node) = current {
        let omitted = Some(node.id()) == options.omit;
        if !omitted {
            if node.is_element() {
                let added = start_tag(node, options, &mut rendered, &mut out)?;
                if node.has_children() {
                    scopes.push(added);
                    open.push(node);
                    current = node.first_child();
                    continue;
                }
                end_tag(node, &mut out)?;
                rendered.pop(added);
            } else if node.is_text() {
                push_text(node.text().unwrap_or(""), &mut out);
            } else if node.is_pi() {
                push_pi(node, &mut out);
            }
            // Comments are dropped (the "without comments" variant).
        }
        // Move to the next sibling, closing the elements whose children are done.
        current = None;
        let mut done = node;
        while done != element {
            if let Some(sibling) = done.next_sibling() {
                current = Some(sibling);
                break;
            }
            let Some(parent) = open.pop() else { break };
            end_tag(parent, &mut out)?;
            rendered.pop(scopes.pop().unwrap_or(0));
            done = parent;
        }
    }
    Ok(out)
}

/// The namespace declarations the output ancestors rendered: for each prefix, the URIs it was
/// rendered with, innermost last; and the prefixes in the order they were rendered, so that an
/// element's own are dropped when it closes.
#[derive(Default)]
struct Rendered<'a> {
    by_prefix: HashMap<&'a str, Vec<&'a str>>,
    order: Vec<&'a str>,
}

impl<'a> Rendered<'a> {
    /// The URI `prefix` has in the output so far (`""`: none, or the empty default namespace).
    fn in_effect(&self, prefix: &str) -> &'a str {
        self.by_prefix
            .get(prefix)
            .and_then(|uris| uris.last())
            .copied()
            .unwrap_or("")
    }

    fn push(&mut self, prefix: &'a str, uri: &'a str) {
        self.by_prefix.entry(prefix).or_default().push(uri);
        self.order.push(prefix);
    }

    /// Drops the last `count` declarations rendered.
    fn pop(&mut self, count: usize) {
        for _ in 0..count {
            let Some(prefix) = self.order.pop() else {
                return;
            };
            if let Some(uris) = self.by_prefix.get_mut(prefix) {
                uris.pop();
            }
        }
    }
}

/// Writes `<qname ns-declarations attributes>` and returns how many namespace entries it rendered.
fn start_tag<'a>(
    node: Node<'a, '_>,
    options: &Options<'a>,
    rendered: &mut Rendered<'a>,
    out: &mut String,
) -> Result<usize, C14nError> {
    let source = node.document().input_text();
    let qname = element_qname(node)?;
    let element_prefix = qname.split_once(':').map_or("", |(p, _)| p);

    // Visibly utilized prefixes: the element's own, then those of its attributes.
    let mut utilized: Vec<&str> = vec![element_prefix];
    let mut attributes: Vec<(&str, &str, &str, &str)> = Vec::new(); // (uri, local, qname, value)
    for attribute in node.attributes() {
        let attribute_qname = source
            .get(attribute.range_qname())
            .ok_or(C14nError::Name(attribute.range_qname().start))?;
        if let Some((prefix, _)) = attribute_qname.split_once(':') {
            utilized.push(prefix);
        }
        attributes.push((
            attribute.namespace().unwrap_or(""),
            attribute.name(),
            attribute_qname,
            attribute.value(),
        ));
    }
    for token in options.inclusive_prefixes {
        let prefix = if *token == "#default" { "" } else { token };
        // Inclusive prefixes are rendered only where they are in scope.
        if prefix.is_empty() || node.lookup_namespace_uri(Some(prefix)).is_some() {
            utilized.push(prefix);
        }
    }

    // Sorted by prefix, as they are written; each prefix once.
    utilized.sort_unstable();
    utilized.dedup();
    let mut declarations: Vec<(&'a str, &'a str)> = Vec::new();
    for prefix in utilized {
        if prefix == "xml" {
            continue;
        }
        let uri = namespace_of(node, prefix)?;
        if uri != rendered.in_effect(prefix) {
            declarations.push((prefix, uri));
        }
    }
    attributes.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    out.push('<');
    out.push_str(qname);
    for (prefix, uri) in &declarations {
        if prefix.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(prefix);
            out.push_str("=\"");
        }
        push_attribute_value(uri, out);
        out.push('"');
    }
    for (_, _, attribute_qname, value) in &attributes {
        out.push(' ');
        out.push_str(attribute_qname);
        out.push_str("=\"");
        push_attribute_value(value, out);
        out.push('"');
    }
    out.push('>');
    for (prefix, uri) in &declarations {
        rendered.push(prefix, uri);
    }
    Ok(declarations.len())
}

/// The URI bound to `prefix` on `node` (`""` for an undeclared default namespace).
fn namespace_of<'a>(node: Node<'a, '_>, prefix: &str) -> Result<&'a str, C14nError> {
    if prefix.is_empty() {
        return Ok(node.lookup_namespace_uri(None).unwrap_or(""));
    }
    if prefix == "xml" {
        return Ok(XML_NS);
    }
    node.lookup_namespace_uri(Some(prefix))
        .ok_or_else(|| C14nError::UndeclaredPrefix(prefix.to_owned()))
}

fn end_tag(node: Node<'_, '_>, out: &mut String) -> Result<(), C14nError> {
    out.push_str("</");
    out.push_str(element_qname(node)?);
    out.push('>');
    Ok(())
}

fn push_pi(node: Node<'_, '_>, out: &mut String) {
    if let Some(pi) = node.pi() {
        out.push_str("<?");
        out.push_str(pi.target);
        if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
            out.push(' ');
            out.push_str(value);
        }
        out.push_str("?>");
    }
}

fn element_qname<'a>(node: Node<'a, '_>) -> Result<&'a str, C14nError> {
    let qname = super::xml::qname(node);
    if qname.is_empty() {
        return Err(C14nError::Name(node.range().start));
    }
    Ok(qname)
}

fn push_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn push_attribute_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spid::xml;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn c14n_of(
        text: &str,
        path: &[&str],
        prefixes: &[&str],
    ) -> Result<String, Box<dyn std::error::Error>> {
        let doc = xml::parse(text, 1 << 20)?;
        let mut node = doc.root_element();
        for name in path {
            node = node
                .children()
                .find(|c| c.is_element() && c.tag_name().name() == *name)
                .ok_or("path not found")?;
        }
        let options = Options {
            omit: None,
            inclusive_prefixes: prefixes,
        };
        Ok(canonicalize(node, &options)?)
    }

    #[test]
    fn w3c_exc_c14n_example_renders_only_visibly_utilized_namespaces() -> TestResult {
        // Exclusive XML Canonicalization 1.0, section 2.2: the same n1:elem2 in two contexts
        // canonicalizes identically, unlike inclusive c14n.
        let first = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>"#;
        let second = r#"<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>"#;
        let expected = r#"<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#;
        assert_eq!(c14n_of(first, &["elem2"], &[])?, expected);
        assert_eq!(c14n_of(second, &["elem2"], &[])?, expected);
        Ok(())
    }

    #[test]
    fn w3c_exc_c14n_example_with_inclusive_prefix_list() -> TestResult {
        // Same section: with PrefixList "n2" only the second context differs.
        let second = r#"<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>"#;
        assert_eq!(
            c14n_of(second, &["elem2"], &["n2"])?,
            r#"<n1:elem2 xmlns:n1="http://example.net" xmlns:n2="http://foo.example" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#
        );
        Ok(())
    }

    #[test]
    fn namespaces_declared_on_ancestors_are_pulled_down_where_used() -> TestResult {
        let text = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r"><saml:Assertion ID="a"><saml:Issuer>x</saml:Issuer><saml:Subject><samlp:Odd/></saml:Subject></saml:Assertion></samlp:Response>"#;
        assert_eq!(
            c14n_of(text, &["Assertion"], &[])?,
            concat!(
                r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a">"#,
                r#"<saml:Issuer>x</saml:Issuer><saml:Subject>"#,
                r#"<samlp:Odd xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"></samlp:Odd>"#,
                r#"</saml:Subject></saml:Assertion>"#
            )
        );
        Ok(())
    }

    #[test]
    fn prefixes_inside_attribute_values_are_not_visibly_utilized() -> TestResult {
        let text = r#"<saml:AttributeStatement xmlns:saml="urn:a" xmlns:xs="http://www.w3.org/2001/XMLSchema"><saml:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">v</saml:AttributeValue></saml:AttributeStatement>"#;
        assert_eq!(
            c14n_of(text, &["AttributeValue"], &[])?,
            r#"<saml:AttributeValue xmlns:saml="urn:a" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">v</saml:AttributeValue>"#
        );
        // Only the PrefixList brings xs along.
        assert_eq!(
            c14n_of(text, &["AttributeValue"], &["xs"])?,
            r#"<saml:AttributeValue xmlns:saml="urn:a" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">v</saml:AttributeValue>"#
        );
        Ok(())
    }

    #[test]
    fn unused_declarations_are_dropped_and_redeclarations_collapse() -> TestResult {
        let text = r#"<a:r xmlns:a="urn:a" xmlns:b="urn:b"><a:c xmlns:a="urn:a"><b:d xmlns:b="urn:b"/><a:e xmlns:a="urn:other"/></a:c></a:r>"#;
        assert_eq!(
            c14n_of(text, &[], &[])?,
            concat!(
                r#"<a:r xmlns:a="urn:a"><a:c><b:d xmlns:b="urn:b"></b:d>"#,
                r#"<a:e xmlns:a="urn:other"></a:e></a:c></a:r>"#
            )
        );
        Ok(())
    }

    #[test]
    fn default_namespace_and_its_undeclaration() -> TestResult {
        let text = r#"<r xmlns="urn:d" xmlns:p="urn:p"><p:x><y xmlns=""><z/></y></p:x><w/></r>"#;
        assert_eq!(
            c14n_of(text, &[], &[])?,
            concat!(
                r#"<r xmlns="urn:d"><p:x xmlns:p="urn:p"><y xmlns=""><z></z></y></p:x>"#,
                r#"<w></w></r>"#
            )
        );
        // A subtree in no namespace needs no xmlns="" when nothing above it was rendered.
        assert_eq!(c14n_of(text, &["x", "y"], &[])?, "<y><z></z></y>");
        // An element under a prefixed parent still uses its default namespace.
        let nested = r#"<p:x xmlns:p="urn:p" xmlns="urn:d"><y/></p:x>"#;
        assert_eq!(
            c14n_of(nested, &[], &[])?,
            r#"<p:x xmlns:p="urn:p"><y xmlns="urn:d"></y></p:x>"#
        );
        Ok(())
    }

    #[test]
    fn sorting_of_declarations_and_attributes() -> TestResult {
        // W3C C14N 1.0 example 3.3 (start and end tags), in its exclusive form.
        let text = r#"<doc><e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/></doc>"#;
        assert_eq!(
            c14n_of(text, &["e5"], &[])?,
            r#"<e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>"#
        );
        Ok(())
    }

    #[test]
    fn escaping_of_text_and_attribute_values() -> TestResult {
        let text =
            "<r a=\"&lt;&amp;&quot;&#9;&#10;&#13;'&gt;\">a &amp; b &lt; c &gt; d&#13;\"'</r>";
        assert_eq!(
            c14n_of(text, &[], &[])?,
            "<r a=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;'>\">a &amp; b &lt; c &gt; d&#xD;\"'</r>"
        );
        // Whitespace in a literal attribute value is normalized by the parser first.
        assert_eq!(
            c14n_of("<r a=\"x\ny\tz\"/>", &[], &[])?,
            "<r a=\"x y z\"></r>"
        );
        Ok(())
    }

    #[test]
    fn comments_dropped_pis_kept_cdata_as_text() -> TestResult {
        let text = "<?xml version=\"1.0\"?>\n<!-- before --><r><!-- c --><?pi  data ?><?empty?><![CDATA[<x>&]]></r><!-- after -->";
        assert_eq!(
            c14n_of(text, &[], &[])?,
            "<r><?pi data ?><?empty?>&lt;x&gt;&amp;</r>"
        );
        Ok(())
    }

    #[test]
    fn line_endings_are_normalized() -> TestResult {
        assert_eq!(c14n_of("<r>a\r\nb\rc</r>", &[], &[])?, "<r>a\nb\nc</r>");
        Ok(())
    }

    #[test]
    fn omitted_descendant_is_left_out_with_its_subtree() -> TestResult {
        let text = r#"<a:r xmlns:a="urn:a" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="x"> <ds:Signature><ds:SignedInfo/></ds:Signature> <a:b/></a:r>"#;
        let doc = xml::parse(text, 1 << 20)?;
        let root = doc.root_element();
        let signature = root
            .children()
            .find(|c| c.tag_name().name() == "Signature")
            .ok_or("no signature")?;
        let options = Options {
            omit: Some(signature.id()),
            inclusive_prefixes: &[],
        };
        assert_eq!(
            canonicalize(root, &options)?,
            r#"<a:r xmlns:a="urn:a" ID="x">  <a:b></a:b></a:r>"#
        );
        Ok(())
    }

    #[test]
    fn prefixed_attributes_keep_their_prefix_and_sort_by_uri() -> TestResult {
        let text = r#"<r xmlns:z="urn:a" xmlns:a="urn:z" z:k="1" a:k="2" xml:lang="it" k="0"/>"#;
        assert_eq!(
            c14n_of(text, &[], &[])?,
            r#"<r xmlns:a="urn:z" xmlns:z="urn:a" k="0" xml:lang="it" z:k="1" a:k="2"></r>"#
        );
        Ok(())
    }

    #[test]
    fn inclusive_default_namespace_token() -> TestResult {
        let text = r#"<r xmlns="urn:d"><p:x xmlns:p="urn:p"/></r>"#;
        assert_eq!(
            c14n_of(text, &["x"], &["#default"])?,
            r#"<p:x xmlns="urn:d" xmlns:p="urn:p"></p:x>"#
        );
        assert_eq!(
            c14n_of(text, &["x"], &[])?,
            r#"<p:x xmlns:p="urn:p"></p:x>"#
        );
        Ok(())
    }
}
