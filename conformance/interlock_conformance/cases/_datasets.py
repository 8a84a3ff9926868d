"""What the dataset format cases share: the golden vectors as case parameters, and writing
and comparing datasets with the format under test.

A ``transactional`` format (dataset.md DS-120..DS-127) writes only directory tables, reaches
storage through its own library (local paths always, DS-126) and may store a write's rows in
another order (DS-125): :func:`single_file`, :func:`dataset_root` and :func:`check_rows` give
each case the URIs and the comparison that the format's capabilities promise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import interlock

from interlock_conformance.tables import cast_back, table_mismatch
from interlock_conformance.markers import capability, when_unclaimed
from interlock_conformance.vectors import load_vector_index

__all__ = [
    "FILTERABLE",
    "VECTORS",
    "check_rows",
    "check_tables",
    "dataset_root",
    "extension",
    "is_transactional",
    "single_file",
    "vector_params",
    "write",
]

VECTORS = load_vector_index()
FILTERABLE = "filterable"


def vector_params(*, unclaimed: bool = False) -> list[Any]:
    """One parameter per golden dataset vector, marked with the capabilities it needs (or,
    with ``unclaimed``, for the components that do not claim them)."""
    params = []
    for name, vector in VECTORS.datasets.items():
        if unclaimed:
            if vector.capabilities:
                params.append(
                    pytest.param(name, marks=when_unclaimed(*vector.capabilities), id=name)
                )
        else:
            marks = [capability(*vector.capabilities)] if vector.capabilities else []
            params.append(pytest.param(name, marks=marks, id=name))
    return params


def is_transactional(component: interlock.DatasetFormat) -> bool:
    """Whether the format commits writes through its own log (DS-120)."""
    return "transactional" in component.capabilities


def extension(component: interlock.DatasetFormat) -> str:
    """The format's first extension; a transactional format may declare none (DS-013)."""
    return component.extensions[0] if component.extensions else ""


def single_file(component: interlock.DatasetFormat, base: str) -> str:
    """The URI of one dataset under ``base``: a single file with the format's first extension,
    or, for a transactional format, which writes tables only (DS-123), its table directory."""
    if is_transactional(component):
        return f"{base}/data"
    assert component.extensions, f"dataset format {component.name!r} declares no extensions"
    return f"{base}/data{component.extensions[0]}"


@pytest.fixture
def dataset_root(
    component: interlock.DatasetFormat, memory_root: str, tmp_path: Path
) -> Iterator[str]:
    """Where a case writes its directory datasets: ``memory://`` (any fsspec filesystem), or a
    local directory for a transactional format, which reaches local paths for sure (DS-126)."""
    if is_transactional(component):
        root = tmp_path / "root"
        root.mkdir()
        yield str(root)
    else:
        yield memory_root


def _by_value(table: pa.Table) -> pa.Table:
    rows = table.to_pylist()
    order = sorted(range(len(rows)), key=lambda i: repr(rows[i]))
    return table.take(pa.array(order, pa.int64()))


def check_rows(
    component: interlock.DatasetFormat, written: pa.Table, read: pa.Table, what: str
) -> None:
    """:func:`check_tables`, with rows in any order for a transactional format (DS-125)."""
    if is_transactional(component) and read.schema.names == written.schema.names:
        restored = cast_back(read, written.schema)
        if not isinstance(restored, str) and restored.num_rows == written.num_rows:
            written, read = _by_value(written), _by_value(restored)
    check_tables(written, read, what)


def write(
    component: interlock.DatasetFormat, data: Any, uri: str, **options: Any
) -> interlock.Dataset:
    """``interlock.write_dataset`` with the format under test."""
    return interlock.write_dataset(data, uri, format=component.name, **options)


def check_tables(written: pa.Table, read: pa.Table, what: str) -> None:
    """``read`` holds the values of ``written``; the assertion names the first difference."""
    problem = table_mismatch(written, read)
    assert problem is None, f"{what}: {problem}"
