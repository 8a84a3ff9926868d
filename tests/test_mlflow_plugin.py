"""The ``mlflow`` artifact store and ``interlock artifact import`` against a real MLflow.

Two real backends: a local MLflow with a SQLite database and a local artifact root (tmp_path),
and a real ``mlflow server`` subprocess on 127.0.0.1 (a free port, started once for the module)
reached over HTTP. Models to import are logged with MLflow's own ``log_model`` functions.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import interlock
from interlock import ArtifactError, ArtifactExistsError, ArtifactIntegrityError
from interlock_conformance import requirement
from interlock_mlflow import MlflowArtifactStore, import_model
from interlock_mlflow.location import parse_root

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def matmul_model(columns: int = 4, seed: int = 0) -> tuple[onnx.ModelProto, np.ndarray]:
    """y = x @ w, x: float32[batch, 3]; w large enough (> 1 KiB) for MLflow's external data."""
    w = np.random.default_rng(seed).standard_normal((3, columns)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", columns])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    return model, w


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on a free local port."""
    base = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (base / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{base / 'mlflow.db'}",
         "--artifacts-destination", str(base / "proxied")],
        stdout=log, stderr=subprocess.STDOUT,
        # no background job runner: it is not under test and would compete for the CPUs
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (base / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not start in 90 s"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def sqlite_root(tmp_path: Path) -> str:
    """A fresh store: a SQLite database and an artifact root under tmp_path."""
    return MlflowArtifactStore.populate(tmp_path / "mlflow", [])


@pytest.fixture
def http_root(mlflow_server: str, tmp_path: Path) -> str:
    """A store on the server, in an experiment of its own, with a local artifact root."""
    return f"mlflow+{mlflow_server}?artifact_root={tmp_path / 'art'}&experiment={tmp_path.name}"


@pytest.fixture(autouse=True)
def _mlflow_settings_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mlflow.set_tracking_uri`` also sets environment variables (inherited by every later
    subprocess); each test gets them back as they were."""
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID",
                     "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.setenv(variable, "")  # recorded, so that teardown restores it (or its absence)
        monkeypatch.delenv(variable)


@pytest.fixture
def logging_mlflow(tmp_path: Path) -> Iterator[str]:
    """MLflow's fluent API pointed at a fresh SQLite tracking URI (where models get logged)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'source.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with warnings.catch_warnings():  # MLflow's warnings about itself are not under test
        warnings.simplefilter("ignore")
        experiment = mlflow.create_experiment("source", artifact_location=str(tmp_path / "source"))
        mlflow.set_experiment(experiment_id=experiment)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


def _quietly(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one of MLflow's logging calls, whose advisory warnings are not under test."""
    import mlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            return action(*args, **kwargs)


# -- the store ------------------------------------------------------------------------------


@requirement("ART-110", "ART-111", "ART-060", "ART-073")
@pytest.mark.parametrize("backend", ["sqlite", "http"])
def test_publish_load_predict_and_list(backend: str, request: pytest.FixtureRequest) -> None:
    root = request.getfixturevalue(f"{backend}_root")
    store = interlock.open_store(root)
    assert isinstance(store, MlflowArtifactStore)
    model, w = matmul_model(columns=600)
    first = interlock.save_artifact(model, root, name="churn", version="a", metadata={"n": 1})
    second = interlock.save_artifact(
        model, store, name="churn", version="b", external_data=True,
        extra_files={"card/README.md": b"# churn\n"},
    )
    interlock.save_artifact(model, store, name="fraud", version="1")
    assert store.names() == ["churn", "fraud"]
    assert store.versions("churn") == ["a", "b"]
    assert store.versions("nothing") == []
    assert interlock.load_artifact("churn", root).digest == second.digest
    assert interlock.load_artifact(f"churn@{first.digest}", root).version == "a"
    assert interlock.load_artifact(store.uri_of("churn", "b")).digest == second.digest
    assert interlock.load_artifact("churn:b", root).read_bytes("card/README.md") == b"# churn\n"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    predictor = interlock.load_predictor("churn:b", store=root)
    np.testing.assert_allclose(predictor.infer({"x": x})["y"], x @ w, rtol=1e-6)
    # What MLflow holds: a registered model version per interlock version, tagged; MLflow's
    # numbers are its own.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store.location.tracking_uri, store.location.tracking_uri)
    found = client.search_model_versions("name = 'churn'")
    registered = {v.tags["interlock.version"]: v for v in found}
    assert sorted(registered) == ["a", "b"]
    assert {int(v.version) for v in registered.values()} == {1, 2}
    assert registered["b"].tags["interlock.digest"] == second.digest
    run = client.get_run(registered["b"].run_id)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "interlock")}
    assert {"interlock/manifest.json", "interlock/model.onnx", "interlock/model.onnx.data",
            "interlock/card"} == logged


@requirement("ART-042", "ART-043", "ART-048")
def test_tampered_files_in_the_artifact_root_are_refused(sqlite_root: str) -> None:
    store = interlock.open_store(sqlite_root)
    model, _ = matmul_model(columns=600)
    interlock.save_artifact(model, store, name="m", version="1", external_data=True)
    directory = store.local_path("m", "1")
    assert directory is not None and "artifacts" in directory.parts
    weights = directory / "model.onnx.data"
    data = bytearray(weights.read_bytes())
    data[0] ^= 1
    weights.write_bytes(bytes(data))
    fresh = interlock.open_store(sqlite_root)  # nothing cached: everything read back again
    with pytest.raises(ArtifactIntegrityError, match="model.onnx.data"):
        interlock.load_artifact("m:1", fresh)
    interlock.save_artifact(model, store, name="m", version="2")
    directory = store.local_path("m", "2")
    assert directory is not None
    (directory / "smuggled.py").write_text("import os")
    with pytest.raises(ArtifactIntegrityError, match="smuggled.py"):
        interlock.load_artifact("m:2", store)


@requirement("ART-113")
def test_a_registry_entry_pointing_outside_the_artifact_root_is_refused(
    sqlite_root: str, tmp_path: Path
) -> None:
    store = interlock.open_store(sqlite_root)
    model, _ = matmul_model()
    saved = interlock.save_artifact(model, store, name="m", version="1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in saved.manifest.files:
        (elsewhere / path.path).write_bytes(saved.read_bytes(path.path))
    (elsewhere / "manifest.json").write_bytes(store.read("m", "1", "manifest.json"))
    database = sqlite_root.split("sqlite:///", 1)[1].split("?", 1)[0]
    with sqlite3.connect(database) as connection:  # what a tampered registry would say
        connection.execute("UPDATE model_versions SET source = ?", (str(elsewhere),))
    with pytest.raises(ArtifactIntegrityError, match="outside the store's artifact root"):
        interlock.load_artifact("m:1", interlock.open_store(sqlite_root))


_RACER = textwrap.dedent(
    """
    import json, sys
    import interlock
    from onnx import TensorProto, helper
    root, writer = sys.argv[1], int(sys.argv[2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    store = interlock.open_store(root)
    store.versions("race")  # connect (and import MLflow) before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        saved = interlock.save_artifact(model, store, name="race", version="1",
                                        metadata={"writer": writer})
        print(json.dumps({"won": saved.digest}))
    except interlock.ArtifactExistsError as exc:
        print(json.dumps({"lost": str(exc)}))
    """
)


@requirement("ART-112", "ART-071")
def test_concurrent_publishers_in_processes_have_one_winner(sqlite_root: str) -> None:
    root = sqlite_root
    interlock.save_artifact(matmul_model()[0], root, name="warm", version="1")  # creates the db
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, root, str(i)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    for racer in racers:  # every racer connected: then all start at once
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    for racer in racers:
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err[-2000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    winners = [o["won"] for o in outcomes if "won" in o]
    assert len(winners) == 1, outcomes
    assert all("already exists" in o["lost"] for o in outcomes if "lost" in o), outcomes
    store = interlock.open_store(root)
    assert store.versions("race") == ["1"]
    assert interlock.load_artifact("race:1", store).digest == winners[0]


@requirement("ART-112", "ART-071")
def test_concurrent_clients_of_one_server_have_one_winner(http_root: str) -> None:
    """Four clients (own store objects, own MLflow clients) race through the server."""
    import threading

    model = matmul_model()[0]
    interlock.save_artifact(model, http_root, name="warm", version="1")
    stores = [interlock.open_store(http_root) for _ in range(4)]
    for store in stores:
        store.versions("race")
    barrier, outcomes = threading.Barrier(len(stores)), []

    def publish(i: int) -> None:
        barrier.wait()
        try:
            outcomes.append(interlock.save_artifact(model, stores[i], name="race", version="1",
                                                    metadata={"writer": i}))
        except Exception as exc:  # noqa: BLE001 - the assertions below say what is expected
            outcomes.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if isinstance(o, interlock.Artifact)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, ArtifactExistsError) for o in outcomes if o not in winners), outcomes
    assert interlock.load_artifact("race:1", http_root).digest == winners[0].digest


_KILLED = textwrap.dedent(
    """
    import os, sys
    import interlock
    from interlock_mlflow import registry
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    # The writer dies after every file is logged, just before the version is registered.
    registry.Registry.register = lambda *args, **kwargs: os._exit(9)
    interlock.save_artifact(model, sys.argv[1], name="killed", version="1")
    """
)


@requirement("ART-111", "ART-070", "ART-072")
def test_a_writer_killed_before_registering_leaves_an_orphan_run_not_a_version(
    sqlite_root: str,
) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED, sqlite_root], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr[-2000:]
    store = interlock.open_store(sqlite_root)
    assert store.names() == [] and store.versions("killed") == []
    with pytest.raises(interlock.ArtifactNotFoundError):
        interlock.load_artifact("killed:1", store)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(store.location.tracking_uri)
    experiment = client.get_experiment_by_name("interlock")
    (orphan,) = client.search_runs([experiment.experiment_id])
    assert {a.path for a in client.list_artifacts(orphan.info.run_id, "interlock")} >= {
        "interlock/manifest.json", "interlock/model.onnx"}
    # the same version publishes normally afterwards
    interlock.save_artifact(matmul_model()[0], store, name="killed", version="1")
    assert store.versions("killed") == ["1"]


@requirement("ART-110")
def test_the_root_is_mlflows_tracking_uri_with_two_options_of_interlocks() -> None:
    where = parse_root("mlflow+sqlite:////srv/m.db?timeout=5&artifact_root=s3%3A//b/p&experiment=t")
    assert where.tracking_uri == "sqlite:////srv/m.db?timeout=5"
    assert (where.artifact_root, where.experiment) == ("s3://b/p", "t")
    plain = parse_root("mlflow+http://127.0.0.1:5000/")
    assert (plain.tracking_uri, plain.artifact_root, plain.experiment) == (
        "http://127.0.0.1:5000", None, "interlock")
    assert parse_root("mlflow+sqlite:///m.db").default_artifact_root() == os.path.abspath(
        "mlartifacts")
    assert interlock.open_store("mlflow+https://mlflow.example.com").name == "mlflow"


@requirement("ART-073", "ART-062")
def test_looking_into_a_database_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    root = f"mlflow+sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    store = interlock.open_store(root)
    assert store.names() == [] and store.versions("m") == [] and not store.exists("m", "1")
    with pytest.raises(interlock.ArtifactNotFoundError):
        interlock.load_artifact("m:1", store)
    assert not (tmp_path / "new").exists()
    interlock.save_artifact(matmul_model()[0], root, name="m", version="1")  # creates it
    assert store.versions("m") == ["1"] and (tmp_path / "new" / "mlflow.db").is_file()


@requirement("ART-110", "ART-090")
def test_bad_roots_and_unreachable_servers_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not serve 'ftp'"):
        MlflowArtifactStore("mlflow+ftp://host/x")
    with pytest.raises(ArtifactError, match="names no tracking server"):
        MlflowArtifactStore("mlflow+http://")
    store = interlock.open_store(f"mlflow+http://127.0.0.1:{_free_port()}")
    with pytest.raises(ArtifactError, match="cannot reach the MLflow tracking server") as caught:
        store.names()
    assert "\n" not in str(caught.value)
    # a server store without an artifact root cannot create its experiment
    no_root = MlflowArtifactStore("mlflow+sqlite:///:memory:")
    with pytest.raises(ArtifactError, match="needs an artifact root"):
        interlock.save_artifact(matmul_model()[0], no_root, name="m", version="1")


# -- import -----------------------------------------------------------------------------------


@requirement("ART-115")
def test_import_an_onnx_model_with_its_mlflow_signature(
    logging_mlflow: str, tmp_path: Path
) -> None:
    import mlflow.onnx
    from mlflow.models import infer_signature

    model, w = matmul_model(columns=600)  # 7 KB of weights: MLflow saves them as external data
    x = np.ones((2, 3), dtype=np.float32)
    _quietly(mlflow.onnx.log_model, model, name="model", registered_model_name="churn",
             signature=infer_signature(x, x @ w))
    artifact = import_model("models:/churn/1", tracking_uri=logging_mlflow,
                            store=str(tmp_path / "store"))
    assert (artifact.name, artifact.version) == ("churn", "1")
    assert artifact.signature.inputs[0].shape == ["batch", 3]  # graph's name for MLflow's -1
    assert artifact.manifest.metadata["mlflow"]["signature"] == "mlflow"
    assert "model.onnx.data" in [f.path for f in artifact.manifest.files]
    predictor = interlock.load_predictor("churn:1", store=str(tmp_path / "store"))
    np.testing.assert_allclose(predictor.infer({"x": x})["y"], x @ w, rtol=1e-6)


@requirement("ART-115")
def test_import_without_a_signature_takes_the_graphs_and_a_contradiction_is_refused(
    logging_mlflow: str, tmp_path: Path
) -> None:
    import mlflow.onnx
    from mlflow.models import infer_signature

    model, w = matmul_model()
    _quietly(mlflow.onnx.log_model, model, name="model", registered_model_name="plain")
    store = tmp_path / "store"
    artifact = import_model("models:/plain/1", tracking_uri=logging_mlflow, store=str(store),
                            name="renamed", version="v7")
    assert (artifact.name, artifact.version) == ("renamed", "v7")
    assert artifact.manifest.metadata["mlflow"]["signature"] == "graph"
    assert artifact.signature == interlock.Signature.from_onnx(model)
    x64 = np.ones((2, 3))
    _quietly(mlflow.onnx.log_model, model, name="model", registered_model_name="wrong",
             signature=infer_signature(x64, x64 @ w.astype(np.float64)))
    with pytest.raises(ArtifactError, match="disagrees with its ONNX graph.*float64"):
        import_model("models:/wrong/1", tracking_uri=logging_mlflow, store=str(store))
    assert interlock.open_store(str(store)).names() == ["renamed"]


class _Marker:
    """A model whose unpickling creates a file: proof of whether anything unpickled it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
        return model_input

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.marker, "w"))


@requirement("ART-114")
def test_pickled_flavors_are_refused_without_loading_them(
    logging_mlflow: str, tmp_path: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    marker = tmp_path / "unpickled.txt"
    with warnings.catch_warnings():  # MLflow's advice on type hints (at import), not tested
        warnings.simplefilter("ignore")
        import mlflow.pyfunc
        import mlflow.sklearn

        model = type("MarkerModel", (_Marker, mlflow.pyfunc.PythonModel), {})(str(marker))
    _quietly(mlflow.pyfunc.log_model, name="model", python_model=model,
             registered_model_name="evil")
    # MLflow's own check at logging loads the model back: the marker shows that loading this
    # pickle runs its code. From here on, nothing may load it.
    assert marker.exists(), "the control failed: MLflow's loader did not run the pickle"
    marker.unlink()
    store = tmp_path / "store"
    with pytest.raises(ArtifactError, match="python_function.*never does") as caught:
        import_model("models:/evil/1", tracking_uri=logging_mlflow, store=str(store))
    assert "mlflow.onnx.log_model" in str(caught.value)
    assert not marker.exists(), "importing unpickled the model"
    regression = LinearRegression().fit(np.eye(3), np.arange(3.0))
    _quietly(mlflow.sklearn.log_model, regression, name="model", registered_model_name="skl")
    with pytest.raises(ArtifactError, match="sklearn \\(a pickled scikit-learn model"):
        import_model("models:/skl/1", tracking_uri=logging_mlflow, store=str(store))
    assert not store.exists()


@requirement("ART-114", "ART-115")
def test_import_from_a_tracking_server_over_http(mlflow_server: str, tmp_path: Path) -> None:
    import mlflow
    import mlflow.onnx

    model, w = matmul_model(seed=3)
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_registry_uri(mlflow_server)
    try:
        mlflow.set_experiment(f"source-{tmp_path.name}")
        _quietly(mlflow.onnx.log_model, model, name="model", registered_model_name="served")
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")
    artifact = import_model("models:/served/1", tracking_uri=mlflow_server,
                            store=str(tmp_path / "store"))
    x = np.ones((1, 3), dtype=np.float32)
    predictor = interlock.load_predictor(artifact.ref, store=str(tmp_path / "store"))
    np.testing.assert_allclose(predictor.infer({"x": x})["y"], x @ w, rtol=1e-6)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from interlock.cli import main

    try:
        main(["artifact", "import", *args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@requirement("ART-115", "ART-090")
def test_the_cli_imports_and_reports_mistakes_in_one_line(
    logging_mlflow: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow.onnx

    _quietly(mlflow.onnx.log_model, matmul_model()[0], name="model", registered_model_name="m")
    store = tmp_path / "store"
    code, out, err = _cli(capsys, "models:/m/1", "--tracking-uri", logging_mlflow,
                          "--store", str(store))
    assert code == 0, err
    assert out.startswith("imported models:/m/1 as m:1 (sha256:"), out
    assert interlock.load_artifact("m:1", str(store)).manifest.producer.name == "interlock-mlflow"
    empty = tmp_path / "empty-store"
    port = _free_port()
    mistakes = {
        ("models:/m", "--tracking-uri", logging_mlflow): "models:/NAME/VERSION",
        ("models:/m/9", "--tracking-uri", logging_mlflow): "versions of 'm': 1",
        ("models:/nope/1", "--tracking-uri", logging_mlflow): "registered models: m",
        ("models:/m/1", "--tracking-uri", f"sqlite:///{tmp_path / 'typo.db'}"):
            "no MLflow database",
        ("models:/m/1", "--tracking-uri", f"http://127.0.0.1:{port}"): "cannot reach",
        ("models:/m/1", "--tracking-uri", logging_mlflow, "--name", "a b"): "--name",
    }
    for args, expected in mistakes.items():
        code, out, err = _cli(capsys, *args, "--store", str(empty))
        assert code != 0, args
        assert expected in err, (args, err)
        assert "Traceback" not in err, err
        # one line (click adds its usage lines to a bad option)
        assert len([line for line in err.splitlines() if "rror" in line]) == 1, err
        assert not empty.exists(), f"{args} left {empty}"
    assert not (tmp_path / "typo.db").exists()
