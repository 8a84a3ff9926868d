"""Hive partitions of a directory dataset (DS-006): ``key=value`` directories as columns.

The same rules as ``pyarrow.dataset.HivePartitioning.discover()``, which the pyarrow-based
formats use: segments are URI-decoded, a key's column is ``int32`` when every value is an
integer that fits and ``string`` otherwise, ``__HIVE_DEFAULT_PARTITION__`` is null, and a file
below no ``key=`` directory has null there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from interlock.datasets._files import relative_path

__all__ = ["Partitions", "hive_partitions"]

_NULL_VALUE = "__HIVE_DEFAULT_PARTITION__"
_INTEGER = re.compile(r"-?[0-9]+")
_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True)
class Partitions:
    """The partition columns of a dataset and each file's values for them."""

    fields: list[pa.Field] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)

    def columns(self, file: str, rows: int) -> list[pa.Array]:
        """The partition columns of ``rows`` rows read from ``file``."""
        return [
            pa.nulls(rows, f.type) if value is None else pa.repeat(pa.scalar(value, f.type), rows)
            for f, value in zip(self.fields, self.values.get(file, []), strict=True)
        ]


def hive_partitions(root: str, files: list[str]) -> Partitions:
    """The ``key=value`` directories between ``root`` and each of ``files``."""
    keys: list[str] = []
    found: dict[str, dict[str, str | None]] = {}
    for file in files:
        values: dict[str, str | None] = {}
        for segment in relative_path(root, file).split("/")[:-1]:
            key, equals, value = segment.partition("=")
            if not equals or not key:
                continue
            key, value = unquote(key), unquote(value)
            values[key] = None if value == _NULL_VALUE else value
            if key not in keys:
                keys.append(key)
        found[file] = values
    if not keys:
        return Partitions()
    fields = []
    typed: dict[str, list[Any]] = {file: [] for file in files}
    for key in keys:
        present = [v for values in found.values() if (v := values.get(key)) is not None]
        integers = all(_INTEGER.fullmatch(v) and int(v) in _INT32 for v in present)
        fields.append(pa.field(key, pa.int32() if integers else pa.string()))
        for file in files:
            raw = found[file].get(key)
            typed[file].append(int(raw) if integers and raw is not None else raw)
    return Partitions(fields=fields, values=typed)
