"""The command line, driven as a user would: real files, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from distributions import plugin_env

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


# -- commands from other packages (the interlock.commands entry-point group) ---------------------

_COMMAND_MODULES = {
    "acme_hello": '''
        import click

        @click.command()
        @click.option("--name", default="world")
        def hello(name):
            """Say hello."""
            click.echo(f"hello {name}")
        ''',
    "acme_lazy": '''
        import os, pathlib, click
        pathlib.Path(os.environ["ACME_MARKER"]).write_text("imported")
        command = click.command("lazy")(lambda: click.echo("lazy ran"))
        ''',
    "acme_needs_extra": "import acme_missing_dependency\n",
    "acme_wants_hint": '''
        from interlock import MissingDependencyError
        raise MissingDependencyError("pytest", "conformance", purpose="the acme hint command")
        ''',
    "acme_broken": "raise RuntimeError('a bug at import')\n",
    "acme_not_a_command": "command = 'just a string'\n",
    "other_hello": "import click\ntwice = click.command('twice')(lambda: None)\n",
}


def _install_commands(site: Path, distribution: str, commands: dict[str, str],
                      metadata_lines: tuple[str, ...] = (),
                      group: str = "interlock.commands") -> None:
    """A distribution that registers ``commands`` (name -> module:attribute) in the entry-point
    group ``group``, as pip would leave it in ``site``."""
    import textwrap

    site.mkdir(parents=True, exist_ok=True)
    for module, source in _COMMAND_MODULES.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {distribution}", "Version: 1.0", *metadata_lines]
    (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries = "".join(f"{name} = {value}\n" for name, value in commands.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{entries}", encoding="utf-8")


@pytest.fixture(scope="module")
def command_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("commands") / "site"
    _install_commands(site, "acme-tools", {
        "hello": "acme_hello:hello",
        "lazy": "acme_lazy:command",
        "needs-extra": "acme_needs_extra:command",
        "wants-hint": "acme_wants_hint:command",
        "broken": "acme_broken:command",
        "not-a-command": "acme_not_a_command:command",
        "twice": "acme_hello:hello",
    }, ("Provides-Extra: fancy", 'Requires-Dist: acme-missing-dependency>=1; extra == "fancy"'))
    _install_commands(site, "other-tools", {"twice": "other_hello:twice"})
    _install_commands(site, "acme-artifacts", {"hello-artifact": "acme_hello:hello"},
                      group="interlock.commands.artifact")
    return site


def _interlock(args: list[str], site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**plugin_env(site), "ACME_MARKER": str(tmp_path / "marker")}
    return subprocess.run([sys.executable, "-m", "interlock.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_entry_point_commands_without_importing_them(
    command_site: Path, tmp_path: Path
) -> None:
    done = _interlock(["--help"], command_site, tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert {"hello", "lazy", "broken", "certify", "matrix", "plugins", "serve"} <= listed
    assert "(from acme-tools 1.0)" in done.stdout
    assert not (tmp_path / "marker").exists(), "--help imported a command's module"
    done = _interlock(["lazy"], command_site, tmp_path)
    assert done.returncode == 0 and done.stdout == "lazy ran\n", done.stderr
    assert (tmp_path / "marker").exists()


def test_entry_point_command_runs_with_its_options(command_site: Path, tmp_path: Path) -> None:
    done = _interlock(["hello", "--name", "vendor"], command_site, tmp_path)
    assert done.returncode == 0 and done.stdout == "hello vendor\n", done.stderr
    done = _interlock(["hello", "--help"], command_site, tmp_path)
    assert done.returncode == 0 and "Say hello." in done.stdout


@requirement("PLG-040")
def test_a_command_that_cannot_be_imported_is_one_line_naming_it(
    command_site: Path, tmp_path: Path
) -> None:
    expected = {
        # a missing module: the hint is the extra of the distribution that requires it
        "needs-extra": ["'needs-extra' (from acme-tools 1.0)", "acme_missing_dependency",
                        "pip install 'acme-tools[fancy]'"],
        # a MissingDependencyError raised on import: its own hint
        "wants-hint": ["'wants-hint' (from acme-tools 1.0)", "pytest",
                       "pip install 'interlock[conformance]'"],
        "broken": ["'broken' (from acme-tools 1.0)", "RuntimeError: a bug at import",
                   "python -c 'import acme_broken'"],
        "not-a-command": ["acme_not_a_command:command is a str, not a click command"],
        "twice": ["registered by more than one package", "acme-tools 1.0", "other-tools 1.0"],
    }
    for command, fragments in expected.items():
        done = _interlock([command, "--help"], command_site, tmp_path)
        assert done.returncode == 1 and done.stdout == "", (command, done.stdout, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("interlock: error: the command"), done.stderr
        for fragment in fragments:
            assert fragment in done.stderr, (command, fragment, done.stderr)


def test_a_command_group_takes_subcommands_from_its_own_entry_point_group(
    command_site: Path, tmp_path: Path
) -> None:
    """``interlock artifact`` lists and runs what packages register in
    ``interlock.commands.artifact`` (as the Triton and MLflow plugins do); those commands are
    not top-level commands, and an unknown subcommand says where subcommands come from."""
    done = _interlock(["artifact", "--help"], command_site, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hello-artifact" in done.stdout and "(from acme-artifacts 1.0)" in done.stdout
    assert {"inspect", "verify", "list"} <= set(done.stdout.split())
    done = _interlock(["artifact", "hello-artifact", "--name", "store"], command_site, tmp_path)
    assert done.returncode == 0 and done.stdout == "hello store\n", done.stderr
    done = _interlock(["hello-artifact"], command_site, tmp_path)
    assert done.returncode == 2 and "No such command 'hello-artifact'" in done.stderr
    done = _interlock(["artifact", "exprot"], command_site, tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "'interlock.commands.artifact' entry-point group" in done.stderr


def test_an_unknown_command_says_where_commands_come_from(tmp_path: Path) -> None:
    done = _interlock(["certfy"], tmp_path / "empty-site", tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "No such command 'certfy'" in done.stderr
    assert "'interlock.commands' entry-point group" in done.stderr
    assert "pip install 'interlock[conformance]'" in done.stderr


def test_the_conformance_commands_come_through_the_entry_point_group() -> None:
    from importlib import metadata

    points = {p.name: p.value for p in metadata.entry_points(group="interlock.commands")}
    assert points == {"certify": "interlock_conformance.cli:certify_command",
                      "matrix": "interlock_conformance.cli:matrix_command"}
    # ... and the core neither imports the suite nor defines those commands itself.
    import ast

    cli_package = Path(interlock.__file__).parent / "cli"
    for path in sorted(cli_package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "interlock_conformance" for n in names), path
    from interlock.cli._main import cli

    assert not {"certify", "matrix"} & set(cli.commands)


def test_help_imports_nothing_of_the_conformance_suite() -> None:
    code = ("import sys\nfrom interlock.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('interlock_conformance')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_predict_stopped_by_a_signal_cleans_up_like_ctrl_c(
    trained: tuple[str, str, str], tmp_path: Path, signum: int
) -> None:
    """What kill, timeout, systemd and Kubernetes send stops `interlock predict` the way Ctrl-C
    does: exit 128 + signal, one line on stderr, no staging folder and no output left."""
    _, store, ref = trained
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1_000_000, 3)).astype("float32")
    big = str(tmp_path / "big.parquet")
    interlock.write_dataset(pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}), big)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job = subprocess.Popen(
        [sys.executable, "-m", "interlock.cli", "predict", ref, big, str(out_dir / "p.parquet"),
         "--store", store, "--batch-size", "500", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".") for p in out_dir.iterdir()):
        assert job.poll() is None, f"the job ended before writing: {job.communicate()}"
        assert time.monotonic() < deadline, "no staging folder appeared in 60 s"
        time.sleep(0.02)
    job.send_signal(signum)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 128 + signum, (job.returncode, err[-2000:])
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("interlock: stopped by SIG"), err
    assert list(out_dir.iterdir()) == [], "a staging folder or an output was left behind"


def test_predict_into_an_existing_output_hints_with_the_flag(
    trained: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, store, ref = trained
    out = str(tmp_path / "old.parquet")
    interlock.write_dataset(pa.table({"x": [1]}), out)
    code, _, err = run(["predict", ref, data, out, "--store", store], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "already exists" in err and "pass --mode overwrite to replace it" in err, err
    assert "mode='overwrite'" not in err


@pytest.fixture
def integral_regression(tmp_path: Path) -> tuple[str, str]:
    """A CSV of int64 columns and a float32 regression whose predictions are whole numbers
    (2a + b): (csv, store)."""
    from sklearn.linear_model import LinearRegression

    x = np.array([[1, 2], [3, 4], [5, 7], [2, 2], [0, 0]], dtype="float32")
    sample = pa.table({"a": x[:, 0], "b": x[:, 1]})
    store = str(tmp_path / "store")
    model = LinearRegression().fit(x, 2 * x[:, 0] + x[:, 1])
    model.coef_, model.intercept_ = np.array([2.0, 1.0]), 0.0
    interlock.export(model, sample, name="lin", version="1", store=store)
    data = str(tmp_path / "ints.csv")
    interlock.write_dataset(pa.table({"a": [1, 3, 5, 2, 0], "b": [2, 4, 7, 2, 0]}), data)
    return data, store


@requirement("DS-104", "BAT-027")
def test_predict_casts_csv_integers_and_writes_floats_that_read_back_as_floats(
    integral_regression: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, store = integral_regression
    out = str(tmp_path / "out.csv")
    code, _, err = run(["predict", "lin:1", data, out, "--store", store], capsys)
    assert code == 1 and "(hint: cast the column explicitly, e.g. --cast a=float32;" in err, err
    code, _, err = run(["predict", "lin:1", data, out, "--store", store, "--cast", "a=float32",
                        "--cast", "b=float32", "--keep", "a"], capsys)
    assert code == 0, err
    read = interlock.open_dataset(out)
    assert read.schema.types == [pa.float64(), pa.float64()]  # a (cast, kept), prediction
    assert read.to_table().column("prediction").to_pylist() == [4.0, 10.0, 17.0, 6.0, 0.0]
    assert (tmp_path / "out.csv").read_text().splitlines()[1] == "1.0,4.0"


@requirement("BAT-027")
def test_predict_cast_mistakes_name_the_column_the_row_and_the_value(
    integral_regression: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, store = integral_regression
    out = tmp_path / "out.parquet"
    base = ["predict", "lin:1", data, str(out), "--store", store]
    code, _, err = run([*base, "--cast", "zz=float32"], capsys)
    assert code == 1 and "--cast names column(s) ['zz']" in err and "columns: a, b" in err, err
    big = str(tmp_path / "big.csv")
    interlock.write_dataset(pa.table({"a": [1, 2, 16_777_217], "b": [0, 0, 0]}), big)
    code, _, err = run(["predict", "lin:1", big, str(out), "--store", store,
                        "--cast", "a=float32", "--cast", "b=float32"], capsys)
    assert code == 1 and "Traceback" not in err
    assert "cannot cast column 'a'" in err and "to float32: row 2 (16777217)" in err, err
    assert "--cast a=float64" in err and not out.exists()
    code, _, err = run([*base, "--cast", "a=float32", "--executor", "dask"], capsys)
    assert code == 1 and "executor 'dask' reads dataset" in err and "'local'" in err, err


@requirement("DS-106")
def test_predict_flattens_list_outputs_into_csv_columns(
    trained: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, store, _ = trained
    out = tmp_path / "p.csv"
    code, _, err = run(["predict", "clf:1", data, str(out), "--store", store], capsys)
    assert code == 1 and "column 'probabilities' of type fixed_size_list<item: float>[2]" in err
    assert "pass --flatten-lists to write it as 2 columns probabilities_0, probabilities_1" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet", "store"]
    code, _, err = run(["predict", "clf:1", data, str(out), "--store", store, "--flatten-lists",
                        "--keep", "id"], capsys)
    assert code == 0, err
    read = interlock.open_dataset(out).to_table()
    assert read.column_names == ["id", "label", "probabilities_0", "probabilities_1"]
    assert read.schema.field("probabilities_0").type == pa.float64()
    total = np.add(read.column("probabilities_0"), read.column("probabilities_1"))
    assert np.allclose(total, 1.0, atol=1e-6)


def test_predict_into_a_directory_writes_parquet_unless_told_and_says_so(
    trained: tuple[str, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, store, _ = trained
    default = tmp_path / "default"
    code, _, err = run(["predict", "clf:1", data, str(default), "--store", store], capsys)
    assert code == 0, err
    assert "names no format: writing a directory of Parquet part files" in err
    assert {p.suffix for p in default.iterdir() if not p.name.startswith(".")} == {".parquet"}
    assert interlock.open_dataset(default).count_rows() == 500
    out = tmp_path / "scores"
    code, _, err = run(["predict", "clf:1", data, str(out), "--store", store,
                        "--output-format", "csv", "--flatten-lists"], capsys)
    assert code == 0, err
    assert [p.suffix for p in out.iterdir()] == [".csv"]
    assert interlock.open_dataset(out).count_rows() == 500
