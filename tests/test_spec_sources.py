"""Requirements that restate an external standard cite it (the plugin certification's pages).

Each page below ends with a ``## Sources`` section whose table, between ``<!-- sources -->``
and ``<!-- end sources -->``, names for each requirement that restates an external standard
(Arrow, Parquet, ONNX, Delta Lake, OpenLineage, an RFC, ...) the document and the section it
restates, as serving.md's profiles table does for the Open Inference Protocol. This test reads
the spec text only: the tables must be well formed, list requirements of their own page once,
name a document for each, and list every requirement whose text uses a standard's own terms
(``MARKERS``), so that a requirement added later that restates a standard fails here until it
is cited.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from interlock_conformance.requirements import Requirement, parse_requirements

SPECS = Path(__file__).resolve().parent.parent / "specs" / "v1"

#: The pages of the plugin certification held to this rule (serving.md keeps its own profiles
#: table, read by tests/test_certify_server.py).
PAGES = (
    "dataset.md",
    "artifact.md",
    "runtime.md",
    "exporter.md",
    "batch.md",
    "lineage.md",
    "plugins.md",
)

START, END = "<!-- sources -->", "<!-- end sources -->"
_ROW = re.compile(r"^\|\s*([A-Z][A-Z0-9]*-\d{3})\s*\|\s*(.*?)\s*\|\s*$")
_HEADER = ("| requirement | source |", "|---|---|")

#: A source names a document: a file of a standard's repository, an RFC, a manual page, a URL
#: or one of the named specifications cited on these pages.
_DOCUMENT = re.compile(
    r"[\w./-]+\.(?:md|rst|proto|json|fbs|thrift|yml)\b"
    r"|\bRFC \d{3,5}\b"
    r"|`\w+\(\d\)`"
    r"|https?://\S+"
    r"|\bPyPA Entry points specification\b"
    r"|\bMLflow documentation\b"
    r"|\bfsspec API reference\b"
)
#: ... and a place in it: a quoted section title, a section number or a quoted field name.
_PLACE = re.compile(r'"[^"]+"|`[^`]+`|\bsection \d')
_PLACEHOLDER = re.compile(r"\b(?:TODO|TBD|FIXME|XXX)\b|^\W*$", re.IGNORECASE)

#: Terms that only a restatement of an external standard uses (its own names for its
#: structures, fields, facets or sections), each as a regular expression; a requirement whose
#: text matches one must be listed in its page's sources table. Chosen so that none matches a
#: requirement that is interlock's own rule: "external data", "opset", "entry point",
#: "Delta", "Parquet" or "`arrow.fixed_shape_tensor`" alone also name interlock's own rules
#: about those things, and are not markers.
MARKERS: dict[str, str] = {
    # Apache Arrow: the C stream interface, the PyCapsule interface, IPC, canonical extensions
    "C stream interface": r"\bC stream interface\b",
    "PyCapsule": r"\bPyCapsule\b",
    "__arrow_c_stream__": r"__arrow_c_stream__",
    "__arrow_c_array__": r"__arrow_c_array__",
    "IPC dictionary deltas": r"\bdictionary deltas?\b",
    "canonical extension": r"\bcanonical extension\b",
    # ONNX IR and external data
    "ir_version": r"`ir_version`",
    "opset_import": r"`opset_import`",
    "dim_value/dim_param": r"`dim_(?:value|param)`",
    "data_location": r"`data_location`",
    # Delta Lake protocol
    "_delta_log": r"`_delta_log`",
    "metaData action": r"`metaData`",
    "commitInfo": r"`commitInfo`",
    # OpenLineage
    "OpenLineage": r"\bOpenLineage\b(?!Client)",
    "run or job facet": r"\b(?:run|job) facet\b",
    "datasetVersion": r"`datasetVersion`",
    "outputStatistics": r"`outputStatistics`",
    "_schemaURL": r"`_schemaURL`",
    # fsspec
    "url_to_fs": r"\burl_to_fs\b",
    # PyPA entry points, pluggy
    "entry-point group": r"\bentry-point group\b",
    "hookimpl": r"\bhookimpl\b",
    # MLflow's model format
    "MLmodel": r"\bMLmodel\b",
    "MLflow tensor signature": r"\bMLflow tensor signature\b",
    # IETF and manual pages
    "RFC": r"\bRFC \d{3,5}\b",
    "manual page": r"\b[a-z][a-z0-9_]*\(2\)",
}


def _text(page: str) -> str:
    return (SPECS / page).read_text(encoding="utf-8")


def _requirements(page: str) -> dict[str, Requirement]:
    return {r.id: r for r in parse_requirements(_text(page), page)}


def _table_lines(page: str) -> list[str]:
    """The lines between the markers ([] for a page without a table)."""
    text = _text(page)
    if START not in text:
        assert END not in text, f"{page}: {END} without {START}"
        return []
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"{page}: one sources table, between one {START} and one {END}"
    )
    start, end = text.index(START), text.index(END)
    assert start < end, f"{page}: {END} before {START}"
    return [line for line in text[start + len(START):end].splitlines() if line.strip()]


def _sources(page: str) -> list[tuple[str, str]]:
    """The table's rows, (requirement, source), in order."""
    lines = _table_lines(page)
    if not lines:
        return []
    assert tuple(lines[:2]) == _HEADER, f"{page}: the table starts with {_HEADER}"
    rows = []
    for line in lines[2:]:
        match = _ROW.match(line)
        assert match, f"{page}: not a `| ID | source |` row: {line!r}"
        rows.append((match[1], match[2]))
    return rows


@pytest.mark.parametrize("page", PAGES)
def test_the_sources_table_is_the_pages_last_section(page: str) -> None:
    text = _text(page)
    if START not in text:
        assert "## Sources" not in text, f"{page}: a Sources section without its table"
        return
    heading = text.rindex("\n## ")
    assert text[heading:].startswith("\n## Sources\n"), f"{page}: ## Sources is the last section"
    assert text.rstrip().endswith(END), f"{page}: nothing follows {END}"


@pytest.mark.parametrize("page", PAGES)
def test_every_listed_requirement_exists_on_its_page_once(page: str) -> None:
    defined = _requirements(page)
    listed = [ident for ident, _ in _sources(page)]
    unknown = [ident for ident in listed if ident not in defined]
    assert not unknown, f"{page} lists requirements it does not define: {unknown}"
    twice = sorted({ident for ident in listed if listed.count(ident) > 1})
    assert not twice, f"{page} lists requirements twice: {twice}"


@pytest.mark.parametrize("page", PAGES)
def test_every_source_names_a_document_and_a_place_in_it(page: str) -> None:
    for ident, source in _sources(page):
        assert not _PLACEHOLDER.search(source), f"{page} {ident}: no source yet ({source!r})"
        assert _DOCUMENT.search(source), (
            f"{page} {ident}: {source!r} names no document (a file of the standard, an RFC, "
            "a manual page, a URL or a named specification)"
        )
        assert _PLACE.search(source), (
            f"{page} {ident}: {source!r} names no place in the document (a quoted section "
            "title, a section number or a quoted field)"
        )


@pytest.mark.parametrize("page", PAGES)
def test_every_requirement_using_a_standards_terms_cites_it(page: str) -> None:
    listed = {ident for ident, _ in _sources(page)}
    missing = {}
    for ident, req in _requirements(page).items():
        hits = [name for name, pattern in MARKERS.items() if re.search(pattern, req.text)]
        if hits and ident not in listed:
            missing[ident] = hits
    assert not missing, (
        f"{page}: these requirements use an external standard's terms but its sources table "
        f"does not cite them (add a row naming the document and section): {missing}"
    )


def test_every_marker_still_finds_a_requirement() -> None:
    """A marker that matches nothing (a typo, or a page reworded) checks nothing."""
    texts = [r.text for page in PAGES for r in _requirements(page).values()]
    idle = [name for name, pattern in MARKERS.items()
            if not any(re.search(pattern, text) for text in texts)]
    assert not idle, f"markers that match no requirement: {idle}"


def test_the_markers_tell_a_restatement_from_interlocks_own_rules() -> None:
    """The markers' own check: words that also name interlock's rules are not markers, and
    text of interlock's own rules does not match them."""
    own_rules = [
        "stores all external data of `model.onnx` in the single file `model.onnx.data`",
        "`target_opset` (the opset of the default ONNX domain)",
        "registers one entry point in the plugins' group; loaded from entry points",
        "an `arrow.fixed_shape_tensor` column feeds the tensor without a copy",
        "such as Delta's `VACUUM`; Parquet footers; `openlineage.client.OpenLineageClient()`",
    ]
    for text in own_rules:
        hits = [name for name, pattern in MARKERS.items() if re.search(pattern, text)]
        assert not hits, f"{text!r} matches {hits}"
