#!/usr/bin/env python3
"""The shape of XML documents, in the terms of procura's parse limits (`spid::xml::Limits`,
`[spid.message_limits]`, `[spid.metadata_limits]`): what real messages and metadata need, to choose
limits with room to spare.

    scripts/spid-xml-shape.py FILE...        # one line per file, then the maximum of each column

A file holding base64 (a SAMLResponse as posted) is decoded first. Python's standard library only.
"""
import base64
import sys
import xml.parsers.expat

COLUMNS = ["bytes", "elements", "depth", "attributes", "ns_per_element", "ns_in_scope", "ns_total",
           "name_bytes", "value_bytes"]


def shape(data: bytes) -> dict:
    s = dict.fromkeys(COLUMNS, 0)
    s["bytes"] = len(data)
    open_decls = []

    def start(name, attrs):
        s["elements"] += 1
        pairs = list(zip(attrs[::2], attrs[1::2]))
        decls = sum(1 for n, _ in pairs if n == "xmlns" or n.startswith("xmlns:"))
        open_decls.append(decls)
        s["depth"] = max(s["depth"], len(open_decls))
        s["attributes"] = max(s["attributes"], len(pairs) - decls)
        s["ns_per_element"] = max(s["ns_per_element"], decls)
        s["ns_in_scope"] = max(s["ns_in_scope"], sum(open_decls))
        s["ns_total"] += decls
        s["name_bytes"] = max([s["name_bytes"], len(name.encode())] + [len(n.encode()) for n, _ in pairs])
        # The value as parsed: a close lower bound of the value as written.
        s["value_bytes"] = max([s["value_bytes"]] + [len(v.encode()) for _, v in pairs])

    def end(_name):
        open_decls.pop()

    parser = xml.parsers.expat.ParserCreate()  # no namespace processing: xmlns are attributes
    parser.ordered_attributes = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)
    return s


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(f"{'file':<50} " + " ".join(f"{c:>14}" for c in COLUMNS))
    worst = dict.fromkeys(COLUMNS, 0)
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        if not data.lstrip().startswith(b"<"):
            data = base64.b64decode(b"".join(data.split()))
        s = shape(data)
        worst = {c: max(worst[c], s[c]) for c in COLUMNS}
        print(f"{path[-50:]:<50} " + " ".join(f"{s[c]:>14}" for c in COLUMNS))
    print(f"{'maximum':<50} " + " ".join(f"{worst[c]:>14}" for c in COLUMNS))


if __name__ == "__main__":
    main()
