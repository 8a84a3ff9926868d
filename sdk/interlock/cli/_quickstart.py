"""``interlock quickstart``: the whole flow on local files, with nothing to set up.

Makes a synthetic dataset, trains a small scikit-learn model, exports and saves it as an
artifact, loads it with both reference runtimes, checks they agree, predicts the dataset to
Parquet, then serves the model over REST and gRPC, calls it over both and shuts down. Everything goes through the public API, so the code doubles as an example.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import interlock

__all__ = ["run_quickstart"]

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
    import numpy as np

    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:
        raise interlock.MissingDependencyError("scikit-learn", "sklearn", purpose="the quickstart") from exc

    def tell(line: str) -> None:
        if say is not None:
            say(line)

    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    store = root / "store"
    data_uri = str(root / "data" / "train.parquet")
    output_uri = str(root / "predictions.parquet")
    report: dict[str, Any] = {"directory": str(root)}

    # 1. A dataset on local disk.
    started = time.perf_counter()
    dataset = interlock.write_dataset(_synthetic_table(rows), data_uri, mode="overwrite")
    report["dataset"] = {"uri": data_uri, "rows": dataset.count_rows(), "fingerprint": dataset.fingerprint()}
    tell(f"[1/6] wrote {rows:,} rows to {data_uri} ({time.perf_counter() - started:.2f} s)")
    tell(f"      fingerprint {report['dataset']['fingerprint']}")

    # 2. Train on it.
    table = dataset.to_table(columns=[*FEATURES, "label"])
    x = np.column_stack([table.column(name).to_numpy() for name in FEATURES])
    y = table.column("label").to_numpy()
    model = LogisticRegression(max_iter=200).fit(x, y)
    accuracy = float(model.score(x, y))
    tell(f"[2/6] trained LogisticRegression on {len(FEATURES)} features (training accuracy {accuracy:.3f})")

    # 3. Export to ONNX and save as an immutable, content-addressed artifact.
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

    # 4. Load it with both runtimes and compare.
    sample = dataset.to_table(columns=FEATURES).slice(0, 4096).to_batches()[0]
    results = {}
    for runtime in ("onnxruntime", "reference"):
        predictor = interlock.load_predictor(artifact, runtime=runtime)
        results[runtime] = predictor.predict(sample)
    agree = results["onnxruntime"].column("label").equals(results["reference"].column("label"))
    report["runtimes_agree"] = bool(agree)
    tell(f"[4/6] onnxruntime and the ONNX reference evaluator agree on {sample.num_rows} rows: {agree}")

    # 5. Batch prediction, streamed, with lineage.
    summary = interlock.predict_dataset(
        dataset, artifact, output_uri, keep_columns=["row_id"], mode="overwrite",
        progress=say is not None,
    )
    predictions = interlock.open_dataset(output_uri).to_table(columns=["label"])
    expected = model.predict(x)
    matches = float(np.mean(predictions.column("label").to_numpy() == expected))
    report["predict"] = {**summary, "agreement_with_sklearn": matches}
    tell(
        f"[5/6] predicted {summary['rows']:,} rows to {output_uri} "
        f"({summary['rows_per_second']:,.0f} rows/s); agreement with scikit-learn {matches:.4f}"
    )
    # 6. Serve it over the Open Inference Protocol and call it over both protocols.
    report["serving"] = _serve_and_call(artifact, x[:16], tell)
    tell(f"done: everything is in {root}")
    return report


def _serve_and_call(artifact: interlock.Artifact, rows: Any, tell: Callable[[str], None]) -> dict[str, Any]:
    """Serve ``artifact`` on free loopback ports, call it over REST (JSON and binary tensors)
    and gRPC, check every answer equals in-process inference, and shut down."""
    import numpy as np

    # The reference protocol client ships with the reference servers' support package.
    from interlock.serving.oip.client import GrpcClient, RestClient

    expected = interlock.load_predictor(artifact).infer({"input": rows})
    results: dict[str, Any] = {}
    with interlock.serve([artifact], servers={"rest": 0, "grpc": 0}, block=False) as running:
        http_url, grpc_address = running.url("rest"), running.address("grpc")
        tell(f"[6/6] serving on {http_url} (REST) and {grpc_address} (gRPC)")
        rest = RestClient(http_url)
        grpc_client = GrpcClient(grpc_address)
        try:
            calls = {
                "rest_json": rest.infer(artifact.name, {"input": rows}, binary=False),
                "rest_binary": rest.infer(artifact.name, {"input": rows}, binary=True),
                "grpc": grpc_client.infer(artifact.name, {"input": rows}),
            }
        finally:
            rest.close()
            grpc_client.close()
        for call, outputs in calls.items():
            same = all(np.array_equal(outputs[name], value) for name, value in expected.items())
            results[call] = {"rows": int(rows.shape[0]), "equal_to_in_process": bool(same)}
            tell(f"      {call:<12} {rows.shape[0]} rows, equal to in-process inference: {same}")
        results["http_url"], results["grpc_address"] = http_url, grpc_address
    tell("      servers stopped cleanly")
    return results
