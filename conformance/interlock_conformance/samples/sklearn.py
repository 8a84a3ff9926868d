"""scikit-learn samples: a classifier, two regressors and a transformer on one table."""

from __future__ import annotations

from interlock_conformance.samples import ExportSample

__all__ = ["FEATURES", "ROWS", "build"]

ROWS, FEATURES = 40, 4
#: float32 computation, as the exporter's default (EXP-010).
CLOSE = (1e-4, 1e-5)


def build() -> list[ExportSample]:
    """The samples, or [] when scikit-learn is not installed."""
    try:
        import numpy as np
        import pyarrow as pa
        from sklearn.linear_model import LinearRegression, LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        return []
    rng = np.random.default_rng(20240601)
    x = rng.standard_normal((ROWS, FEATURES))
    classes = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    table = pa.table({f"f{i}": x[:, i] for i in range(FEATURES)})
    classifier = LogisticRegression(max_iter=500).fit(x, classes)
    one = LinearRegression().fit(x, x @ np.array([1.5, -2.0, 0.25, 3.0]) + 0.5)
    two = LinearRegression().fit(x, np.stack([x[:, 0] - x[:, 1], 2 * x[:, 3]], axis=1))
    scaler = StandardScaler().fit(x)
    return [
        ExportSample("classifier", "sklearn", classifier, table, x,
                     {"label": classifier.predict(x), "probabilities": classifier.predict_proba(x)},
                     {"label": None, "probabilities": CLOSE}),
        ExportSample("regressor", "sklearn", one, table, x, {"prediction": one.predict(x)},
                     {"prediction": CLOSE}),
        ExportSample("two-targets", "sklearn", two, table, x, {"prediction": two.predict(x)},
                     {"prediction": CLOSE}),
        ExportSample("scaler", "sklearn", scaler, table, x),
    ]
