"""Exporter cases for every framework an exporter claims (spec: exporter.md).

An exporter that claims ``framework:<name>`` is given every sample model the suite builds for
that framework (:mod:`interlock_conformance.samples`): the export must return a checked model,
and the saved artifact must predict what the framework predicts on every installed runtime.
A framework that the exporter claims but the suite has no samples for (an unknown framework,
or one that is not installed) fails: the claim cannot be certified.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pyarrow as pa
import pytest

import interlock
from interlock import ExportedModel, Exporter

from interlock_conformance.attribution import checking
from interlock_conformance.markers import component_kind, requirement
from interlock_conformance.samples import BUILDERS, ExportSample, samples_for

pytestmark = component_kind("exporter")

_PREFIX = "framework:"


def _claimed_samples(component: Exporter) -> list[ExportSample]:
    """Every sample of every framework the exporter claims; fails for a claimed framework
    the suite cannot build samples of."""
    frameworks = sorted(c[len(_PREFIX):] for c in component.capabilities if c.startswith(_PREFIX))
    samples: list[ExportSample] = []
    for framework in frameworks:
        found = samples_for(framework)
        if not found:
            known = ", ".join(sorted(BUILDERS))
            pytest.fail(
                f"{component.name} claims framework:{framework}, but the conformance suite has "
                f"no sample models for it (it knows {known}, when installed): the claim cannot "
                "be certified"
            )
        samples.extend(found)
    return samples


def _snapshot(value: Any, depth: int = 0) -> Any:
    """The model's state as plain values: its arrays' bytes (NumPy, or tensors with
    ``detach().numpy()``), its scalars and flags, through its attributes and dictionaries a few
    levels deep; anything else by its type name. Never serialized with pickle."""
    if isinstance(value, np.ndarray):
        return value.tobytes()
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().numpy().tobytes()
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if depth < 3 and isinstance(value, dict):
        return {str(k): _snapshot(v, depth + 1) for k, v in value.items()}
    if depth < 3 and hasattr(value, "__dict__"):
        return _snapshot(vars(value), depth + 1)
    return type(value).__name__


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch.column(name)
    if pa.types.is_fixed_size_list(column.type):
        return np.asarray(column.flatten()).reshape(len(column), -1)
    return np.asarray(column)


def _runtimes() -> list[str]:
    """The runtimes the scikit-learn cases use too: onnxruntime and reference where installed
    (the ONNX-ML tree operators that exporters of tree models emit are theirs to run)."""
    names = [r.name for r in interlock.get_registry().all("runtime")]
    preferred = [n for n in ("onnxruntime", "reference") if n in names]
    return preferred or names


@requirement("EXP-002", "EXP-003", "EXP-004", "EXP-005", "EXP-006", "EXP-007")
def test_every_claimed_framework_exports_checked_models(
    component: Exporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For each sample of each claimed framework: can_export claims it; export returns a model
    passing the full ONNX check, a signature of the graph, columns binding each tensor once
    and JSON metadata, without changing the model or writing a file."""
    monkeypatch.chdir(tmp_path)
    for sample in _claimed_samples(component):
        before = _snapshot(sample.model)
        with checking("EXP-002"):
            assert component.can_export(sample.model) is True, f"can_export refuses {sample.label}"
        exported = component.export(sample.model, sample.table, {})
        assert isinstance(exported, ExportedModel), f"{sample.label}: {type(exported).__name__}"
        with checking("EXP-003"):
            onnx.checker.check_model(exported.model, full_check=True)
        graph = exported.model.graph
        initializers = {t.name for t in graph.initializer}
        with checking("EXP-004"):
            declared = [i.name for i in graph.input if i.name not in initializers]
            assert [s.name for s in exported.signature.inputs] == declared, sample.label
            assert [s.name for s in exported.signature.outputs] == [o.name for o in graph.output]
        with checking("EXP-005"):
            exported.columns.check_against(exported.signature)
        with checking("EXP-006"):
            json.dumps(exported.metadata)
        with checking("EXP-007"):
            assert _snapshot(sample.model) == before, f"export changed {sample.label}"
            assert not os.listdir(tmp_path), f"export wrote {os.listdir(tmp_path)}"


@requirement("EXP-010", "EXP-025", "EXP-027", "EXP-030", "EXP-036", "EXP-037")
def test_every_claimed_framework_predicts_like_the_framework(
    component: Exporter, tmp_path: Path
) -> None:
    """Each sample with known outputs, saved by interlock.export with lineage, predicts on
    every installed runtime what the framework predicts (within the sample's tolerances),
    under the spec's output columns and one symbolic batch dimension."""
    for sample in _claimed_samples(component):
        if not sample.expected:
            continue
        training = interlock.write_dataset(sample.table, str(tmp_path / f"{sample.label}.parquet"))
        artifact = interlock.export(
            sample.model, sample.table, name=sample.label, store=str(tmp_path / "store"),
            dataset=training, exporter=component.name,
        )
        with checking("EXP-027"):
            lineage = [(e.uri, e.fingerprint, e.role) for e in artifact.manifest.lineage]
            assert lineage == [(training.uri, training.fingerprint(), "training")], lineage
        with checking("EXP-030"):
            specs = [*artifact.signature.inputs, *artifact.signature.outputs]
            batch = {spec.shape[0] if spec.shape else None for spec in specs}
            assert len(batch) == 1 and isinstance(next(iter(batch)), str), (sample.label, batch)
        bound = {b.column for b in artifact.columns.outputs}
        assert set(sample.expected) <= bound, f"{sample.label}: outputs {sorted(bound)}"
        for runtime in _runtimes():
            result = interlock.load_predictor(artifact, runtime=runtime).predict(sample.table)
            for name, want in sample.expected.items():
                _check(f"{sample.label}: {name} on {runtime}", _column(result, name), want,
                       sample.tolerance.get(name))


def _check(what: str, got: np.ndarray, want: np.ndarray, tolerance: tuple[float, float] | None
           ) -> None:
    with checking("EXP-010"):
        if tolerance is None:
            assert np.array_equal(got.astype(want.dtype), want), f"{what}: {got[:5]} != {want[:5]}"
            return
        rtol, atol = tolerance
        assert got.shape == want.shape, f"{what}: shape {got.shape}, framework {want.shape}"
        largest = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        assert np.allclose(got, want, rtol=rtol, atol=atol), (
            f"{what}: differs from the framework by up to {largest:g} (rtol={rtol}, atol={atol})"
        )
