"""Every command, given a user's mistake, answers as issue 14 asks: one error line on stderr
(click's usage block for a usage error), no traceback, exit 1 (2 for usage); with ``--json`` an
error object on stdout; nothing run before the arguments are checked."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: (arguments, exit status, words the error names). ``{file}`` is an existing file,
#: ``{empty}`` an existing empty directory, ``{missing}`` a path that does not exist,
#: ``{data}`` and ``{old}`` Parquet files.
CASES: list[tuple[str, int, str]] = [
    ("dataset info {missing}/data.parquet", 1, "not found"),
    ("dataset head {missing}/data.parquet", 1, "not found"),
    ("dataset info s3x://bucket/data.parquet", 1, "s3x"),
    ("artifact inspect nosuch --store {empty}", 1, "no artifact named 'nosuch'"),
    ("artifact verify {missing}/art", 1, "no artifact directory"),
    ("artifact list {missing}", 1, "store not found"),
    ("artifact list --store {missing}", 1, "store not found"),
    ("artifact list --store {file}", 1, "is a file, not a directory"),
    ("artifact list ftpx://host/store", 1, "Protocol not known: ftpx"),
    ("artifact list s3://bucket/store", 1, "pip install 'interlock[s3]'"),
    ("artifact list gs://bucket/store", 1, "pip install 'interlock[gcs]'"),
    ("artifact list {empty} --store {file}", 2, "give the store once"),
    ("predict {missing}/art {missing}/in.parquet {empty}/out.parquet", 1, "not found"),
    ("serve {missing}/art", 1, "neither an artifact directory nor a store"),
    ("certify not_a_plugin", 1, "no interlock plugin named 'not_a_plugin'"),
    ("certify interlock_reference --output {file}", 2, "--output: '{file}' is a file"),
    ("certify interlock_reference --output {file}/sub", 2, "cannot be written"),
    ("matrix --output {file}", 2, "--output: '{file}' is a file"),
    ("quickstart {file}", 2, "DIRECTORY: '{file}' is a file"),
    ("plugins --bogus", 2, "No such option"),
    # predict's own flags, in the CLI's words (issue 14)
    ("predict {missing}/art {data} {empty}/outdir --output-format tsv", 2,
     "--output-format: 'tsv' is not a format that writes; installed: arrow, csv"),
    ("predict {missing}/art {data} {empty}/o.parquet --flatten-lists", 2,
     "--flatten-lists: it applies to CSV output"),
    ("predict {missing}/art {data} {empty}/o.csv --cast a", 2, "'a' is not COLUMN=TYPE"),
    ("predict {missing}/art {data} {empty}/o.csv --cast a=float", 1,
     "unknown type 'float' in the cast of column 'a' (hint: use one of int8, int16,"),
    ("predict {missing}/art {data} {empty}/o.csv --cast zz=float32", 1,
     "--cast names column(s) ['zz'] that dataset '{data}' does not have (dataset columns: a)"),
    ("predict {missing}/art {data} {empty}/o.csv --cast a=int8 --cast a=int16", 2,
     "column 'a' is cast twice"),
    ("predict {missing}/art {data} {data}", 1, "OUTPUT '{data}' is the dataset being read"),
    ("predict {missing}/art {file} {empty}/o.csv", 1, "(hint: pass --input-format NAME)"),
    ("dataset info {file}", 1, "(hint: pass --format NAME)"),
    ("predict {missing}/art {data} ftpx://host/out", 1, "no artifact directory"),
    ("dataset info {missing}/other.parquet", 1, "interlock predict writes datasets"),
]

#: The cases whose command offers --json: the error object comes on stdout too.
JSON_CASES = [
    ("dataset info {missing}/data.parquet --json", "DatasetError"),
    ("artifact list --store {missing} --json", "ArtifactError"),
    ("artifact list s3://bucket/store --json", "ArtifactError"),
    ("quickstart {file} --json", "usage"),
    ("plugins --json --bogus", "usage"),
]


def test_the_cli_translates_keyword_hints_into_flags() -> None:
    from interlock.cli._main import cli_words

    assert cli_words("pass mode='overwrite' to replace it or mode='append' to add to it") == (
        "pass --mode overwrite to replace it or --mode append to add to it"
    )
    assert cli_words("for example batch_size=65536") == "for example --batch-size 65536"
    assert cli_words("use runtime='reference'") == "use --runtime reference"
    assert cli_words("interlock.write_dataset(data, uri)") == "interlock.write_dataset(data, uri)"
    assert cli_words("pass flatten_lists=True to write it") == "pass --flatten-lists to write it"
    assert cli_words("for example casts={'a': 'float64'}") == "for example --cast a=float64"
    assert cli_words("leave them out of keep_columns") == "leave them out of --keep"
    tensor = "cast the column explicitly, e.g. column.cast(pyarrow.float32()); or"
    assert cli_words(tensor, "column 'x y' has type int64") == (
        "cast the column explicitly, e.g. --cast x y=float32; or"
    )
    assert cli_words("e.g. column.cast(pyarrow.bool_())", "column 'b'") == "e.g. --cast b=bool"
    assert cli_words("pass format='<name>'", "", "predict") == "pass --input-format NAME"
    assert cli_words("or pass format=", "", "dataset") == "or pass --format NAME"
    assert cli_words("or write format='parquet'", "", "dataset") == "or write --format parquet"
    call = "write with interlock.write_dataset(data, uri, format='delta')"
    assert cli_words(call, "", "predict") == call
    found = "check the URI; write one with interlock.write_dataset(data, uri)"
    assert "interlock predict writes datasets" in cli_words(found)


def test_messages_that_name_python_arguments_name_the_cli_s() -> None:
    from interlock.cli._main import cli_message

    assert cli_message("output_uri 'o' is the dataset being read") == (
        "OUTPUT 'o' is the dataset being read"
    )
    assert cli_message("keep_columns names column(s) ['z']").startswith("--keep names")
    assert cli_message("casts names column(s) ['z']").startswith("--cast names")
    assert cli_message("row_index 'id' is the name").startswith("--row-index 'id'")
    assert cli_message("dataset 'x' not found") == "dataset 'x' not found"


def _interlock(args: str, places: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [part.format(**places) for part in args.split()]
    return subprocess.run(
        [sys.executable, "-m", "interlock.cli", *argv], capture_output=True, text=True,
        timeout=120, check=False, cwd=places["empty"],
    )


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli-errors")
    (root / "a-file").write_text("not a directory")
    (root / "empty").mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1.0]}), root / "data.parquet")
    pq.write_table(pa.table({"a": [1.0]}), root / "old.parquet")
    return {"file": str(root / "a-file"), "empty": str(root / "empty"),
            "missing": str(root / "missing"), "data": str(root / "data.parquet"),
            "old": str(root / "old.parquet")}


@pytest.fixture(scope="module")
def answers(places: dict[str, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case, run once as a real process (four at a time)."""
    every = [args for args, _, _ in CASES] + [args for args, _ in JSON_CASES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(every, pool.map(lambda a: _interlock(a, places), every)))


@pytest.mark.parametrize(("args", "status", "words"), CASES, ids=[c[0] for c in CASES])
def test_a_mistake_gets_one_clear_line_and_no_traceback(
    answers: dict[str, subprocess.CompletedProcess[str]], places: dict[str, str],
    args: str, status: int, words: str,
) -> None:
    done = answers[args]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == status, (done.returncode, done.stderr[-1000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if status == 1:
        assert len(lines) == 1 and lines[0].startswith("interlock: error: "), lines
    else:
        assert lines[-1].startswith("Error: "), lines
    assert words.format(**places) in done.stderr, done.stderr
    # nothing was created where the mistake pointed
    assert not Path(places["missing"]).exists()
    assert sorted(p.name for p in Path(places["empty"]).iterdir()) == []


@pytest.mark.parametrize(("args", "kind"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_with_json_the_error_is_an_object_on_stdout(
    answers: dict[str, subprocess.CompletedProcess[str]], args: str, kind: str,
) -> None:
    done = answers[args]
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    error = json.loads(done.stdout.strip().splitlines()[-1])
    assert error["ok"] is False and error["kind"] == kind
    assert error["error"] and set(error) == {"ok", "error", "kind", "hint"}
