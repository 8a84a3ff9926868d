"""``load_predictor``: an artifact, a runtime and a device in, a ready predictor out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interlock.errors import InterlockError, SpecViolation

if TYPE_CHECKING:
    from interlock.artifacts import Artifact
    from interlock.runtimes._interfaces import Predictor

__all__ = ["load_predictor"]


def load_predictor(
    artifact: Artifact | str,
    runtime: str = "onnxruntime",
    device: str = "cpu",
    *,
    store: str | None = None,
    **options: Any,
) -> Predictor:
    """Load ``artifact`` with the runtime called ``runtime`` on ``device``.

    ``artifact`` is an :class:`interlock.Artifact` or a reference (``name:version``,
    ``name@sha256:...``, or an artifact URI) resolved with
    :func:`interlock.load_artifact` in ``store``. ``options`` are the runtime's own (for
    onnxruntime: ``intra_op_num_threads=1``, ...); an unknown option is an error.

    Raises :class:`interlock.PluginError` for an unknown runtime,
    :class:`interlock.DeviceUnavailableError` for a device the runtime does not support or
    cannot use, and passes on the artifact errors of :func:`interlock.load_artifact`.
    """
    from interlock.plugins import get_registry, plugin_boundary

    artifact = _as_artifact(artifact, store)
    component = get_registry().get("runtime", runtime)
    with plugin_boundary(component, f"checking device {device!r}"):
        component.check_device(device)
    with plugin_boundary(component, f"loading {artifact.ref} on device {device!r}"):
        predictor = component.load(artifact, device, dict(options))
    return _checked_predictor(predictor, artifact, runtime)


def _as_artifact(artifact: Artifact | str, store: str | None) -> Artifact:
    """``artifact`` itself, or the artifact that the reference ``artifact`` names in ``store``."""
    from interlock.artifacts import Artifact

    if isinstance(artifact, str):
        from interlock.artifacts import load_artifact

        return load_artifact(artifact, store=store)
    if not isinstance(artifact, Artifact):
        raise InterlockError(
            f"load_predictor() takes an interlock.Artifact or a reference string, received "
            f"{type(artifact).__name__}",
            hint="pass interlock.load_artifact(...) or a reference such as 'name:version'",
        )
    if store is not None:
        raise InterlockError(
            "store= only applies when the artifact is given as a reference string",
            hint="drop store=, or pass the reference instead of the loaded artifact",
        )
    return artifact


def _checked_predictor(predictor: object, artifact: Artifact, runtime: str) -> Predictor:
    """``predictor``, once it is an :class:`interlock.Predictor` with the artifact's signature;
    raises :class:`interlock.SpecViolation` otherwise (RT-003)."""
    from interlock.runtimes._interfaces import Predictor

    if not isinstance(predictor, Predictor):
        raise SpecViolation(
            f"runtime {runtime!r} returned {type(predictor).__name__} from load(); the spec "
            "requires an interlock.Predictor",
            hint="this is a bug in the runtime plugin: report it to its authors",
            component=runtime,
            requirement="RT-003",
        )
    if getattr(predictor, "signature", None) != artifact.signature:
        raise SpecViolation(
            f"runtime {runtime!r} loaded {artifact.ref} with a signature that differs from "
            "the artifact's manifest",
            hint="a predictor must use the artifact's signature: report it to the plugin's "
            "authors",
            component=runtime,
            requirement="RT-003",
        )
    return predictor
