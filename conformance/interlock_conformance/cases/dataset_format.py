"""Dataset format cases (spec: dataset.md): what the format declares (capabilities,
extensions), round trips of the golden vectors, the layouts a URI names, and refusals of what
the format does not claim. The Dataset contract is checked in
:mod:`interlock_conformance.cases.dataset_contract`.

Cases that need data write it with the format under test, so they need both ``read`` and
``write``; a read-only format is checked on what it can do without a writer.
"""

from __future__ import annotations

import re
from pathlib import Path
import pyarrow as pa
import pytest

import interlock
from interlock import DatasetError
from interlock.datasets import DATASET_CAPABILITIES

from interlock_conformance.attribution import checking
from interlock_conformance.cases._datasets import (  # dataset_root is a fixture
    FILTERABLE,
    check_rows,
    dataset_root,
    is_transactional,
    single_file,
    vector_params,
    write,
)
from interlock_conformance.markers import capability, component_kind, requirement, when_unclaimed
from interlock_conformance.tables import cast_back
from interlock_conformance.vectors import VectorIndex

pytestmark = component_kind("dataset_format")

__all__ = ["dataset_root"]

#: The two layouts a URI names (DS-042); a transactional format writes directories only (DS-123).
LAYOUTS = [pytest.param("file", marks=when_unclaimed("transactional")), "directory"]


# -- what the component declares ----------------------------------------------------------------


@requirement("DS-090", "DS-092")
def test_capabilities_come_from_the_spec(component: interlock.DatasetFormat) -> None:
    """Only documented capability strings; type groups and append only with write."""
    unknown = sorted(set(component.capabilities) - set(DATASET_CAPABILITIES))
    with checking("DS-090"):
        assert not unknown, f"{component.name!r} claims undefined capabilities {unknown}"
    if "write" not in component.capabilities:
        dependent = sorted(
            c for c in component.capabilities if c.startswith("types:") or c == "append"
        )
        with checking("DS-092"):
            assert not dependent, f"{component.name!r} claims {dependent} without 'write'"


@requirement("DS-013")
def test_extensions_are_lower_case_with_a_leading_dot(component: interlock.DatasetFormat) -> None:
    """Extensions infer the format from a URI and name part files; a transactional format,
    whose tables are directories, may declare none."""
    if not is_transactional(component):
        assert component.extensions, f"{component.name!r} declares no file extensions"
    for extension in component.extensions:
        assert re.fullmatch(r"\.[a-z0-9][a-z0-9._-]*", extension), (
            f"{component.name!r} declares extension {extension!r}; write it in lower case with "
            "the leading dot, like '.parquet'"
        )


# -- round trips of the golden vectors -----------------------------------------------------------


@requirement("DS-071")
@capability("read", "write")
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", vector_params())
def test_vector_round_trips(
    component: interlock.DatasetFormat,
    vectors: VectorIndex,
    name: str,
    layout: str,
    tmp_path: Path,
    dataset_root: str,
) -> None:
    """Every value of the vector comes back, nulls included (types may change only where they
    cast back); single files on local disk, directories of part files on memory:// (local
    tables for a transactional format, whose rows may come back in another order)."""
    written = vectors.table(name)
    uri = single_file(component, str(tmp_path)) if layout == "file" else f"{dataset_root}/data"
    reader = pa.RecordBatchReader.from_batches(written.schema, vectors.batches(name))
    dataset = write(component, reader, uri)
    check_rows(component, written, dataset.to_table(),
               f"vector {name!r} written to {uri!r} as {component.name}")
    reopened = interlock.open_dataset(uri, format=component.name)
    check_rows(component, written, reopened.to_table(), f"vector {name!r} reopened from {uri!r}")


@requirement("DS-072")
@capability("read", "write")
@pytest.mark.parametrize("name", vector_params())
def test_read_back_types_cast_back_to_the_written_ones(
    component: interlock.DatasetFormat, vectors: VectorIndex, name: str, tmp_path: Path
) -> None:
    """Every column reads back as its written type, or as one that casts back to it."""
    written = vectors.table(name)
    read = write(component, written, single_file(component, str(tmp_path))).to_table()
    assert read.schema.names == written.schema.names, f"columns {read.schema.names} read back"
    restored = cast_back(read, written.schema)
    assert not isinstance(restored, str), restored


@requirement("DS-020", "DS-021", "DS-042")
@capability("read", "write")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_writes_the_layout_the_uri_names_and_reads_rows_in_order(
    component: interlock.DatasetFormat,
    vectors: VectorIndex,
    layout: str,
    tmp_path: Path,
    dataset_root: str,
) -> None:
    """A URI with the format's extension is one file, any other a directory; the reader's
    schema is Dataset.schema; every row comes once, in order (for a transactional format, in
    the same order on every read, DS-125)."""
    table = vectors.table(FILTERABLE)
    uri = single_file(component, str(tmp_path)) if layout == "file" else f"{dataset_root}/data"
    reader = pa.RecordBatchReader.from_batches(table.schema, vectors.batches(FILTERABLE))
    dataset = write(component, reader, uri)
    kind = dataset.filesystem.info(dataset.path)["type"]
    assert kind == ("file" if layout == "file" else "directory"), (
        f"writing {uri!r} made a {kind}, not a {layout}"
    )
    stream = dataset.to_reader()
    assert stream.schema.equals(dataset.schema), (
        f"to_reader() yields schema {stream.schema} but Dataset.schema is {dataset.schema}"
    )
    ids = stream.read_all().column("id").to_pylist()
    expected = table.column("id").to_pylist()
    if is_transactional(component):
        again = dataset.to_table().column("id").to_pylist()
        assert again == ids, f"two reads of one version gave ids {ids} and {again}"
        ids, expected = sorted(ids), sorted(expected)
    assert ids == expected, f"rows came back as ids {ids}"


@requirement("DS-071")
@capability("read", "write")
@pytest.mark.parametrize("name", vector_params())
def test_vector_schema_round_trips_without_rows(
    component: interlock.DatasetFormat, vectors: VectorIndex, name: str, tmp_path: Path
) -> None:
    """A table with the vector's schema and no rows comes back with its columns."""
    written = vectors.table(name).slice(0, 0)
    dataset = write(component, written, single_file(component, str(tmp_path)))
    check_rows(component, written, dataset.to_table(), f"the empty {name!r} table")


@requirement("DS-073")
@capability("write")
@pytest.mark.parametrize("name", vector_params(unclaimed=True))
def test_unclaimed_types_are_refused_before_writing_or_kept(
    component: interlock.DatasetFormat, vectors: VectorIndex, name: str, tmp_path: Path
) -> None:
    """A type group the format does not claim is refused by check_schema before anything is
    written, naming a column and its type; if the format writes it anyway, it must keep it."""
    written = vectors.table(name)
    target = tmp_path / "target"
    target.mkdir()
    uri = single_file(component, str(target))
    try:
        dataset = write(component, written, uri)
    except DatasetError as exc:
        message = str(exc)
        named = [f.name for f in written.schema if f"column {f.name!r} of type {f.type}" in message]
        assert named, (
            f"the refusal does not name a column as \"column '<name>' of type <type>\": {message}"
        )
        assert exc.hint, f"the refusal has no hint: {message}"
        leftovers = sorted(p.name for p in target.iterdir())
        assert not leftovers, f"the refused write left {leftovers} behind"
        return
    check_rows(component, written, dataset.to_table(),
               f"unclaimed vector {name!r} written without refusal")


@requirement("DS-015")
@when_unclaimed("write")
def test_read_only_format_refuses_towrite(
    component: interlock.DatasetFormat, memory_root: str
) -> None:
    """The write method of a format that does not claim write raises DatasetError."""
    import fsspec

    fs = fsspec.filesystem("memory")
    table = pa.table({"x": [1, 2]})
    path = memory_root.removeprefix("memory://") + "/data"
    with pytest.raises(DatasetError):
        component.write(table.to_reader(), path, fs, options={})


@requirement("DS-016")
@capability("read", "write")
def test_open_returns_an_interlock_dataset(
    component: interlock.DatasetFormat, tmp_path: Path
) -> None:
    """The format's own ``open``, called as the core calls it on a dataset it wrote, returns an
    ``interlock.Dataset``."""
    import fsspec

    uri = single_file(component, str(tmp_path))
    write(component, pa.table({"x": [1, 2, 3]}), uri)
    opened = component.open(uri, fsspec.filesystem("file"), uri=uri,
                            options=component.parse_read_options({}))
    assert isinstance(opened, interlock.Dataset), (
        f"{component.name!r}.open({uri!r}) of a dataset it wrote returned "
        f"{type(opened).__name__}, not an interlock.Dataset (dataset.md DS-016)")
