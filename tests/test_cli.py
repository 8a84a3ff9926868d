"""The command line, driven as a user would: real files, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import interlock
from interlock.cli import main
from interlock_conformance import requirement


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def trained(tmp_path: Path) -> tuple[str, str, str]:
    """A Parquet dataset and a scikit-learn model exported into a store: (data, store, ref)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("int64")
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "id": np.arange(500)})
    data = str(tmp_path / "data.parquet")
    dataset = interlock.write_dataset(table, data)
    store = str(tmp_path / "store")
    model = LogisticRegression().fit(x, y)
    artifact = interlock.export(model, table.select(["a", "b", "c"]), name="clf", version="1", store=store, dataset=dataset)
    return data, store, artifact.ref


def test_plugins_json_lists_reference_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["plugins", "--json"], capsys)
    assert code == 0
    listing = json.loads(out)
    by_name = {p["name"]: p for p in listing["plugins"]}
    assert by_name["interlock_formats"]["status"] == "loaded"
    kinds = {c["kind"] for p in listing["plugins"] for c in p["components"]}
    assert {"dataset_format", "artifact_store", "runtime", "exporter", "executor"} <= kinds
    assert listing["conflicts"] == []


def test_dataset_info_and_head(trained: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    data, _, _ = trained
    code, out, _ = run(["dataset", "info", data, "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["rows"] == 500 and info["format"] == "parquet"
    assert info["fingerprint"] == interlock.open_dataset(data).fingerprint()
    code, out, _ = run(["dataset", "head", data, "-n", "3", "--columns", "id,a", "--json"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [0, 1, 2] and list(rows[0]) == ["id", "a"]


def test_artifact_inspect_verify_list(trained: tuple[str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, store, ref = trained
    code, out, _ = run(["artifact", "inspect", "clf:1", "--store", store, "--json"], capsys)
    manifest = json.loads(out)
    assert code == 0 and manifest["digest"] == ref.split("@")[1]
    code, out, _ = run(["artifact", "verify", ref, "--store", store], capsys)
    assert code == 0 and out.startswith("ok: clf@sha256:")
    code, out, _ = run(["artifact", "list", store, "--json"], capsys)
    assert json.loads(out)["artifacts"] == {"clf": ["1"]}


def test_tampered_artifact_fails_verify_with_one_line(
    trained: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, store, _ = trained
    model_file = Path(store) / "clf" / "1" / "model.onnx"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    code, out, err = run(["artifact", "verify", "clf:1", "--store", store], capsys)
    assert code == 1 and out == ""
    assert err.startswith("interlock: error: ") and "model.onnx" in err
    assert len(err.strip().splitlines()) == 1


def test_predict_writes_predictions(trained: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, store, _ = trained
    output = str(tmp_path / "preds.parquet")
    code, out, _ = run(["predict", "clf:1", data, output, "--store", store, "--keep", "id", "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"] == 500
    result = interlock.open_dataset(output).to_table()
    assert result.column("id").to_pylist() == list(range(500))
    assert "label" in result.column_names


@requirement("PLG-040")
def test_user_errors_print_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.parquet")
    code, out, err = run(["dataset", "info", missing], capsys)
    assert code == 1 and "nope.parquet" in err and "Traceback" not in err
    code, _, err = run(["artifact", "inspect", "ghost:1", "--store", str(tmp_path / "empty")], capsys)
    assert code == 1 and "ghost" in err


def test_console_script_quickstart(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("interlock")
    env = {**os.environ, "INTERLOCK_STORE": str(tmp_path / "unused")}
    done = subprocess.run(
        [str(exe), "quickstart", str(tmp_path / "qs"), "--rows", "2000", "--json"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runtimes_agree"] is True
    assert report["predict"]["rows"] == 2000
    assert report["predict"]["agreement_with_sklearn"] == 1.0
    assert (tmp_path / "qs" / "predictions.parquet").exists()
    for call in ("rest_json", "rest_binary", "grpc"):
        assert report["serving"][call] == {"rows": 16, "equal_to_in_process": True}


def test_runtime_options_reach_the_runtime(trained: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, store, _ = trained
    output = str(tmp_path / "preds.parquet")
    args = ["predict", "clf:1", data, output, "--store", store, "--json"]
    code, out, _ = run([*args, "--runtime-option", "intra_op_num_threads=1"], capsys)
    assert code == 0 and json.loads(out)["rows"] == 500
    code, _, err = run([*args, "--mode", "overwrite", "--runtime-option", "intra_op_threads=1"], capsys)
    assert code == 1 and "intra_op_threads" in err and "Traceback" not in err
    code, _, err = run([*args, "--runtime-option", "threads"], capsys)
    assert code == 2 and "is not KEY=VALUE" in err


def test_serve_command_refuses_unknown_servers_and_bad_ports(
    trained: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, store, _ = trained
    code, _, err = run(["serve", "clf:1", "--store", store, "--server", "rset=0"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err  # one line, no traceback
    assert "no server named 'rset'" in err and "did you mean 'rest'?" in err
    code, _, err = run(["serve", "clf:1", "--store", store, "--server", "rest=http"], capsys)
    assert code == 2 and "is not NAME or NAME=PORT" in err


def test_serve_command_serves_until_sigterm(trained: tuple[str, str, str]) -> None:
    import signal
    import urllib.request

    _, store, _ = trained
    exe = Path(sys.executable).with_name("interlock")
    with subprocess.Popen(
        [str(exe), "serve", "clf:1", "--store", store, "--server", "rest=0",
         "--runtime-option", "intra_op_num_threads=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            assert process.stdout.readline().startswith("model clf:1 (onnxruntime) ready")
            line = process.stdout.readline()
            assert line.startswith("server rest on http://"), line
            url = line.split(" on ", 1)[1].split()[0]
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=10) as response:
                assert json.loads(response.read()) == {"ready": True}
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
            assert "stopped" in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
