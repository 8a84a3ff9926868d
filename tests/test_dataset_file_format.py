"""The public base for file formats (interlock.datasets.FileFormat and FileDataset), the
Dataset constructor, and format options parsed by the core (dataset.md DS-045, DS-048), with a
small format of our own registered as a plugin."""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import BaseModel, ConfigDict

import interlock
from interlock import DatasetError, hookimpl
from interlock.datasets import Dataset, DatasetFormat, FileDataset, FileFormat, FileWriteOptions
from interlock_conformance import requirement

TABLE = pa.table({"id": list(range(10)), "name": [f"n{i}" for i in range(10)]})


class _StreamWriteOptions(FileWriteOptions):
    tag: str = ""


class _StreamReadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rename: dict[str, str] = {}


class _StreamFormat(FileFormat):
    """Arrow IPC streams, one per file: a format in a dozen lines on the base."""

    name: ClassVar[str] = "ipcstream"
    extensions: ClassVar[tuple[str, ...]] = (".arrows",)
    capabilities: ClassVar[frozenset[str]] = frozenset({"read", "write", "append", "partitioned"})
    written: ClassVar[list[Any]] = []
    read_with: ClassVar[list[Any]] = []

    @property
    def options_model(self) -> type[BaseModel]:
        return _StreamWriteOptions

    @property
    def read_options_model(self) -> type[BaseModel]:
        return _StreamReadOptions

    def read_file(self, file: BinaryIO, options: Any) -> pa.RecordBatchReader:
        self.read_with.append(options)
        reader = pa.ipc.open_stream(file)
        if not options.rename:
            return reader
        schema = pa.schema([f.with_name(options.rename.get(f.name, f.name)) for f in reader.schema])
        return pa.RecordBatchReader.from_batches(
            schema, (pa.RecordBatch.from_arrays(b.columns, schema=schema) for b in reader)
        )

    def write_file(self, data: pa.RecordBatchReader, file: BinaryIO, options: Any) -> None:
        self.written.append(options)
        with pa.ipc.new_stream(file, data.schema) as writer:
            for batch in data:
                writer.write_batch(batch)


class _Plugin:
    @hookimpl
    def interlock_dataset_formats(self) -> list[DatasetFormat]:
        return [_StreamFormat()]


@pytest.fixture(autouse=True)
def _stream_format() -> None:
    _StreamFormat.written.clear()
    _StreamFormat.read_with.clear()
    interlock.get_registry().register(_Plugin(), name="acme_stream")


@pytest.fixture
def memory_root() -> Iterator[str]:
    root = f"/file-format-{uuid.uuid4().hex}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _stream_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


# -- the Dataset constructor ---------------------------------------------------------------------


def test_dataset_takes_its_attributes_as_keywords(tmp_path: Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"abc")

    class Fixed(Dataset):
        def __init__(self, table: pa.Table, **where: Any) -> None:
            super().__init__(**where)
            self.table = table

        @property
        def schema(self) -> pa.Schema:
            return self.table.schema

        def to_reader(self, columns: Any = None, filter: Any = None, batch_size: Any = None) -> Any:
            return self.table.to_reader()

        def files(self) -> list[str]:
            return [self.path]

        def shards(self, n: int) -> list[Dataset]:
            return [self]

    fs = fsspec.filesystem("file")
    path = str(tmp_path / "x.bin")
    dataset = Fixed(TABLE, uri="x.bin", format_name="fixed", filesystem=fs, path=path)
    assert (dataset.uri, dataset.format_name, dataset.filesystem, dataset.path) == (
        "x.bin", "fixed", fs, path
    )
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", dataset.fingerprint())
    with pytest.raises(TypeError):
        Fixed(TABLE, uri="x.bin")  # every attribute is required


# -- what the base does ---------------------------------------------------------------------------


@requirement("DS-004", "DS-005", "DS-042", "DS-044")
def test_the_base_finds_data_files_and_writes_part_files(memory_root: str) -> None:
    single = interlock.write_dataset(TABLE, f"{memory_root}/one.arrows")
    assert isinstance(single, FileDataset) and single.files() == [single.path]
    assert single.to_table().equals(TABLE)

    directory = interlock.write_dataset(
        TABLE, f"{memory_root}/dir", format="ipcstream", max_rows_per_file=4
    )
    names = [posixpath.basename(f) for f in directory.files()]
    assert [name[-12:] for name in names] == ["00000.arrows", "00001.arrows", "00002.arrows"]
    assert all(re.fullmatch(r"part-\d{20}-[0-9a-f]{12}-\d{5}\.arrows", n) for n in names)
    assert directory.to_table().equals(TABLE)
    fs = directory.filesystem
    for junk in ("_SUCCESS.arrows", ".hidden/x.arrows", "notes.txt"):
        fs.pipe_file(f"{directory.path}/{junk}", b"junk")
    assert interlock.open_dataset(f"{memory_root}/dir").files() == directory.files()

    fs.makedirs(f"{directory.path}-empty/_tmp", exist_ok=True)
    fs.pipe_file(f"{directory.path}-empty/_tmp/a.arrows", b"junk")
    with pytest.raises(DatasetError, match=r"has no ipcstream data files.*\.arrows"):
        interlock.open_dataset(f"{memory_root}/dir-empty", format="ipcstream")


@requirement("DS-022", "DS-023", "DS-024", "DS-026", "DS-030", "DS-031")
def test_file_datasets_check_reader_arguments_and_shard_by_file(memory_root: str) -> None:
    dataset = interlock.write_dataset(
        TABLE, f"{memory_root}/d", format="ipcstream", max_rows_per_file=3
    )
    assert dataset.to_table(columns=["name", "id"]).equals(TABLE.select(["name", "id"]))
    assert dataset.to_table(filter=pc.field("id") >= 7).equals(TABLE.filter(pc.field("id") >= 7))
    assert dataset.count_rows(filter=pc.field("id") < 2) == 2
    assert max(b.num_rows for b in dataset.to_reader(batch_size=2)) == 2
    assert sum(b.num_rows for b in dataset.to_reader(columns=[])) == 10
    with pytest.raises(DatasetError, match="did you mean 'name'"):
        dataset.to_reader(columns=["nmae"])
    for bad in (pc.field("nope") > 1, pc.field("id") + 1, "id > 1"):
        with pytest.raises(DatasetError):
            dataset.to_reader(filter=bad)
    with pytest.raises(DatasetError, match="positive integer"):
        dataset.to_reader(batch_size=0)
    shards = dataset.shards(2)
    assert len(shards) == 2 and pa.concat_tables(s.to_table() for s in shards).equals(TABLE)
    assert len({s.fingerprint() for s in shards}) == 2
    with pytest.raises(DatasetError):
        dataset.shards(True)


@requirement("DS-006")
def test_file_datasets_read_hive_partitions(memory_root: str) -> None:
    fs = fsspec.filesystem("memory")
    root = memory_root.removeprefix("memory://") + "/hive"
    data = _stream_bytes(TABLE.slice(0, 2))
    for segment in ("year=2024/city=Lyon", "year=2025/city=S%C3%A3o%20Paulo",
                    "year=__HIVE_DEFAULT_PARTITION__/city=Oslo", "other/year=7/city=Kyoto"):
        fs.pipe_file(f"{root}/{segment}/part.arrows", data)
    dataset = interlock.open_dataset(f"memory://{root}")
    assert dataset.schema.names == ["id", "name", "year", "city"]
    assert dataset.schema.field("year").type == pa.int32()
    assert dataset.schema.field("city").type == pa.string()
    table = dataset.to_table(columns=["year", "city"])
    assert table.column("city").to_pylist()[::2] == ["Kyoto", "Lyon", "São Paulo", "Oslo"]
    assert table.column("year").to_pylist()[::2] == [7, 2024, 2025, None]
    picked = dataset.to_table(filter=pc.field("year") == 2024)
    assert picked.column("city").to_pylist() == ["Lyon", "Lyon"]


@requirement("DS-028")
def test_undecodable_and_mismatched_files_name_the_dataset(memory_root: str) -> None:
    fs = fsspec.filesystem("memory")
    root = memory_root.removeprefix("memory://")
    fs.pipe_file(f"{root}/bad.arrows", b"not an arrow stream at all")
    with pytest.raises(DatasetError, match=r"cannot read 'memory://.*/bad\.arrows' as ipcstream"):
        interlock.open_dataset(f"{memory_root}/bad.arrows")
    fs.pipe_file(f"{root}/mixed/a.arrows", _stream_bytes(TABLE))
    fs.pipe_file(f"{root}/mixed/b.arrows", _stream_bytes(TABLE.select(["id"])))
    dataset = interlock.open_dataset(f"{memory_root}/mixed")
    with pytest.raises(DatasetError, match="'b.arrows' .* has the schema \\(id: int64\\)"):
        dataset.to_table()


def test_max_rows_per_file_is_for_directories_only(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="max_rows_per_file applies to directory datasets"):
        interlock.write_dataset(TABLE, tmp_path / "one.arrows", max_rows_per_file=2)
    assert list(tmp_path.iterdir()) == []


# -- options ---------------------------------------------------------------------------------------


@requirement("DS-045")
def test_write_options_are_parsed_by_the_core_before_staging(tmp_path: Path) -> None:
    interlock.write_dataset(TABLE, tmp_path / "a.arrows", tag="x")
    assert _StreamFormat.written == [_StreamWriteOptions(tag="x")]
    with pytest.raises(DatasetError) as caught:
        interlock.write_dataset(TABLE, tmp_path / "b.arrows", colour="red", tag=3)
    message = str(caught.value)
    assert "b.arrows" in message and "unknown option 'colour'" in message and "tag" in message
    assert caught.value.hint == "valid options are: max_rows_per_file, tag"
    assert caught.value.component == "ipcstream"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.arrows"]  # not even a staging dir


@requirement("DS-048")
def test_read_options_are_parsed_by_the_core_before_opening(tmp_path: Path) -> None:
    interlock.write_dataset(TABLE, tmp_path / "a.arrows")
    _StreamFormat.read_with.clear()
    renamed = interlock.open_dataset(tmp_path / "a.arrows", rename={"name": "label"})
    assert renamed.schema.names == ["id", "label"]
    assert renamed.to_table().column("label").equals(TABLE.column("name"))
    assert _StreamFormat.read_with[0] == _StreamReadOptions(rename={"name": "label"})
    _StreamFormat.read_with.clear()
    with pytest.raises(DatasetError) as caught:
        interlock.open_dataset(tmp_path / "a.arrows", renmae={})
    assert "a.arrows" in str(caught.value) and "unknown option 'renmae'" in str(caught.value)
    assert caught.value.hint == "valid options are: rename"
    assert _StreamFormat.read_with == [], "the format read before its options were valid"


@requirement("DS-048")
def test_a_format_without_read_options_refuses_them(tmp_path: Path) -> None:
    interlock.write_dataset(TABLE, tmp_path / "t.parquet")
    with pytest.raises(DatasetError, match="'parquet' takes no options, got \\['x'\\]") as caught:
        interlock.open_dataset(tmp_path / "t.parquet", x=1)
    assert "t.parquet" in str(caught.value) and caught.value.hint


# -- light imports ---------------------------------------------------------------------------------


@requirement("PLG-006")
def test_subclassing_the_bases_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from interlock.datasets import FileFormat, PyArrowFileFormat\n"
        "class Tsv(FileFormat):\n"
        "    name = 'tsv'\n"
        "class Feather(PyArrowFileFormat):\n"
        "    name = 'feather'\n"
        "heavy = ('pyarrow', 'pydantic', 'fsspec', 'numpy')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
