"""The dataset vectors: Arrow IPC files with awkward types (nulls everywhere, nested lists and
structs, dictionaries, large strings, time zones, decimals, zero-row batches, Unicode).

Every value is fixed here, so the files are the same bytes on every run.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["DATASETS", "build_datasets"]


def _primitives() -> pa.Table:
    # uint64 stops at 2**63 - 1: a text format reads larger values back as float64, which
    # dataset.md (DS-102) allows, so no format-independent case can ask for more.
    ints = {
        name: pa.array(
            [info.min, -1 if info.min < 0 else 0, None, 1, min(info.max, 2**63 - 1)], type
        )
        for name, type in (
            ("int8", pa.int8()),
            ("int16", pa.int16()),
            ("int32", pa.int32()),
            ("int64", pa.int64()),
            ("uint8", pa.uint8()),
            ("uint16", pa.uint16()),
            ("uint32", pa.uint32()),
            ("uint64", pa.uint64()),
        )
        for info in [np.iinfo(type.to_pandas_dtype())]
    }
    floats = {
        "float32": pa.array([1.5, -0.0, None, float("inf"), float("nan")], pa.float32()),
        "float64": pa.array(
            [np.finfo("float64").max, -0.0, float("nan"), None, 5e-324], pa.float64()
        ),
    }
    return pa.table(
        {
            "bool": pa.array([True, False, None, True, False]),
            **ints,
            **floats,
            "string": pa.array(["a", "", None, "plain text", 'with, comma "quote"']),
        }
    )


def _all_nulls() -> pa.Table:
    n = 4
    return pa.table(
        {
            "null": pa.nulls(n, pa.null()),
            "bool": pa.nulls(n, pa.bool_()),
            "int64": pa.nulls(n, pa.int64()),
            "float64": pa.nulls(n, pa.float64()),
            "string": pa.nulls(n, pa.string()),
        }
    )


_UNICODE_VALUES = [
    "ascii",
    "naïve café",  # Latin-1 range
    "日本語テキスト",  # CJK
    "emoji 🙂🚀 and a flag 🇺🇦",  # astral plane, regional indicators
    "עברית ومعها العربية",  # right-to-left
    "e\u0301 combining, \u200d zero-width joiner, \ufeff BOM",
    "line\nbreak\ttab\r\nCRLF",
    "",
    None,
    "nul \x00 inside",
]


def _unicode() -> pa.Table:
    values = _UNICODE_VALUES
    return pa.table(
        {
            "text": pa.array(values, pa.string()),
            "列": pa.array(list(range(len(values))), pa.int32()),
            "clé 🔑": pa.array([v[::-1] if v else v for v in values], pa.string()),
        }
    )


def _binary() -> pa.Table:
    return pa.table(
        {
            "binary": pa.array([b"", b"\x00\x01\xff", None, bytes(range(256))], pa.binary()),
            "fixed4": pa.array(
                [b"abcd", None, b"\x00\x00\x00\x00", b"\xff\xfe\xfd\xfc"], pa.binary(4)
            ),
        }
    )


def _large() -> pa.Table:
    # One value of 64 KiB: large enough to cross any small page or buffer boundary.
    big = ("large ünïcode 🙂 " * 4096)[: 64 * 1024]
    return pa.table(
        {
            "large_string": pa.array([big, "", None, "short"], pa.large_string()),
            "large_binary": pa.array([b"\x00" * 1024, None, b"", b"\xff"], pa.large_binary()),
            "large_list": pa.array(
                [[1, None], None, [], list(range(100))], pa.large_list(pa.int64())
            ),
        }
    )


def _nested() -> pa.Table:
    inner = pa.struct([("d", pa.float64())])
    record = pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string())), ("c", inner)])
    return pa.table(
        {
            "list": pa.array([[1, 2, 3], [], None, [None, 4], [5]], pa.list_(pa.int64())),
            "list_of_lists": pa.array(
                [[["a"], []], None, [None, ["b", None, "c"]], [], [["d"]]],
                pa.list_(pa.list_(pa.string())),
            ),
            "struct": pa.array(
                [
                    {"a": 1, "b": ["x"], "c": {"d": 1.5}},
                    None,
                    {"a": None, "b": None, "c": None},
                    {"a": 4, "b": [], "c": {"d": None}},
                    {"a": -5, "b": [None, "y"], "c": {"d": -0.25}},
                ],
                record,
            ),
            "map": pa.array(
                [[("k", 1), ("l", None)], [], None, [("ключ", 3)], [("k", 5)]],
                pa.map_(pa.string(), pa.int64()),
            ),
            "list_of_structs": pa.array(
                [
                    [{"a": 1, "b": None}],
                    None,
                    [],
                    [None, {"a": None, "b": "é"}],
                    [{"a": 2, "b": "z"}],
                ],
                pa.list_(pa.struct([("a", pa.int64()), ("b", pa.string())])),
            ),
            "fixed_list": pa.array(
                [[1.0, 2.0, 3.0], None, [0.0, -0.0, 1e30], [None, 5.0, 6.0], [7.0, 8.0, 9.0]],
                pa.list_(pa.float32(), 3),
            ),
        }
    )


def _dictionary() -> pa.Table:
    labels = pa.array(["red", "green", "blue", "unused"])
    return pa.table(
        {
            "color": pa.DictionaryArray.from_arrays(
                pa.array([0, 1, None, 2, 0, 1], pa.int32()), labels
            ),
            "code": pa.array(["x", "y", "x", None, "z", "x"])
            .dictionary_encode()
            .cast(pa.dictionary(pa.int8(), pa.string())),
        }
    )


def _decimal() -> pa.Table:
    d = decimal.Decimal
    return pa.table(
        {
            "price": pa.array(
                [d("0.01"), d("-999.99"), None, d("123.45"), d("0.00")], pa.decimal128(5, 2)
            ),
            "wide": pa.array(
                [
                    d("1234567890123456789012345678.0123456789"),
                    d("-0.0000000001"),
                    d("0E-10"),
                    None,
                    d("1E+27"),
                ],
                pa.decimal128(38, 10),
            ),
            "huge": pa.array(
                [
                    d("9" * 40 + "." + "9" * 36),
                    None,
                    d("-1." + "0" * 35 + "1"),
                    d("0E-36"),
                    d("42"),
                ],
                pa.decimal256(76, 36),
            ),
        }
    )


def _temporal() -> pa.Table:
    return pa.table(
        {
            "date32": pa.array([0, 19_000, None, -1, 2_932_896], pa.date32()),
            "date64": pa.array([0, 1_641_600_000_000, None, -86_400_000, 86_400_000], pa.date64()),
            "time32_s": pa.array([0, 86_399, None, 3_600, 1], pa.time32("s")),
            "time32_ms": pa.array([0, 86_399_999, None, 1, 500], pa.time32("ms")),
            "time64_us": pa.array([0, 86_399_999_999, None, 1, 123_456], pa.time64("us")),
            "time64_ns": pa.array([0, 86_399_999_999_999, None, 1, 123_456_789], pa.time64("ns")),
            "timestamp_ms": pa.array(
                [0, 1_700_000_000_123, None, -1, 253_402_300_799_999], pa.timestamp("ms")
            ),
            "timestamp_us": pa.array([0, 1_700_000_000_123_456, None, -1, 1], pa.timestamp("us")),
            "timestamp_ns": pa.array(
                [0, 1_700_000_000_123_456_789, None, -1, 1], pa.timestamp("ns")
            ),
            "duration_s": pa.array([0, -1, None, 86_400, 1], pa.duration("s")),
            "duration_ns": pa.array([0, -1, None, 86_400_000_000_000, 1], pa.duration("ns")),
        }
    )


def _timestamp_tz() -> pa.Table:
    # Instants around the 2021-03-14 US daylight-saving change, the epoch and a pre-1970 value.
    base = [1_615_705_200, 1_615_708_800, None, 0, -86_400]
    return pa.table(
        {
            "utc": pa.array(
                [v * 1_000_000 if v is not None else None for v in base],
                pa.timestamp("us", tz="UTC"),
            ),
            "new_york": pa.array(
                [v * 1_000_000_000 if v is not None else None for v in base],
                pa.timestamp("ns", tz="America/New_York"),
            ),
            "kathmandu": pa.array(
                [v * 1_000 if v is not None else None for v in base],
                pa.timestamp("ms", tz="Asia/Kathmandu"),
            ),
            "offset": pa.array(base, pa.timestamp("s", tz="+05:30")),
        }
    )


def _empty() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([], pa.int64()),
            "score": pa.array([], pa.float64()),
            "label": pa.array([], pa.string()),
            "flag": pa.array([], pa.bool_()),
        }
    )


def _zero_row_batches() -> list[pa.RecordBatch]:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    sizes = [3, 0, 2, 0, 1]
    batches, start = [], 0
    for size in sizes:
        ids = list(range(start, start + size))
        batches.append(
            pa.record_batch(
                [pa.array(ids, pa.int64()), pa.array([f"row {i}" for i in ids])], schema=schema
            )
        )
        start += size
    return batches


def _filterable() -> list[pa.RecordBatch]:
    # Sorted ids in separate batches, so a format that keeps batches as row groups can prune.
    schema = pa.schema([("id", pa.int64()), ("group", pa.string()), ("value", pa.float64())])
    batches = []
    for start in range(0, 40, 10):
        ids = list(range(start, start + 10))
        batches.append(
            pa.record_batch(
                [
                    pa.array(ids, pa.int64()),
                    pa.array(["even" if i % 2 == 0 else "odd" for i in ids]),
                    pa.array([None if i % 7 == 3 else i / 4 for i in ids], pa.float64()),
                ],
                schema=schema,
            )
        )
    return batches


#: name -> (builder, capabilities a format must claim to round-trip it, description)
DATASETS: dict[str, tuple[Callable[[], Any], list[str], str]] = {
    "primitives": (
        _primitives,
        [],
        "bool, every integer width at its extremes (uint64 up to 2**63-1), float32/64 with NaN, "
        "infinities and -0.0, strings with CSV-hostile characters; nulls in every column",
    ),
    "all_nulls": (
        _all_nulls,
        [],
        "columns whose every value is null, including a column of Arrow's null type",
    ),
    "unicode": (
        _unicode,
        [],
        "Unicode text (CJK, emoji, right-to-left, combining marks, BOM, NUL, line breaks) and "
        "non-ASCII column names",
    ),
    "binary": (
        _binary,
        ["types:binary"],
        "binary and fixed_size_binary values, including empty and all 256 byte values",
    ),
    "large": (
        _large,
        ["types:large"],
        "large_string (with a 64 KiB value), large_binary and large_list columns",
    ),
    "nested": (
        _nested,
        ["types:nested"],
        "list, list of lists, list of structs, struct with nested list and struct, map and "
        "fixed_size_list, with nulls at every level and empty lists",
    ),
    "dictionary": (
        _dictionary,
        ["types:dictionary"],
        "dictionary-encoded strings with int32 and int8 indices, nulls and an unused dictionary "
        "entry",
    ),
    "decimal": (
        _decimal,
        ["types:decimal"],
        "decimal128(5,2), decimal128(38,10) and decimal256(76,36) at the edges of their precision",
    ),
    "temporal": (
        _temporal,
        ["types:temporal"],
        "date32, date64, time32, time64, naive timestamps (ms, us, ns) and durations, including "
        "pre-1970 values",
    ),
    "timestamp_tz": (
        _timestamp_tz,
        ["types:timestamp_tz"],
        "timezone-aware timestamps (UTC, America/New_York across a DST change, Asia/Kathmandu, "
        "+05:30) in s, ms, us and ns",
    ),
    "empty": (_empty, [], "a dataset with a schema and zero rows"),
    "zero_row_batches": (
        _zero_row_batches,
        [],
        "a stream of five batches of 3, 0, 2, 0 and 1 rows",
    ),
    "filterable": (
        _filterable,
        [],
        "40 rows with sorted ids in four batches of 10, for projection and filter cases",
    ),
}


def _batches(value: pa.Table | list[pa.RecordBatch]) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    if isinstance(value, pa.Table):
        return value.schema, value.to_batches() or []
    return value[0].schema, value


def _ipc_bytes(schema: pa.Schema, batches: list[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _column_summary(schema: pa.Schema, batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    table = pa.Table.from_batches(batches, schema=schema)
    return [
        {
            "name": field.name,
            "type": str(field.type),
            "nullable": field.nullable,
            "null_count": table.column(field.name).null_count,
        }
        for field in schema
    ]


def build_datasets(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """Add every dataset vector's file to ``files``; return their index entries, in order."""
    entries = []
    for name, (builder, capabilities, description) in DATASETS.items():
        schema, batches = _batches(builder())
        path = f"datasets/{name}.arrow"
        files[path] = _ipc_bytes(schema, batches)
        entry: dict[str, Any] = {
            "name": name,
            "file": path,
            "description": description,
            "capabilities": capabilities,
            "num_rows": sum(b.num_rows for b in batches),
            "batch_rows": [b.num_rows for b in batches],
            "columns": _column_summary(schema, batches),
        }
        if name == "unicode":
            # Exact expected text, readable without Arrow: what every reader must return.
            entry["expected_rows"] = pa.Table.from_batches(batches, schema=schema).to_pylist()
        entries.append(entry)
    return entries
