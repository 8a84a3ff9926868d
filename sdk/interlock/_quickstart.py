"""``interlock quickstart``: the whole flow on local files, with nothing to set up.

Makes a synthetic dataset, trains a small scikit-learn model, exports and saves it as an
artifact, loads it with both reference runtimes, checks they agree, and predicts the dataset
to Parquet. Everything goes through the public API, so the code doubles as an example.
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
    tell(f"[1/5] wrote {rows:,} rows to {data_uri} ({time.perf_counter() - started:.2f} s)")
    tell(f"      fingerprint {report['dataset']['fingerprint']}")

    # 2. Train on it.
    table = dataset.to_table(columns=[*FEATURES, "label"])
    x = np.column_stack([table.column(name).to_numpy() for name in FEATURES])
    y = table.column("label").to_numpy()
    model = LogisticRegression(max_iter=200).fit(x, y)
    accuracy = float(model.score(x, y))
    tell(f"[2/5] trained LogisticRegression on {len(FEATURES)} features (training accuracy {accuracy:.3f})")

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
    tell(f"[3/5] saved artifact {artifact.name}:{artifact.version} = {artifact.ref}")

    # 4. Load it with both runtimes and compare.
    sample = dataset.to_table(columns=FEATURES).slice(0, 4096).to_batches()[0]
    results = {}
    for runtime in ("onnxruntime", "reference"):
        predictor = interlock.load_predictor(artifact, runtime=runtime)
        results[runtime] = predictor.predict(sample)
    agree = results["onnxruntime"].column("label").equals(results["reference"].column("label"))
    report["runtimes_agree"] = bool(agree)
    tell(f"[4/5] onnxruntime and the ONNX reference evaluator agree on {sample.num_rows} rows: {agree}")

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
        f"[5/5] predicted {summary['rows']:,} rows to {output_uri} "
        f"({summary['rows_per_second']:,.0f} rows/s); agreement with scikit-learn {matches:.4f}"
    )
    tell(f"done: everything is in {root}")
    return report
