"""``interlock.export``: a framework model in, a saved artifact out (spec: exporter.md).

The exporter is found through the plugin registry (by name, or the first in priority order
that claims the model); what it returns is checked before anything is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from interlock.errors import ExportError, SpecViolation
from interlock.exporters._interfaces import ExportedModel, Exporter
from interlock.plugins import get_registry, plugin_boundary

if TYPE_CHECKING:
    import os

    from interlock.artifacts import Artifact, ArtifactStore
    from interlock.datasets import Dataset
    from interlock.artifacts import LineageEntry, Producer

__all__ = ["choose_exporter", "export", "export_model"]


def _type_name(model: object) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def choose_exporter(model: object, exporter: str | None = None) -> Exporter:
    """The exporter for ``model``: the one named ``exporter``, or else the first, in priority
    order, whose ``can_export`` is true.

    Raises :class:`interlock.ExportError` naming the model's type and the installed exporters
    when none claims it, and :class:`interlock.PluginError` for an unknown exporter name.
    """
    registry = get_registry()
    if exporter is not None:
        component: Exporter = registry.get("exporter", exporter)
        return component
    candidates: list[Exporter] = registry.all("exporter")
    for candidate in candidates:
        with plugin_boundary(candidate, f"checking whether it can export a {_type_name(model)}"):
            claimed = candidate.can_export(model)
        if claimed:
            return candidate
    installed = ", ".join(sorted(c.name for c in candidates)) or "none"
    raise ExportError(
        f"no installed exporter can export a {_type_name(model)} (installed exporters: "
        f"{installed})",
        hint="install a plugin with an exporter for this framework (for scikit-learn: "
        "pip install 'interlock[sklearn]'), or pass exporter=<name>",
    )


def export_model(
    model: object,
    sample: object,
    exporter: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> ExportedModel:
    """Export ``model`` to ONNX without saving it, for callers that save it themselves.

    ``sample`` is a few rows of the model's input (an Arrow table or record batch, a pandas
    DataFrame, anything with ``__arrow_c_stream__``, or a 2-D NumPy array, as the exporter
    documents); it fixes the input tensors and the Arrow columns that feed them.
    """
    return _export(model, sample, exporter, options)[0]


def _export(
    model: object,
    sample: object,
    exporter: str | None,
    options: Mapping[str, Any] | None,
) -> tuple[ExportedModel, Exporter]:
    component = choose_exporter(model, exporter)
    with plugin_boundary(component, f"exporting a {_type_name(model)}"):
        exported = component.export(model, sample, dict(options or {}))
    _check_exported(component, exported)
    return exported, component


def _producer(component: Exporter) -> Producer:
    """The manifest's producer: the exporter's plugin, its version, and the exporter."""
    from interlock.artifacts import Producer

    owner = get_registry().owner(component)
    if owner is None:
        return Producer(
            name=type(component).__module__, version="unknown", component=component.name
        )
    return Producer(name=owner.name, version=owner.version or "unknown", component=component.name)


def _check_exported(component: Exporter, exported: object) -> None:
    """Hold the exporter to its contract (EXP-003 to EXP-005, checked as EXP-024 says) before
    anything is saved; each :class:`interlock.SpecViolation` names the rule it enforces."""
    from interlock.tensors import Signature

    who = f"exporter {component.name!r}"
    if not isinstance(exported, ExportedModel):
        raise SpecViolation(
            f"{who} returned a {type(exported).__name__}, not an interlock.ExportedModel",
            component=component.name,
            requirement="EXP-003",
        )
    try:
        exported.columns.check_against(exported.signature)
    except ValueError as exc:
        raise SpecViolation(
            f"{who} returned an inconsistent column mapping: {exc}",
            component=component.name,
            requirement="EXP-005",
        ) from exc
    declared = Signature.from_onnx(exported.model)
    for kind, ours, theirs in (
        ("input", exported.signature.inputs, declared.inputs),
        ("output", exported.signature.outputs, declared.outputs),
    ):
        if [(s.name, s.dtype) for s in ours] != [(s.name, s.dtype) for s in theirs]:
            raise SpecViolation(
                f"{who} returned a signature whose {kind}s "
                f"{[s.describe() for s in ours]} differ from the ONNX graph's "
                f"{[s.describe() for s in theirs]}",
                component=component.name,
                requirement="EXP-004",
            )


def export(
    model: object,
    sample: object,
    *,
    name: str,
    version: str = "1",
    store: ArtifactStore | str | os.PathLike[str] | None = None,
    dataset: Dataset | str | None = None,
    metadata: Mapping[str, Any] | None = None,
    exporter: str | None = None,
    options: Mapping[str, Any] | None = None,
    lineage_job: str | None = None,
) -> Artifact:
    """Export a framework model and save it as the artifact ``name:version``.

    :param model: a fitted model of a framework an installed exporter handles.
    :param sample: a few rows of the model's input (see :func:`export_model`).
    :param store: an artifact store root URI or :class:`interlock.ArtifactStore`; ``None``: the
        default store (``$INTERLOCK_STORE``).
    :param dataset: the training dataset (an :class:`interlock.Dataset` or a URI); its URI and
        fingerprint are recorded in the artifact's lineage.
    :param metadata: free JSON metadata, merged over what the exporter records.
    :param exporter: an exporter name; ``None``: the first that claims the model.
    :param options: the exporter's options (validated by the exporter).
    :param lineage_job: the OpenLineage job name of the export's run events, when OpenLineage
        is configured (lineage.md LIN-050); ``None``: ``export:<name>``.
    :returns: the saved, verified :class:`interlock.Artifact`.
    """
    from interlock.artifacts import save_artifact
    from interlock.lineage import artifact_dataset, export_events

    lineage = _lineage(dataset)
    with export_events(name, lineage, lineage_job) as lineage_run:
        exported, component = _export(model, sample, exporter, options)
        artifact = save_artifact(
            exported,
            store,
            name=name,
            version=version,
            lineage=lineage,
            metadata=metadata,
            producer=_producer(component),
        )
        lineage_run.outputs.append(artifact_dataset(artifact))
    return artifact


def _lineage(dataset: Dataset | str | None) -> list[LineageEntry]:
    if dataset is None:
        return []
    from interlock.datasets import Dataset
    from interlock.artifacts import LineageEntry

    if isinstance(dataset, str):
        from interlock.datasets import open_dataset

        dataset = open_dataset(dataset)
    if not isinstance(dataset, Dataset):
        raise ExportError(
            f"dataset must be an interlock Dataset or a URI, got a {type(dataset).__name__}",
            hint="pass interlock.open_dataset(uri) or the URI itself",
        )
    return [LineageEntry(uri=dataset.uri, fingerprint=dataset.fingerprint(), role="training")]
