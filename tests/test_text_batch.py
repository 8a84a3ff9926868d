"""predict_dataset over a string column: prompts in, completions or embeddings out (text.md
TXT-060..TXT-062), here on the local executor, whole and in resumable shards; the dask and ray
executors run the same job in their own test modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import interlock
from interlock import DatasetError, GenerationError, SignatureMismatch
from interlock_conformance import requirement
from text_models import expected_text_outputs, text_batch_setup

OPTIONS = {"max_tokens": 6, "temperature": 0.7, "seed": 4}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return text_batch_setup(tmp_path_factory.mktemp("text-batch"))


@pytest.fixture(scope="module")
def expected(setup: dict[str, str]) -> dict[str, Any]:
    return expected_text_outputs(setup)


def check_completions(table: pa.Table, expected: dict[str, Any]) -> None:
    assert table.column_names == ["id", "completion", "completion_finish_reason"]
    assert table.schema.field("completion").type == pa.string()
    assert table.column("id").to_pylist() == list(range(5))
    assert table.column("completion").to_pylist() == expected["completion"]
    assert table.column("completion_finish_reason").to_pylist() == expected["finish_reason"]


def check_embeddings(table: pa.Table, expected: dict[str, Any]) -> None:
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 32)
    for got, want in zip(table.column("embedding").to_pylist(), expected["embedding"]):
        assert (got is None) == (want is None)
        if want is not None:
            assert np.allclose(got, want, atol=1e-5)


def check_text_jobs_on(executor: dict[str, Any], tmp_path: Path) -> None:
    """Prompts to completions and texts to embeddings with ``executor`` (``executor=`` and
    ``executor_options=`` of predict_dataset) give the rows of local (TXT-060)."""
    text = text_batch_setup(tmp_path / "text")
    expected = expected_text_outputs(text)
    out = tmp_path / "completions.parquet"
    interlock.predict_dataset(text["data"], "lm:1", str(out), store=text["store"],
                              keep_columns=["id"], text_options=OPTIONS, **executor)
    check_completions(pq.read_table(out), expected)
    out = tmp_path / "embeddings.parquet"
    interlock.predict_dataset(text["data"], "enc:1", str(out), store=text["store"],
                              text_options={"input_column": "prompt"}, **executor)
    check_embeddings(pq.read_table(out), expected)


@requirement("TXT-060", "TXT-061")
@pytest.mark.parametrize("batch_size", [2, 64])
def test_prompts_become_completions_whatever_the_batching(
    setup: dict[str, str], expected: dict[str, Any], tmp_path: Path, batch_size: int
) -> None:
    out = tmp_path / "out.parquet"
    summary = interlock.predict_dataset(setup["data"], "lm:1", str(out), store=setup["store"],
                                        keep_columns=["id"], batch_size=batch_size,
                                        text_options=OPTIONS)
    assert summary["rows"] == 5
    table = pq.read_table(out)
    check_completions(table, expected)
    lineage = json.loads(table.schema.metadata[b"interlock.lineage"])
    assert lineage["artifact"]["digest"] == interlock.load_artifact(
        "lm:1", store=setup["store"]).digest


@requirement("TXT-060", "TXT-061")
def test_resumable_shards_give_the_same_rows(setup: dict[str, str], expected: dict[str, Any],
                                             tmp_path: Path) -> None:
    out = tmp_path / "out.arrow"
    interlock.predict_dataset(setup["data"], "lm:1", str(out), store=setup["store"],
                              keep_columns=["id"], resume=True, batch_size=2,
                              text_options=OPTIONS)
    check_completions(interlock.open_dataset(str(out)).to_table(), expected)


@requirement("TXT-060", "TXT-061")
def test_texts_become_embeddings(setup: dict[str, str], expected: dict[str, Any],
                                 tmp_path: Path) -> None:
    out = tmp_path / "vectors.parquet"
    interlock.predict_dataset(setup["data"], "enc:1", str(out), store=setup["store"],
                              text_options={"input_column": "prompt"}, batch_size=3)
    check_embeddings(pq.read_table(out), expected)


@requirement("TXT-062")
def test_text_job_mistakes_are_refused_before_any_work(setup: dict[str, str],
                                                       tmp_path: Path) -> None:
    out = tmp_path / "never.parquet"
    run = lambda **kw: interlock.predict_dataset(  # noqa: E731
        setup["data"], kw.pop("artifact", "lm:1"), str(out), store=setup["store"], **kw)
    with pytest.raises(SignatureMismatch, match="has no column 'text' of texts"):
        run(artifact="enc:1")  # an embedding job reads 'text' unless told
    with pytest.raises(GenerationError, match=r"unknown key\(s\) \['temprature'\]"):
        run(text_options={"temprature": 1})
    with pytest.raises(GenerationError, match="temperature is -1"):
        run(text_options={"temperature": -1})
    with pytest.raises(DatasetError, match="kept column.*'completion'"):
        data = tmp_path / "clash.parquet"
        pq.write_table(pa.table({"prompt": ["a"], "completion": ["b"]}), data)
        interlock.predict_dataset(str(data), "lm:1", str(out), store=setup["store"],
                                  keep_columns=["completion"])
    with pytest.raises(SignatureMismatch, match="'id' is int64, not a string column"):
        run(text_options={"input_column": "id"})
    assert not out.exists()


def _cli(*args: str) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "interlock.cli", *args], capture_output=True,
                          text=True, timeout=120)


@requirement("TXT-060", "TXT-062")
def test_interlock_predict_runs_a_text_job(setup: dict[str, str], expected: dict[str, Any],
                                           tmp_path: Path) -> None:
    out = tmp_path / "answers.parquet"
    done = _cli("predict", "lm:1", setup["data"], str(out), "--store", setup["store"],
                "--keep", "id", *[f"--text-option={k}={v}" for k, v in OPTIONS.items()])
    assert done.returncode == 0, done.stderr
    check_completions(pq.read_table(out), expected)
    bad = _cli("predict", "lm:1", setup["data"], str(tmp_path / "bad.parquet"), "--store",
               setup["store"], "--text-option", "temprature=1")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1, bad.stderr
    assert "--text-option has unknown key(s) ['temprature']" in bad.stderr
    assert not (tmp_path / "bad.parquet").exists()
