"""LightGBM samples: a binary classifier (a native Booster), a three-class classifier
(LGBMClassifier) and a regressor (LGBMRegressor), on one table."""

from __future__ import annotations

from typing import Any

from interlock_conformance.samples import ExportSample

__all__ = ["build"]

ROWS, FEATURES = 40, 4
#: ONNX's tree operators compute in float32 (EXP-010).
CLOSE = (1e-4, 1e-5)


def build() -> list[ExportSample]:
    """The samples, or [] when LightGBM is not installed."""
    try:
        import lightgbm
        import numpy as np
        import pyarrow as pa
    except ImportError:
        return []
    rng = np.random.default_rng(20240603)
    x = rng.standard_normal((ROWS, FEATURES))
    table = pa.table({f"f{i}": x[:, i] for i in range(FEATURES)})
    binary = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    three = binary + (x[:, 1] > 0.5).astype(np.int64)
    quiet: dict[str, Any] = {"verbose": -1, "min_child_samples": 5}
    booster = lightgbm.train({"objective": "binary", **quiet}, lightgbm.Dataset(x, label=binary),
                             num_boost_round=8)
    p = np.asarray(booster.predict(x))
    classifier = lightgbm.LGBMClassifier(n_estimators=8, **quiet).fit(x, three)
    regressor = lightgbm.LGBMRegressor(n_estimators=8, **quiet).fit(x, x @ [1.5, -2.0, 0.5, 1.0])
    return [
        ExportSample("booster-binary", "lightgbm", booster, table, x,
                     {"label": (p > 0.5).astype(np.int64), "probabilities": np.stack([1 - p, p], 1)},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("classifier", "lightgbm", classifier, table, x,
                     {"label": np.asarray(classifier.predict(x)),
                      "probabilities": np.asarray(classifier.predict_proba(x))},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("regressor", "lightgbm", regressor, table, x,
                     {"prediction": np.asarray(regressor.predict(x))}, {"prediction": CLOSE}),
    ]
