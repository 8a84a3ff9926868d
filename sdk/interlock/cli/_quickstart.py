"""``interlock quickstart``: the whole flow on local files, with nothing to set up.

Makes a synthetic dataset, trains a small scikit-learn model, exports and saves it as an
artifact, loads it with both reference runtimes, checks they agree, predicts the dataset to
Parquet, then serves the model over REST and gRPC, calls it over both with the serving kit's
client and shuts down. Everything goes through the public API, so the code doubles as an
example.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

import interlock
from interlock.cli._options import check_output_directory, emit_json

__all__ = ["quickstart_command", "run_quickstart"]

FEATURES = [f"f{i}" for i in range(8)]


def _synthetic_table(rows: int, seed: int = 7) -> Any:
    """Eight numeric features and a label that depends on them (so training means something)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, len(FEATURES))).astype("float32")
    weights = np.linspace(-1.5, 1.5, len(FEATURES)).astype("float32")
    noise = rng.normal(scale=0.5, size=rows).astype("float32")
    label = ((features @ weights + noise) > 0).astype("int64")
    columns = {name: features[:, i] for i, name in enumerate(FEATURES)}
    columns["label"] = label
    columns["row_id"] = np.arange(rows, dtype="int64")
    return pa.table(columns)


def run_quickstart(
    directory: str | Path, *, rows: int = 200_000, say: Callable[[str], None] | None = print
) -> dict[str, Any]:
    """Run the quickstart in ``directory`` (created if needed) and return what it did.

    ``say`` receives one line per step (``None`` keeps quiet).
    """
    try:
        from sklearn.linear_model import LogisticRegression  # noqa: F401
    except ImportError as exc:
        raise interlock.MissingDependencyError("scikit-learn", "sklearn", purpose="the quickstart") from exc

    def tell(line: str) -> None:
        if say is not None:
            say(line)

    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"directory": str(root)}
    dataset = _write_data(root, rows, report, tell)
    model, table, x = _train(dataset, tell)
    artifact = _export(model, table, dataset, root / "store", report, tell)
    _compare_runtimes(artifact, dataset, report, tell)
    _predict(artifact, dataset, model, x, str(root / "predictions.parquet"), report, say is not None, tell)
    report["serving"] = _serve_and_call(artifact, x[:16], tell)
    tell(f"done: everything is in {root}")
    return report


def _write_data(root: Path, rows: int, report: dict[str, Any], tell: Callable[[str], None]) -> interlock.Dataset:
    """Step 1: a dataset on local disk."""
    data_uri = str(root / "data" / "train.parquet")
    started = time.perf_counter()
    dataset = interlock.write_dataset(_synthetic_table(rows), data_uri, mode="overwrite")
    report["dataset"] = {"uri": data_uri, "rows": dataset.count_rows(), "fingerprint": dataset.fingerprint()}
    tell(f"[1/6] wrote {rows:,} rows to {data_uri} ({time.perf_counter() - started:.2f} s)")
    tell(f"      fingerprint {report['dataset']['fingerprint']}")
    return dataset


def _train(dataset: interlock.Dataset, tell: Callable[[str], None]) -> tuple[Any, Any, Any]:
    """Step 2: train on it; the model, the training table and its feature matrix."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    table = dataset.to_table(columns=[*FEATURES, "label"])
    x = np.column_stack([table.column(name).to_numpy() for name in FEATURES])
    y = table.column("label").to_numpy()
    model = LogisticRegression(max_iter=200).fit(x, y)
    accuracy = float(model.score(x, y))
    tell(f"[2/6] trained LogisticRegression on {len(FEATURES)} features (training accuracy {accuracy:.3f})")
    return model, table, x


def _export(
    model: Any, table: Any, dataset: interlock.Dataset, store: Path, report: dict[str, Any], tell: Callable[[str], None]
) -> interlock.Artifact:
    """Step 3: export to ONNX and save as an immutable, content-addressed artifact."""
    version = time.strftime("%Y%m%d-%H%M%S")
    artifact = interlock.export(
        model,
        table.select(FEATURES).slice(0, 64),
        name="quickstart-classifier",
        version=version,
        store=str(store),
        dataset=dataset,
    )
    report["artifact"] = {"ref": artifact.ref, "uri": artifact.uri, "version": version}
    tell(f"[3/6] saved artifact {artifact.name}:{artifact.version} = {artifact.ref}")
    return artifact


def _compare_runtimes(
    artifact: interlock.Artifact, dataset: interlock.Dataset, report: dict[str, Any], tell: Callable[[str], None]
) -> None:
    """Step 4: load it with both runtimes and compare."""
    sample = dataset.to_table(columns=FEATURES).slice(0, 4096).to_batches()[0]
    results = {}
    for runtime in ("onnxruntime", "reference"):
        predictor = interlock.load_predictor(artifact, runtime=runtime)
        results[runtime] = predictor.predict(sample)
    agree = results["onnxruntime"].column("label").equals(results["reference"].column("label"))
    report["runtimes_agree"] = bool(agree)
    tell(f"[4/6] onnxruntime and the ONNX reference evaluator agree on {sample.num_rows} rows: {agree}")


def _predict(
    artifact: interlock.Artifact,
    dataset: interlock.Dataset,
    model: Any,
    x: Any,
    output_uri: str,
    report: dict[str, Any],
    progress: bool,
    tell: Callable[[str], None],
) -> None:
    """Step 5: batch prediction, streamed, with lineage; compared with scikit-learn's."""
    import numpy as np

    summary = interlock.predict_dataset(
        dataset, artifact, output_uri, keep_columns=["row_id"], mode="overwrite", progress=progress
    )
    predictions = interlock.open_dataset(output_uri).to_table(columns=["label"])
    matches = float(np.mean(predictions.column("label").to_numpy() == model.predict(x)))
    report["predict"] = {**summary, "agreement_with_sklearn": matches}
    tell(
        f"[5/6] predicted {summary['rows']:,} rows to {output_uri} "
        f"({summary['rows_per_second']:,.0f} rows/s); agreement with scikit-learn {matches:.4f}"
    )


def _serve_and_call(artifact: interlock.Artifact, rows: Any, tell: Callable[[str], None]) -> dict[str, Any]:
    """Serve ``artifact`` on free loopback ports, call it over REST (JSON and binary tensors)
    and gRPC, check every answer equals in-process inference, and shut down."""
    import numpy as np

    from interlock.serving.oip.client import GrpcClient, RestClient

    expected = interlock.load_predictor(artifact).infer({"input": rows})
    results: dict[str, Any] = {}
    with interlock.serve([artifact], servers={"rest": 0, "grpc": 0}, block=False) as running:
        http_url, grpc_address = running.url("rest"), running.address("grpc")
        tell(f"[6/6] serving on {http_url} (REST) and {grpc_address} (gRPC)")
        with RestClient(http_url) as rest, GrpcClient(grpc_address) as grpc_client:
            calls = {
                "rest_json": rest.infer(artifact.name, {"input": rows}, binary=False),
                "rest_binary": rest.infer(artifact.name, {"input": rows}, binary=True),
                "grpc": grpc_client.infer(artifact.name, {"input": rows}),
            }
        for call, outputs in calls.items():
            same = all(np.array_equal(outputs[name], value) for name, value in expected.items())
            results[call] = {"rows": int(rows.shape[0]), "equal_to_in_process": bool(same)}
            tell(f"      {call:<12} {rows.shape[0]} rows, equal to in-process inference: {same}")
        results["http_url"], results["grpc_address"] = http_url, grpc_address
    tell("      servers stopped cleanly")
    return results


@click.command("quickstart")
@click.argument("directory", default="interlock-quickstart", callback=check_output_directory)
@click.option("--rows", default=200_000, show_default=True, type=click.IntRange(min=100))
@click.option("--json", "as_json", is_flag=True)
def quickstart_command(directory: str, rows: int, as_json: bool) -> None:
    """Run the whole flow on local files: data, training, export, runtimes, batch prediction."""
    report = run_quickstart(directory, rows=rows, say=None if as_json else click.echo)
    if as_json:
        emit_json(report)
