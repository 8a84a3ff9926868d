"""XGBoost samples: a binary classifier (XGBClassifier), a three-class classifier (a native
Booster) and a regressor (XGBRegressor), on one table."""

from __future__ import annotations

from interlock_conformance.samples import ExportSample

__all__ = ["build"]

ROWS, FEATURES = 40, 4
#: ONNX's tree operators compute in float32 (EXP-010).
CLOSE = (1e-4, 1e-5)


def build() -> list[ExportSample]:
    """The samples, or [] when XGBoost is not installed."""
    try:
        import numpy as np
        import pyarrow as pa
        import xgboost
    except ImportError:
        return []
    rng = np.random.default_rng(20240602)
    x = rng.standard_normal((ROWS, FEATURES))
    table = pa.table({f"f{i}": x[:, i] for i in range(FEATURES)})
    binary = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    three = binary + (x[:, 1] > 0.5).astype(np.int64)
    classifier = xgboost.XGBClassifier(n_estimators=8, max_depth=3).fit(x, binary)
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                            xgboost.DMatrix(x, label=three), num_boost_round=8)
    probabilities = booster.predict(xgboost.DMatrix(x))
    regressor = xgboost.XGBRegressor(n_estimators=8, max_depth=3).fit(x, x @ [1.5, -2.0, 0.5, 1.0])
    return [
        ExportSample("classifier", "xgboost", classifier, table, x,
                     {"label": classifier.predict(x), "probabilities": classifier.predict_proba(x)},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("booster-multiclass", "xgboost", booster, table, x,
                     {"label": np.argmax(probabilities, axis=1).astype(np.int64),
                      "probabilities": probabilities},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("regressor", "xgboost", regressor, table, x,
                     {"prediction": regressor.predict(x)}, {"prediction": CLOSE}),
    ]
