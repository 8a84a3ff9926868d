"""What a server is given to serve: a repository of models, as two small protocols.

A server component never sees the serving kit's classes: :meth:`interlock.Server.create`
receives any object with the members of :class:`Repository`, whose models have the members of
:class:`Model`. The kit's :class:`interlock.serving.ModelRepository` and
:class:`interlock.serving.ServedModel` are one implementation (``interlock.serve`` uses them);
a vendor may host its own model source behind the same servers by writing another.

These are types only (``typing.Protocol``): nothing wraps a repository or a model, so they add
nothing to the cost of a request. Every member runs on the event loop that serves the
repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from interlock.tensors import Signature

__all__ = ["Model", "Repository"]


class Model(Protocol):
    """One version of one model, as a server sees it.

    A server reads these members on every request, so they are plain attributes or cheap
    properties. A model of a text artifact (spec text.md) may also have a ``generator``
    (:class:`interlock.text.TextGenerator`) or an ``embedder``
    (:class:`interlock.text.TextEmbedder`) attribute, not None once loaded; servers look for
    them with ``getattr``, so other models need neither.
    """

    @property
    def name(self) -> str:
        """The model's name (what clients address it by)."""
        ...

    @property
    def version(self) -> str:
        """This version's name."""
        ...

    @property
    def versions(self) -> Sequence[str]:
        """Every version of this name that the repository serves, oldest first (the last is
        what an empty version selects)."""
        ...

    @property
    def platform(self) -> str:
        """The artifact format, such as ``"onnx"`` (servers map it to their protocol's name)."""
        ...

    @property
    def signature(self) -> Signature:
        """The model's inputs and outputs: names, dtypes and shapes, in order."""
        ...

    @property
    def ready(self) -> bool:
        """Whether the model answers requests now (loaded, and the repository not draining):
        what a model readiness probe reports."""
        ...

    @property
    def queue_depth(self) -> int:
        """Requests this model holds right now, waiting or running (a metric)."""
        ...

    @property
    def batch_observers(self) -> list[Callable[[int], None]]:
        """Functions to call with the row count of every runtime call (metrics append to it;
        a model that never calls them reports no batch sizes)."""
        ...

    async def infer(self, inputs: dict[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        """Validate ``inputs``, run the model, return every output by name.

        Raises :class:`interlock.SignatureMismatch` for inputs that do not fit the signature
        and :class:`interlock.OverloadedError` (with ``retry_after``) for back-pressure: the
        model's queue is full, or it is not loaded or shutting down. Anything else a server
        treats as a bug (an internal error, details in the log).
        """
        ...

    def infer_now(self, inputs: dict[str, np.ndarray]) -> Mapping[str, np.ndarray] | None:
        """Answer on the caller's thread when that is the fast way, or return None.

        A server calls this first and falls back to :meth:`infer` on None, so that a fast
        request completes without a task or a thread switch. Returning None always is correct
        (only slower). Raises what :meth:`infer` raises.
        """
        ...


class Repository(Protocol):
    """The models one server process serves, as a server sees them.

    Servers of one process share one repository (and its readiness, queues and metrics). It
    must be hashable and support weak references (any ordinary class does): the shared metrics
    are kept per repository without keeping it alive.
    """

    @property
    def ready(self) -> bool:
        """Whether every model is loaded and the process is not draining: what the server
        readiness probe reports."""
        ...

    def get(self, name: str, version: str | None = None) -> Model:
        """The model ``name`` at ``version`` (the newest version when None or empty).

        Raises :class:`interlock.ArtifactNotFoundError` for a name or version that is not
        served, naming what is, and :class:`interlock.OverloadedError` while the repository
        is still loading.
        """
        ...

    def models(self) -> Sequence[Model]:
        """Every model version served, by name then version (empty before loading)."""
        ...
