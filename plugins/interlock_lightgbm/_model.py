"""What the exporter needs to know of a LightGBM model, native ``Booster`` or scikit-learn
wrapper (``LGBMClassifier``, ``LGBMRegressor``): its booster, task, classes, feature names, and
its own predictions on the sample's rows (for the parity check)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ModelFacts", "facts_of"]

_CLASSIFYING = ("binary", "multiclass", "multiclassova")
_NOT_EXPORTED = ("lambdarank", "rank_xendcg", "custom")
#: The names LightGBM gives features it was not told the names of.
_DEFAULT_NAME = re.compile(r"Column_\d+")


@dataclass(frozen=True)
class ModelFacts:
    """A LightGBM model as the exporter sees it."""

    booster: Any
    estimator: str
    objective: str
    n_features: int
    feature_names: list[str] | None
    #: The classes, for a classifier; None for a regressor.
    classes: list[Any] | None

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """LightGBM's own outputs for ``rows`` under the spec's output names."""
        import numpy as np

        raw = np.asarray(self.booster.predict(rows))
        if self.classes is None:
            return {"prediction": raw.reshape(len(rows))}
        if raw.ndim == 1:  # binary: the probability of the second class
            raw = np.stack([1.0 - raw, raw], axis=1)
        label = np.asarray(self.classes, dtype=np.int64)[np.argmax(raw, axis=1)]
        return {"label": label, "probabilities": raw}


def facts_of(model: Any) -> ModelFacts:
    """The facts of ``model``; ExportError when it is not fitted or its task is not
    classification or regression."""
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        booster, estimator, known = model, "lightgbm.Booster", None
    elif isinstance(model, lightgbm.LGBMModel):
        booster = _fitted_booster(model)
        estimator = f"lightgbm.{type(model).__qualname__}"
        classifier = isinstance(model, lightgbm.LGBMClassifier)
        known = getattr(model, "classes_", None) if classifier else None
    else:
        raise ExportError(
            f"{type(model).__module__}.{type(model).__qualname__} is not a LightGBM model",
            hint="export a lightgbm.Booster or a fitted LGBMClassifier / LGBMRegressor",
        )
    dump = booster.dump_model(num_iteration=1)
    objective = str(dump.get("objective", "regression")).split(" ")[0]
    if objective in _NOT_EXPORTED:
        raise ExportError(
            f"the {estimator} has objective {objective!r}; the lightgbm exporter handles "
            "classification (binary, multiclass) and regression",
            hint="export a classifier or a regressor",
        )
    classes: list[Any] | None = None
    if objective in _CLASSIFYING:
        count = max(int(dump.get("num_class", 1)), 2)
        classes = [c.item() for c in known] if known is not None else list(range(count))
        if not all(isinstance(c, int) for c in classes):
            raise ExportError(
                f"the {estimator} has classes {classes[:5]}; only integer classes can be "
                "exported",
                hint="encode the target as integers 0..k-1 before training",
            )
    names = [str(n) for n in booster.feature_name()]
    if all(_DEFAULT_NAME.fullmatch(n) for n in names):
        names = []
    return ModelFacts(booster, estimator, objective, int(booster.num_feature()), names or None,
                      classes)


def _fitted_booster(model: Any) -> Any:
    try:
        return model.booster_
    except Exception as exc:  # LightGBM's LGBMNotFittedError
        if "NotFitted" not in type(exc).__name__:
            raise
        raise ExportError(
            f"the {type(model).__name__} is not fitted",
            hint="call model.fit(X, y) before exporting it",
        ) from None
