"""Exporter cases for gradient-boosted trees (spec: exporter.md EXP-050): the framework's native
booster and its scikit-learn wrapper are both exported, and the feature names a booster
recorded are the artifact's input columns, in the booster's order, whatever the sample's order
(EXP-034), while names the framework made up itself (LightGBM's ``Column_<i>``) are not; and
the exported graph is checked against the framework on the sample (EXP-051).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from interlock import Exporter

from interlock_conformance.markers import capability, component_kind, requirement

pytestmark = component_kind("exporter")

_NAMES = ["w", "z", "a", "m"]


def _data() -> tuple[np.ndarray, np.ndarray, pa.Table]:
    rng = np.random.default_rng(20240611)
    x = rng.standard_normal((40, len(_NAMES)))
    y = x @ [1.5, -2.0, 0.5, 1.0]
    shuffled = pa.table({name: x[:, _NAMES.index(name)] for name in ["m", "a", "z", "w"]})
    return x, y, shuffled


def _xgboost(x: np.ndarray, y: np.ndarray, named: bool) -> tuple[Any, Any]:
    import xgboost

    names = _NAMES if named else None
    booster = xgboost.train({"max_depth": 3}, xgboost.DMatrix(x, label=y, feature_names=names),
                            num_boost_round=6)
    return booster, xgboost.XGBRegressor(n_estimators=6, max_depth=3).fit(x, y)


def _lightgbm(x: np.ndarray, y: np.ndarray, named: bool) -> tuple[Any, Any]:
    import lightgbm

    names: Any = _NAMES if named else "auto"
    params = {"num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1}
    booster = lightgbm.train(params, lightgbm.Dataset(x, label=y, feature_name=names),
                             num_boost_round=6)
    wrapper = lightgbm.LGBMRegressor(n_estimators=6, num_leaves=7, min_child_samples=5,
                                     verbose=-1).fit(x, y)
    return booster, wrapper


_FRAMEWORKS: dict[str, Callable[[np.ndarray, np.ndarray, bool], tuple[Any, Any]]] = {
    "xgboost": _xgboost, "lightgbm": _lightgbm}


@requirement("EXP-050", "EXP-034")
@pytest.mark.parametrize("framework", [
    pytest.param(name, marks=capability(f"framework:{name}")) for name in _FRAMEWORKS])
def test_booster_and_wrapper_are_exported_with_the_boosters_names(
    component: Exporter, framework: str,
) -> None:
    """A native booster fitted with feature names reads those columns in its order from a
    shuffled sample; one fitted without names, and the scikit-learn wrapper, read the sample's
    columns in the sample's order."""
    pytest.importorskip(framework)
    x, y, shuffled = _data()
    named, wrapper = _FRAMEWORKS[framework](x, y, True)
    unnamed, _ = _FRAMEWORKS[framework](x, y, False)
    cases = [("native booster with feature names", named, _NAMES),
             ("native booster without feature names", unnamed, shuffled.column_names),
             ("scikit-learn wrapper", wrapper, shuffled.column_names)]
    for what, model, want in cases:
        exported = component.export(model, shuffled, {})
        got = [column for binding in exported.columns.inputs for column in binding.columns]
        assert got == want, (
            f"exporting a {framework} {what} ({type(model).__name__}) on a sample with columns "
            f"{shuffled.column_names} with {component.name!r} gave input columns {got}, not "
            f"{want} (exporter.md EXP-050, EXP-034: the booster's recorded names decide, names "
            "the framework made up do not)")


@requirement("EXP-051")
@pytest.mark.parametrize("framework", [
    pytest.param(name, marks=capability(f"framework:{name}")) for name in _FRAMEWORKS])
def test_the_graph_is_checked_against_the_framework_on_the_sample(
    component: Exporter, framework: str,
) -> None:
    """The metadata records the sample rows compared and the largest difference; with zero
    tolerances, targets of a million (beyond float32's exact range) make the graph differ, and
    the export is refused naming the output, the difference and the tolerance."""
    pytest.importorskip(framework)
    x, y, table = _data()
    _, wrapper = _FRAMEWORKS[framework](x, y, False)
    exported = component.export(wrapper, table, {})
    parity = exported.metadata.get(component.name, {}).get("parity")
    assert isinstance(parity, dict) and parity.get("rows") == table.num_rows and isinstance(
        parity.get("largest_difference"), (int, float)), (
        f"exporting a {framework} regressor on a {table.num_rows}-row sample recorded parity "
        f"{parity!r} in metadata[{component.name!r}]; exporter.md EXP-051: 'parity' with the "
        "'rows' compared and the 'largest_difference'")
    outputs = [s.name for s in exported.signature.outputs]
    _, large = _FRAMEWORKS[framework](x, y * 1e6 + 0.123, False)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - checked just below
        component.export(large, table, {"parity_rtol": 0.0, "parity_atol": 0.0})
    message = str(caught.value)
    assert type(caught.value).__name__ == "ExportError", (
        f"a graph that differs from the {framework} model (zero tolerances, targets near 1e6) "
        f"raised {type(caught.value).__name__}: {message} (EXP-051: ExportError)")
    assert any(name in message for name in outputs) and "0" in message, (
        f"the parity refusal says {message!r}: EXP-051 wants the output ({outputs}), the "
        "largest difference and the tolerance")
