"""The interlock error hierarchy.

Every error a user can cause is an :class:`InterlockError`; it carries what went wrong, which
plugin and component were involved (when any), and a hint that says how to fix it. The CLI
prints ``str(error)`` as one line and exits non-zero; anything else is a bug.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pydantic import ValidationError

__all__ = [
    "describe_validation_error",
    "ArtifactError",
    "ArtifactExistsError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "DatasetError",
    "DeviceUnavailableError",
    "ExportError",
    "GenerationError",
    "InterlockError",
    "MissingDependencyError",
    "OverloadedError",
    "PluginError",
    "SignatureMismatch",
    "SpecViolation",
    "UnsupportedModelError",
]


class InterlockError(Exception):
    """Root of every error interlock raises on purpose.

    ``plugin`` and ``component`` name the culprit when a plugin is involved; ``hint`` says how
    to fix the problem. ``requirement`` is the ID of the spec requirement (``"RT-020"``) that a
    component broke, set where interlock's core itself holds a component to a rule of the spec
    and catches it breaking that rule (a runtime returning an output of the wrong dtype, a hook
    returning something that is not a component); it is None for every other error, a user's
    mistake included. The conformance suite reports a case that fails with such an error as a
    failure of that requirement (specs/v1/conformance.md, CONF-024). ``str(error)`` is a single
    line meant for people.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        plugin: str | None = None,
        component: str | None = None,
        requirement: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.plugin = plugin
        self.component = component
        self.requirement = requirement

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} (hint: {self.hint})"
        return text


class PluginError(InterlockError):
    """A plugin failed to load, broke the hook contract, or raised while doing its job."""


class SpecViolation(InterlockError):
    """A component returned something the written spec forbids; ``requirement`` names the
    rule when the core knows it."""


class DatasetError(InterlockError):
    """A dataset could not be opened, read or written; the message names the URI."""


class ArtifactError(InterlockError):
    """A model artifact could not be saved, found or loaded."""


class ArtifactNotFoundError(ArtifactError):
    """No artifact answers to the given reference."""


class ArtifactExistsError(ArtifactError):
    """An artifact version already exists; versions are immutable."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact's files do not match its manifest, or a path leaves the artifact."""


class SignatureMismatch(InterlockError):
    """Inputs do not match a model's signature; names the tensor, expected and received."""


class DeviceUnavailableError(InterlockError):
    """The requested device (for example ``cuda``) is not available to a runtime."""


class ExportError(InterlockError):
    """A framework model could not be exported to an artifact."""


class GenerationError(InterlockError):
    """A text generation or embedding request cannot be served as asked: a parameter out of
    range, a prompt longer than the model's context, a model that is not a text model."""


class MissingDependencyError(InterlockError):
    """An optional dependency is missing; the hint says how to install it.

    interlock's own plugins name their ``extra`` (the hint becomes
    ``pip install 'interlock[extra]'``); a third-party plugin gives its own ``install`` command
    instead (``install="pip install 'acme-interlock[gpu]'"``). With neither, the hint installs
    the package itself.
    """

    def __init__(
        self,
        package: str,
        extra: str | None = None,
        *,
        purpose: str,
        install: str | None = None,
    ) -> None:
        if install is None:
            install = f"pip install 'interlock[{extra}]'" if extra else f"pip install {package}"
        super().__init__(
            f"{purpose} needs the Python package {package!r}, which is not installed",
            hint=install,
        )
        self.package = package
        self.extra = extra
        self.install = install


#: True while UnsupportedModelError.refusing probes other runtimes: a probed runtime that refuses
#: the model too does not probe in turn.
_PROBING: ContextVar[bool] = ContextVar("interlock_probing_runtimes", default=False)


class UnsupportedModelError(InterlockError):
    """A runtime cannot run a model: it uses operators the runtime does not implement.

    Raised by ``load_predictor`` (never at the first inference, specs/v1/runtime.md RT-082).
    ``operators`` names them as ``domain.op_type`` (``Relu`` for the default domain);
    ``runtimes`` names the other installed runtimes that load the model.
    """

    def __init__(
        self,
        message: str,
        *,
        operators: Iterable[str] = (),
        runtimes: Iterable[str] = (),
        hint: str | None = None,
        component: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, component=component)
        self.operators = tuple(operators)
        self.runtimes = tuple(runtimes)

    @classmethod
    def refusing(
        cls,
        operators: Iterable[str],
        *,
        model: str,
        runtime: str,
        candidates: Iterable[tuple[str, Callable[[], object]]] = (),
    ) -> UnsupportedModelError:
        """The error of ``runtime`` refusing ``model`` for ``operators``.

        ``candidates`` pairs each other runtime's name with a call that loads the model with
        it; a candidate whose call returns is named in ``runtimes``. The calls are made here,
        only when a model is refused, and not from inside another refusal's probe.
        """
        names = sorted(set(operators)) or ["(unnamed)"]
        able = [] if _PROBING.get() else _loading(candidates)
        hint = (f"load it with runtime {' or '.join(repr(n) for n in able)}" if able else
                "no installed runtime loads it: export the model without these operators, "
                "or install a runtime that implements them")
        return cls(
            f"runtime {runtime!r} cannot run model {model}: it does not implement the "
            f"operator(s) {', '.join(names)}",
            operators=names, runtimes=able, hint=hint, component=runtime,
        )


def _loading(candidates: Iterable[tuple[str, Callable[[], object]]]) -> list[str]:
    """The names of the candidates whose load succeeds."""
    token = _PROBING.set(True)
    try:
        able = []
        for name, load in candidates:
            try:
                load()
            except Exception:  # any failure means "not this one"; the probe reports nothing
                continue
            able.append(name)
        return sorted(able)
    finally:
        _PROBING.reset(token)


class OverloadedError(InterlockError):
    """A server or model queue is full; retry after ``retry_after`` seconds (HTTP 503)."""

    def __init__(self, message: str, *, retry_after: float = 1.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "retry later, or raise the queue limit")
        self.retry_after = retry_after


def describe_validation_error(error: ValidationError, limit: int = 5) -> str:
    """One line naming each problem pydantic found in ``error`` (an unknown field by its dotted
    path), for messages about a manifest, a signature or options."""
    problems = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown field {location!r}")
        else:
            problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)
