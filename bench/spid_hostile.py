#!/usr/bin/env python3
"""Hostile SAML inputs for procura's anonymous SPID routes, as HTTP requests.

    bench/spid_hostile.py OUT_DIR IDP_ENTITY_ID [BODY_LIMIT]

Writes OUT_DIR/requests.tsv (name, method, path, file) and one file per request: the form body of a
POST (application/x-www-form-urlencoded) or the query string of a GET. Nothing here is signed with
a real key: these are the messages anyone can send. `IDP_ENTITY_ID` is the Issuer of the Single
Logout messages (a known IdP: an entityID is public); BODY_LIMIT is procura's request body limit
(`server.body_limit_bytes`, 256 KiB by default): POST bodies are made to fit under it, Redirect
queries under the 64 KiB a URI may have.

The shapes are those of issue 11 (namespace floods, a long InclusiveNamespaces PrefixList) and the
other costly shapes an XML parser meets: deep nesting, many attributes, long names, many siblings,
large base64 text, a DEFLATE ratio bomb, and a form of repeated keys. benches/spid_worst_case.rs
measures the same shapes at the function level; bench/spid_attack.sh sends these.
"""
import base64
import os
import sys
import urllib.parse
import zlib

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
NOW = "2026-12-03T10:00:00Z"
# The http crate refuses a URI longer than 65,534 bytes (actix answers 400 before any handler).
GET_LIMIT = 65534 - len("/spid/slo?")


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def post_body(field: str, xml: str) -> bytes:
    return urllib.parse.urlencode({field: base64.b64encode(xml.encode()).decode(), "RelayState": "r"}).encode()


def get_query(field: str, xml: str) -> bytes:
    return urllib.parse.urlencode({field: base64.b64encode(deflate(xml.encode())).decode(), "RelayState": "r",
                                   "SigAlg": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                                   "Signature": base64.b64encode(b"\0" * 256).decode()}).encode()


def response(inner: str, root_extra: str = "") -> str:
    return (f'<samlp:Response xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_h" Version="2.0" '
            f'IssueInstant="{NOW}" InResponseTo="_nobody" Destination="https://sp.example/spid/acs"{root_extra}>'
            f'<saml:Issuer>https://idp.example</saml:Issuer>{inner}</samlp:Response>')


def logout_request(issuer: str, inner: str, root_extra: str = "") -> str:
    return (f'<samlp:LogoutRequest xmlns:samlp="{SAMLP}" xmlns:saml="{SAML}" ID="_l" Version="2.0" '
            f'IssueInstant="{NOW}" Destination="https://sp.example/spid/slo"{root_extra}>'
            f'<saml:Issuer>{issuer}</saml:Issuer>{inner}</samlp:LogoutRequest>')


def ns_flood(n: int) -> tuple[str, str]:
    """The root declares n prefixes; n children each declare one more (issue 11, row 1)."""
    root = "".join(f' xmlns:p{i}="urn:p{i}"' for i in range(n))
    children = "".join(f'<a xmlns:q{i}="urn:q{i}"/>' for i in range(n))
    return root, children


def prefix_list_flood(issuer: str, n: int) -> str:
    """A LogoutRequest whose exc-c14n transform names n prefixes, n children, fake values (row 4)."""
    root, _ = ns_flood(n)
    children = "<a/>" * n
    prefixes = " ".join(f"p{i}" for i in range(n))
    signature = (f'<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>'
                 f'<ds:CanonicalizationMethod Algorithm="{EXC}"/>'
                 '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
                 '<ds:Reference URI="#_l"><ds:Transforms>'
                 '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
                 f'<ds:Transform Algorithm="{EXC}"><ec:InclusiveNamespaces xmlns:ec="{EXC}" PrefixList="{prefixes}"/>'
                 '</ds:Transform></ds:Transforms>'
                 '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
                 f'<ds:DigestValue>{base64.b64encode(bytes(32)).decode()}</ds:DigestValue></ds:Reference>'
                 f'</ds:SignedInfo><ds:SignatureValue>{base64.b64encode(bytes(256)).decode()}</ds:SignatureValue>'
                 '</ds:Signature>')
    return logout_request(issuer, signature + children, root)


def fill(unit: str, budget: int) -> int:
    return max(1, budget // len(unit))


def shapes(idp: str):
    """(name, method, path, field, make(budget) -> XML or raw body); `None` as field: raw form body."""
    flood_unit = '<a xmlns:q00000="urn:q00000"/>' + ' xmlns:p00000="urn:p00000"'

    def flood(wrap, budget):
        root, children = ns_flood(fill(flood_unit, budget))
        return wrap(children, root)

    def many_attributes(budget):
        return response("<a" + "".join(' a%d=""' % i for i in range(fill(' a00000=""', budget))) + "/>")

    def many_ns_one_element(budget):
        unit = ' xmlns:n00000="urn:x" n00000:a=""'
        return response("<a" + "".join(' xmlns:n%d="urn:x%d" n%d:a=""' % (i, i, i)
                                       for i in range(fill(unit, budget))) + "/>")

    def deep(wrap, budget):
        n = fill("<a></a>", budget)
        return wrap("<a>" * n + "</a>" * n)

    def repeated_keys(budget):
        n = fill("k00000=1&k00000=1&", budget)
        return "".join("k%d=1&k%d=1&" % (i, i) for i in range(n)) + "SAMLResponse=x"

    logout_response = lambda inner, root="": logout_request(idp, inner, root).replace("LogoutRequest", "LogoutResponse")
    return [
        # Issue 11's table: fixed sizes.
        ("acs-ns-flood-1000", "POST", "/spid/acs", "SAMLResponse", lambda b: response(*reversed(ns_flood(1000)))),
        ("acs-ns-flood-3000", "POST", "/spid/acs", "SAMLResponse", lambda b: response(*reversed(ns_flood(3000)))),
        ("slo-get-ns-flood-3000", "GET", "/spid/slo", "SAMLRequest",
         lambda b: logout_request(idp, *reversed(ns_flood(3000)))),
        ("slo-post-prefixlist-800", "POST", "/spid/slo", "SAMLRequest", lambda b: prefix_list_flood(idp, 800)),
        ("slo-post-prefixlist-1600", "POST", "/spid/slo", "SAMLRequest", lambda b: prefix_list_flood(idp, 1600)),
        # The other shapes, as large as the limits let them be.
        ("acs-ns-flood-max", "POST", "/spid/acs", "SAMLResponse", lambda b: flood(response_r, b)),
        ("slo-post-ns-flood-max", "POST", "/spid/slo", "SAMLResponse", lambda b: flood(logout_response_r(logout_response), b)),
        ("slo-post-prefixlist-max", "POST", "/spid/slo", "SAMLRequest",
         lambda b: prefix_list_flood(idp, fill(' xmlns:p00000="urn:p00000" p00000<a/>', b))),
        ("acs-deep", "POST", "/spid/acs", "SAMLResponse", lambda b: deep(response, b)),
        ("acs-many-attributes", "POST", "/spid/acs", "SAMLResponse", many_attributes),
        ("acs-many-ns-one-element", "POST", "/spid/acs", "SAMLResponse", many_ns_one_element),
        ("acs-long-name", "POST", "/spid/acs", "SAMLResponse", lambda b: response("<" + "n" * b + "/>")),
        ("acs-long-attribute-value", "POST", "/spid/acs", "SAMLResponse", lambda b: response('<a v="' + "v" * b + '"/>')),
        ("acs-many-siblings", "POST", "/spid/acs", "SAMLResponse", lambda b: response("<a/>" * fill("<a/>", b))),
        ("acs-big-base64", "POST", "/spid/acs", "SAMLResponse",
         lambda b: response('<ds:SignatureValue xmlns:ds="%s">%s</ds:SignatureValue>' % (DS, "QUFB" * fill("QUFB", b)))),
        ("acs-char-refs", "POST", "/spid/acs", "SAMLResponse", lambda b: response("<a>" + "&#x41;" * fill("&#x41;", b) + "</a>")),
        ("acs-form-repeated-keys", "POST", "/spid/acs", None, repeated_keys),
        # Redirect binding: a small query inflating to procura's 256 KiB message limit, or near it.
        ("slo-get-deflate-bomb", "GET", "/spid/slo", "SAMLRequest", lambda b: logout_request(idp, "<a/>" * 64000)),
        ("slo-get-ns-flood-256k", "GET", "/spid/slo", "SAMLResponse",
         lambda b: flood(logout_response_r(logout_response), b)),
        ("slo-get-deep-256k", "GET", "/spid/slo", "SAMLRequest", lambda b: deep(lambda i: logout_request(idp, i), b)),
    ]


def response_r(children, root):
    return response(children, root)


def logout_response_r(make):
    return lambda children, root: make(children, root)


def encode(method, field, xml):
    if field is None:
        return xml.encode()
    return post_body(field, xml) if method == "POST" else get_query(field, xml)


def build(idp: str, body_limit: int) -> list[tuple[str, str, str, bytes]]:
    out = []
    for name, method, path, field, make in shapes(idp):
        limit = body_limit if method == "POST" else GET_LIMIT
        # POST: the XML grows with the body; GET: DEFLATE lets much more XML in, up to procura's
        # 256 KiB message limit (keep under it, or the message is refused before parsing).
        budget = limit if method == "POST" else 240 * 1024
        for _ in range(50):
            data = encode(method, field, make(budget))
            if len(data) <= limit:
                break
            budget = int(budget * limit / len(data) * 0.98)
        else:
            sys.exit(f"{name}: cannot fit in {limit} bytes")
        out.append((name, method, path, data))
    return out


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out_dir, idp = sys.argv[1], sys.argv[2]
    body_limit = int(sys.argv[3]) if len(sys.argv) > 3 else 256 * 1024
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "requests.tsv"), "w") as index:
        for name, method, path, data in build(idp, body_limit):
            path_file = os.path.join(out_dir, name + (".body" if method == "POST" else ".query"))
            with open(path_file, "wb") as f:
                f.write(data)
            index.write(f"{name}\t{method}\t{path}\t{path_file}\n")


if __name__ == "__main__":
    main()
