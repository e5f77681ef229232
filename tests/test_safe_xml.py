"""Hostile uploads against the hardened diagram parser (XXE and entity bombs: trap 3).

Every DOCTYPE/ENTITY is refused before lxml sees the bytes, whatever the encoding,
and nothing is ever expanded.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import safe_xml
from engine.safe_xml import MAX_DIAGRAM_BYTES, DiagramError, parse_diagram_xml
from tests.conftest import CORPUS_DIR

CORPUS = CORPUS_DIR
BPMN_OPEN = '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
BPMN_CLOSE = "</bpmn:definitions>"


def _bpmn(body: str = "", prolog: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}{BPMN_OPEN}{body}{BPMN_CLOSE}'


def _refused(data: bytes, **kwargs: int) -> DiagramError:
    with pytest.raises(DiagramError) as info:
        parse_diagram_xml(data, **kwargs)
    err = info.value
    assert err.errors and all(set(e) == {"element", "message"} for e in err.errors)
    assert "root:" not in str(err)  # nothing from /etc/passwd ever shows up
    return err


XXE_FILE = _bpmn("<bpmn:documentation>&xxe;</bpmn:documentation>",
                 '<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
XXE_HTTP = _bpmn("<bpmn:documentation>&xxe;</bpmn:documentation>",
                 '<!DOCTYPE d [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.dtd">]>\n')
BILLION_LAUGHS = _bpmn("<bpmn:documentation>&lol9;</bpmn:documentation>", "<!DOCTYPE d [\n"
                       + '<!ENTITY lol "lol">\n'
                       + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">\n'
                                 for i in range(2, 10)).replace("&lol1;", "&lol;")
                       + '<!ENTITY lol1 "&lol;&lol;">\n]>\n')
QUADRATIC = _bpmn("<bpmn:documentation>" + "&a;" * 10_000 + "</bpmn:documentation>",
                  f'<!DOCTYPE d [<!ENTITY a "{"x" * 50_000}">]>\n')
PARAMETER_ENTITY = _bpmn("", '<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n')
EXTERNAL_DTD = _bpmn("", '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">\n')
LOWERCASE_DOCTYPE = _bpmn("", '<!doctype d [<!entity x "y">]>\n')


@pytest.mark.parametrize("document", [XXE_FILE, XXE_HTTP, BILLION_LAUGHS, QUADRATIC, PARAMETER_ENTITY,
                                      EXTERNAL_DTD, LOWERCASE_DOCTYPE],
                         ids=["xxe-file", "xxe-http", "billion-laughs", "quadratic", "parameter-entity",
                              "external-dtd", "lowercase"])
def test_doctype_and_entities_are_refused(document: str) -> None:
    """XXE / trap 3: any DOCTYPE or ENTITY declaration is refused with a clear message."""
    err = _refused(document.encode())
    assert err.errors[0]["element"] == "file"
    assert "DOCTYPE and ENTITY declarations are not allowed" in err.errors[0]["message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_doctype_is_refused(encoding: str) -> None:
    """XXE / trap 3: a DOCTYPE hidden in UTF-16 (with or without byte order mark) is still seen."""
    document = XXE_FILE.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    err = _refused(document.encode(encoding))
    assert "DOCTYPE" in str(err)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_plain_utf16_diagram_is_accepted(encoding: str) -> None:
    """XXE / trap 3: the UTF-16 scan does not refuse honest UTF-16 files."""
    document = _bpmn('<bpmn:process id="p" name="Größe"/>').replace('encoding="UTF-8"', 'encoding="UTF-16"')
    root = parse_diagram_xml(document.encode(encoding))
    assert root[0].get("name") == "Größe"


@pytest.mark.parametrize(("data", "message"), [
    (b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE d+AD4-' + BPMN_OPEN.encode() + BPMN_CLOSE.encode(),
     "encoding 'UTF-7' is not accepted"),
    (XXE_FILE.replace('encoding="UTF-8"', 'encoding="UTF-32"').encode("utf-32"), "UTF-32"),
    (XXE_FILE.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode(), "UTF-16"),
    (_bpmn().replace('encoding="UTF-8"', 'encoding="cp500"').encode("cp500"), "EBCDIC"),
])
def test_encodings_that_hide_markup_are_refused(data: bytes, message: str) -> None:
    """XXE / trap 3: UTF-7, UTF-32, EBCDIC and mislabelled files cannot smuggle a DOCTYPE past the scan."""
    assert message in str(_refused(data))


def test_xinclude_is_refused() -> None:
    """XXE / trap 3: an XInclude element is refused (and would never be processed)."""
    document = _bpmn('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                     'href="file:///etc/passwd" parse="text"/>')
    assert "XInclude" in str(_refused(document.encode()))


def test_parser_itself_never_expands_entities(monkeypatch: pytest.MonkeyPatch) -> None:
    """XXE / trap 3: with the pre-scan disabled, the post-parse DOCTYPE check still refuses,
    and the hardened lxml parser leaves the entity unexpanded."""
    monkeypatch.setattr(safe_xml, "_DECLARATION", re.compile(r"(?!x)x"))
    assert "DOCTYPE" in str(_refused(XXE_FILE.encode()))
    root = etree.fromstring(XXE_FILE.encode(), safe_xml._parser())
    assert "root:" not in etree.tostring(root, encoding="unicode")


def test_oversized_file_is_refused() -> None:
    """XXE / trap 3: files over the size limit are refused before parsing, naming the limit."""
    big = _bpmn("<bpmn:documentation>" + "x" * MAX_DIAGRAM_BYTES + "</bpmn:documentation>").encode()
    err = _refused(big)
    assert err.errors == [{"element": "file", "message": err.errors[0]["message"]}]
    assert f"{MAX_DIAGRAM_BYTES:,} bytes" in str(err) and "2 MiB" in str(err)
    assert "limit is 100 bytes" in str(_refused(_bpmn("x" * 200).encode(), max_bytes=100))


@pytest.mark.parametrize("data", [b"", b"   \n\t "])
def test_empty_file_is_refused(data: bytes) -> None:
    """XXE / trap 3: an empty upload gets a clear error, not a parser crash."""
    assert "empty" in str(_refused(data))


def test_malformed_xml_reports_line() -> None:
    """XXE / trap 3: malformed XML (unclosed tag) is refused with line and column."""
    document = f'<?xml version="1.0"?>\n{BPMN_OPEN}\n  <bpmn:process id="p">\n{BPMN_CLOSE}\n'
    err = _refused(document.encode())
    assert err.errors[0]["element"] == "file"
    assert "malformed XML at line 4" in err.errors[0]["message"]


def test_undefined_entity_is_malformed() -> None:
    """XXE / trap 3: an entity reference without a declaration is a parse error, not a lookup."""
    assert "malformed XML" in str(_refused(_bpmn("<bpmn:documentation>&xxe;</bpmn:documentation>").encode()))


@pytest.mark.parametrize(("data", "found"), [
    (b"<html/>", "<html> (no namespace)"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "<svg> in namespace http://www.w3.org/2000/svg"),
    (b'<bpmn:process xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>', "<process>"),
])
def test_wrong_root_is_refused(data: bytes, found: str) -> None:
    """XXE / trap 3: only BPMN or DMN <definitions> roots are accepted; the message names the root found."""
    err = _refused(data)
    assert found in str(err) and "expected BPMN 2.0 or DMN <definitions>" in str(err)


def test_too_many_elements_is_refused() -> None:
    """XXE / trap 3: width bombs (many small elements) are refused, before or after building the tree."""
    assert "too many elements" in str(_refused(_bpmn("<x/>" * 50_000).encode()))
    assert "more than 20,000 elements" in str(_refused(_bpmn("<a></a>" * 20_000).encode()))
    assert "more than 10 elements" in str(_refused(_bpmn("<a></a>" * 10).encode(), max_elements=10))


def test_error_structure() -> None:
    """XXE / trap 3: DiagramError carries element/message dicts and str() joins them."""
    err = DiagramError([{"element": "file", "message": "a"}, {"element": "Task_1", "message": "b"}])
    assert isinstance(err, ValueError)
    assert str(err) == "file: a; Task_1: b"


def test_comments_and_processing_instructions_are_dropped() -> None:
    """XXE / trap 3: comments and processing instructions never reach SpiffWorkflow."""
    root = parse_diagram_xml(_bpmn('<!-- hi --><?xml-stylesheet href="x"?><bpmn:process id="p"/>').encode())
    assert [etree.QName(c).localname for c in root] == ["process"]


@pytest.mark.parametrize("path", [
    CORPUS / "miwg" / "Reference__A.1.0.bpmn",
    CORPUS / "spiff" / "spiff-data__business_rule_task.bpmn",
    CORPUS / "spiff" / "spiff-data-dmn__business_rules.dmn",
    CORPUS / "spiff" / "dmn-data__unique_hit.dmn",
])
def test_real_diagrams_parse(path: Path) -> None:
    """XXE / trap 3: real BPMN and DMN files from other tools still parse."""
    root = parse_diagram_xml(path.read_bytes())
    assert etree.QName(root).localname == "definitions"


def test_parsed_tree_feeds_spiffworkflow() -> None:
    """XXE / trap 3: the returned root is what SpiffBpmnParser.add_bpmn_xml / add_dmn_xml expect."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(parse_diagram_xml((CORPUS / "spiff" / "spiff-data__business_rule_task.bpmn").read_bytes()),
                        filename="business_rule_task.bpmn")
    parser.add_dmn_xml(parse_diagram_xml((CORPUS / "spiff" / "spiff-data-dmn__business_rules.dmn").read_bytes()),
                       filename="business_rules.dmn")
    assert parser.get_spec("Process_bd2e724").name == "Process_bd2e724"


def test_whole_corpus_parses() -> None:
    """XXE / trap 3: no false positives on the 200+ real diagrams in the corpus."""
    files = sorted((CORPUS / "miwg").iterdir()) + sorted((CORPUS / "spiff").iterdir())
    assert len(files) > 200
    for path in files:
        parse_diagram_xml(path.read_bytes())
