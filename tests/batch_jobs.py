"""What the executor tests share: the input table, an exported classifier with a Parquet
dataset of 12 row groups, and helpers to run a job and read its output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import interlock

FEATURES = ["f0", "f1", "f2", "f3"]
ROWS = 6000


def make_table(rows: int, seed: int = 0) -> pa.Table:
    """``id``, four normal feature columns and a ``note`` string column."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    columns: dict[str, Any] = {"id": np.arange(rows, dtype=np.int64)}
    columns.update({name: x[:, i] for i, name in enumerate(FEATURES)})
    columns["note"] = [f"row-{i}" for i in range(rows)]
    return pa.table(columns)


def make_setup(root: Path) -> dict[str, str]:
    """A logistic regression exported into a store under ``root``, and a Parquet dataset of
    :data:`ROWS` rows in 12 row groups: ``{"store", "ref", "data"}``."""
    from sklearn.linear_model import LogisticRegression

    train = make_table(500, seed=1)
    x = np.stack([train[name].to_numpy() for name in FEATURES], axis=1)
    model = LogisticRegression().fit(x, np.digitize(x[:, 0] + x[:, 1], [-0.5, 0.5]))
    store = str(root / "store")
    artifact = interlock.export(model, train.select(FEATURES).slice(0, 3), name="clf",
                                store=store)
    data = str(root / "input.parquet")
    pq.write_table(make_table(ROWS, seed=2), data, row_group_size=500)
    return {"store": store, "ref": artifact.ref, "data": data}


def predict(setup: dict[str, str], output: Path | str, **kwargs: Any) -> dict[str, Any]:
    """``predict_dataset`` of the setup's dataset (or ``dataset=``) in batches of 250."""
    kwargs.setdefault("batch_size", 250)
    dataset = kwargs.pop("dataset", setup["data"])
    return interlock.predict_dataset(dataset, setup["ref"], str(output), store=setup["store"],
                                     **kwargs)


def rows(path: Path | str) -> pa.Table:
    """A Parquet output's rows, without its lineage metadata."""
    return pq.read_table(path).replace_schema_metadata(None)


def staging_dirs(output: Path) -> list[Path]:
    """The hidden staging places of jobs writing ``output``."""
    return sorted(output.parent.glob(f".{output.name}.interlock-job-*"))
