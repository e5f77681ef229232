"""Hardened parsing of uploaded BPMN/DMN files (trap 3: XXE and entity bombs).

SpiffWorkflow parses with lxml defaults; uploads are parsed here instead and the tree
is handed to `parser.add_bpmn_xml` / `add_dmn_xml`. Diagrams never need a DTD, so any
DOCTYPE or ENTITY declaration is refused outright instead of being "safely" expanded:
that covers external entities (file://, http://), billion laughs, quadratic blowup and
parameter entities in one rule. The raw bytes are scanned after decoding them the way
the XML parser will, so a UTF-16 DOCTYPE is seen too; encodings that hide ASCII
(UTF-7, UTF-32, EBCDIC) are refused.
"""
from __future__ import annotations

import codecs
import re

from lxml import etree

MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
MAX_ELEMENTS = 20_000

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "https://www.omg.org/spec/DMN/20180521/MODEL/",
)
ALLOWED_ROOTS = frozenset({f"{{{BPMN_NS}}}definitions"} | {f"{{{ns}}}definitions" for ns in DMN_NAMESPACES})
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

# Declared encodings we accept, mapped to the Python codec used for scanning.
_ASCII_COMPATIBLE = {"utf-8": "utf-8", "utf8": "utf-8", "us-ascii": "ascii", "ascii": "ascii",
                     "iso-8859-1": "latin-1", "latin-1": "latin-1", "latin1": "latin-1"}
_UTF16 = {"utf-16", "utf-16le", "utf-16be", "utf16"}
_DECLARED_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class DiagramError(ValueError):
    """An uploaded diagram was refused; `errors` lists {"element", "message"} dicts."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{e['element']}: {e['message']}" for e in self.errors))


def _refuse(message: str, element: str = "file") -> DiagramError:
    return DiagramError([{"element": element, "message": message}])


def _unicode_by_signature(data: bytes) -> tuple[str, bytes] | None:
    """(codec, body) when a byte order mark or the first bytes of '<' give the encoding away."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8", data[3:]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", data
    if data[:2] == b"<\0":
        return "utf-16-le", data
    if data[:2] == b"\0<":
        return "utf-16-be", data
    return None


def _decode_for_scan(data: bytes) -> str:
    """Decode the bytes the way the XML parser will, or refuse the encoding."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) or data[:4] in (b"\0\0\0<", b"<\0\0\0"):
        raise _refuse("UTF-32 encoded files are not accepted; save the diagram as UTF-8")
    if data[:4] == b"\x4c\x6f\xa7\x94":
        raise _refuse("EBCDIC encoded files are not accepted; save the diagram as UTF-8")
    codec, body = _unicode_by_signature(data) or ("ascii-compatible", data)
    text = body.decode("latin-1" if codec == "ascii-compatible" else codec, errors="replace")
    match = _DECLARED_ENCODING.match(text[:1024])
    declared = match.group(1).lower() if match else None
    if codec == "ascii-compatible":
        if declared is not None and declared not in _ASCII_COMPATIBLE:
            hint = " (or UTF-16 with a byte order mark)" if declared in _UTF16 else ""
            raise _refuse(f"the encoding '{match.group(1)}' is not accepted; save the diagram as UTF-8{hint}")
    elif declared is not None and declared not in _UTF16 and codec.startswith("utf-16"):
        raise _refuse(f"the file is UTF-16 but declares encoding '{match.group(1)}'")
    elif declared is not None and codec == "utf-8" and declared not in ("utf-8", "utf8"):
        raise _refuse(f"the file has a UTF-8 byte order mark but declares encoding '{match.group(1)}'")
    return text


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )


def _describe(tag: str) -> str:
    qname = etree.QName(tag)
    return f"<{qname.localname}> in namespace {qname.namespace}" if qname.namespace else \
        f"<{qname.localname}> (no namespace)"


def parse_diagram_xml(data: bytes, *, max_bytes: int = MAX_DIAGRAM_BYTES,
                      max_elements: int = MAX_ELEMENTS) -> etree._Element:
    """Parse an uploaded BPMN or DMN file and return its <definitions> root element.

    Raises DiagramError (element "file") for anything that is not a plain, bounded
    BPMN/DMN document.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"parse_diagram_xml expects bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise _refuse("the file is empty")
    if len(data) > max_bytes:
        raise _refuse(f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes "
                      f"({max_bytes / 1024 / 1024:g} MiB)")
    text = _decode_for_scan(data)
    for scanned in (text, data.decode("latin-1")):
        found = _DECLARATION.search(scanned)
        if found:
            raise _refuse(f"DOCTYPE and ENTITY declarations are not allowed (found '<!{found.group(1)}'); "
                          "BPMN and DMN files never need them")
    # Cheap upper bound before building a tree: each element needs at least one '<'.
    if data.count(b"<") > 2 * max_elements + 10:
        raise _refuse(f"the file has too many elements (limit {max_elements:,})")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as err:
        line, column = err.position if err.position else (err.lineno, 0)
        raise _refuse(f"malformed XML at line {line}, column {column}: {err.msg}") from None
    if root is None:
        raise _refuse("the file contains no XML element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise _refuse("DOCTYPE declarations are not allowed")
    for count, node in enumerate(root.iter(), 1):
        if count > max_elements:
            raise _refuse(f"the file has more than {max_elements:,} elements")
        if isinstance(node, etree._Entity):
            raise _refuse("entity references are not allowed")
        if isinstance(node.tag, str) and etree.QName(node.tag).namespace in XINCLUDE_NAMESPACES:
            raise _refuse("XInclude elements are not allowed", node.get("id") or "file")
    if root.tag not in ALLOWED_ROOTS:
        raise _refuse(f"the root element is {_describe(root.tag)}; expected BPMN 2.0 or DMN <definitions>")
    return root


_DECLARATION_ENCODING = re.compile(r"""^(\ufeff?\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


def diagram_text(data: bytes) -> str:
    """The text of a file that `parse_diagram_xml` accepted, decoded the way the parser read it.

    The XML declaration's `encoding` is dropped, so the text can be stored and parsed again as
    UTF-8 (`data.decode("utf-8")` fails on the UTF-16 and ISO-8859-1 files the parser accepts).
    """
    data = bytes(data)
    sniffed = _unicode_by_signature(data)
    if sniffed:
        codec, body = sniffed
    else:
        match = _DECLARED_ENCODING.match(data[:1024].decode("latin-1"))
        codec = _ASCII_COMPATIBLE.get(match.group(1).lower(), "utf-8") if match else "utf-8"
        body = data
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as err:
        raise _refuse(f"the file is not valid {codec.upper()} text (byte {err.start})") from None
    return _DECLARATION_ENCODING.sub(r"\1", text, count=1)
