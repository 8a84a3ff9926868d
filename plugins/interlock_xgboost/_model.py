"""What the exporter needs to know of an XGBoost model, native ``Booster`` or scikit-learn
wrapper (``XGBClassifier``, ``XGBRegressor``, ...): its booster, task, classes, feature names,
and its own predictions on the sample's rows (for the parity check)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ModelFacts", "facts_of"]

_CLASSIFYING = ("binary:logistic", "binary:logitraw", "binary:hinge", "multi:softprob",
                "multi:softmax")


@dataclass(frozen=True)
class ModelFacts:
    """An XGBoost model as the exporter sees it."""

    booster: Any
    estimator: str
    objective: str
    n_features: int
    feature_names: list[str] | None
    #: The classes, for a classifier; None for a regressor.
    classes: list[Any] | None

    def converter_input(self) -> Any:
        """A copy of the booster without feature names: onnxmltools reads features only by
        position (``f0``, ``f1``, ...) and refuses other names. The model is left as it is."""
        copy = self.booster.copy()
        copy.feature_names = None
        copy.feature_types = None
        return copy

    def predict(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """XGBoost's own outputs for ``rows`` under the spec's output names."""
        import numpy as np
        import xgboost

        matrix = xgboost.DMatrix(rows, feature_names=self.feature_names)
        raw = np.asarray(self.booster.predict(matrix))
        if self.classes is None:
            return {"prediction": raw.reshape(len(rows))}
        if self.objective == "multi:softmax":
            return {"label": raw.astype(np.int64)}
        if self.objective == "binary:logistic":
            probabilities = np.stack([1.0 - raw, raw], axis=1)
            return {"label": (raw > 0.5).astype(np.int64), "probabilities": probabilities}
        if self.objective == "multi:softprob":
            return {"label": np.argmax(raw, axis=1).astype(np.int64), "probabilities": raw}
        return {}  # margins or hinge: the converter's outputs are checked by shape only


def facts_of(model: Any) -> ModelFacts:
    """The facts of ``model``; ExportError when it is not fitted or not a tree model XGBoost
    can predict with."""
    import xgboost

    if isinstance(model, xgboost.Booster):
        booster, estimator = model, "xgboost.Booster"
    elif isinstance(model, xgboost.XGBModel):
        booster = _fitted_booster(model)
        estimator = f"xgboost.{type(model).__qualname__}"
    else:
        raise ExportError(
            f"{type(model).__module__}.{type(model).__qualname__} is not an XGBoost model",
            hint="export an xgboost.Booster or a fitted XGBClassifier / XGBRegressor",
        )
    config = json.loads(booster.save_config())["learner"]
    objective = str(config["objective"]["name"])
    booster_kind = config.get("gradient_booster", {}).get("name", "gbtree")
    if booster_kind not in ("gbtree", "dart"):
        raise ExportError(
            f"the {estimator} uses booster={booster_kind!r}; only tree boosters (gbtree, dart) "
            "can be exported",
            hint="train with booster='gbtree'",
        )
    n_classes = int(config["learner_model_param"].get("num_class", "0"))
    classes: list[Any] | None = None
    if objective in _CLASSIFYING:
        known = getattr(model, "classes_", None)
        count = max(n_classes, 2)
        classes = [c.item() for c in known] if known is not None else list(range(count))
    elif not objective.startswith("reg:") and objective not in ("count:poisson",):
        raise ExportError(
            f"the {estimator} has objective {objective!r}; the xgboost exporter handles "
            "classification (binary:*, multi:*) and regression (reg:*)",
            hint="export a classifier or a regressor",
        )
    names = booster.feature_names
    return ModelFacts(booster, estimator, objective, int(booster.num_features()),
                      list(names) if names else None, classes)


def _fitted_booster(model: Any) -> Any:
    try:
        return model.get_booster()
    except Exception as exc:  # scikit-learn's NotFittedError, when scikit-learn is there
        if type(exc).__name__ != "NotFittedError":
            raise
        raise ExportError(
            f"the {type(model).__name__} is not fitted",
            hint="call model.fit(X, y) before exporting it",
        ) from None
