"""What the dataset format cases share: the golden vectors as case parameters, and writing
and comparing datasets with the format under test."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import interlock

from interlock_conformance.tables import table_mismatch
from interlock_conformance.markers import capability, when_unclaimed
from interlock_conformance.vectors import load_vector_index

__all__ = ["FILTERABLE", "VECTORS", "check_tables", "single_file", "vector_params", "write"]

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


def single_file(component: interlock.DatasetFormat, base: str) -> str:
    """A single-file URI under ``base`` with the format's first extension."""
    assert component.extensions, f"dataset format {component.name!r} declares no extensions"
    return f"{base}/data{component.extensions[0]}"


def write(
    component: interlock.DatasetFormat, data: Any, uri: str, **options: Any
) -> interlock.Dataset:
    """``interlock.write_dataset`` with the format under test."""
    return interlock.write_dataset(data, uri, format=component.name, **options)


def check_tables(written: pa.Table, read: pa.Table, what: str) -> None:
    """``read`` holds the values of ``written``; the assertion names the first difference."""
    problem = table_mismatch(written, read)
    assert problem is None, f"{what}: {problem}"
