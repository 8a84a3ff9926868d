"""The models a server serves: loaded once, looked up by name and version on every request.

The serving core is runtime- and protocol-agnostic: a :class:`ModelRepository` loads artifacts
through whatever runtime plugin is asked for, and every server (REST, gRPC, a vendor's) asks it
for a :class:`ServedModel` and awaits :meth:`ServedModel.infer`. Validation, batching,
back-pressure and the choice between running on the event loop or in a worker thread live
here, once, so that every protocol front end behaves the same (spec: serving.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from interlock.serving._batcher import BatchingOptions, DynamicBatcher, RunTimer
from interlock.errors import ArtifactError, ArtifactNotFoundError, OverloadedError

if TYPE_CHECKING:
    import numpy as np

    from interlock.artifacts import Artifact
    from interlock.runtimes import Predictor
    from interlock.tensors import Signature, SignatureChecks
    from interlock.text import TextEmbedder, TextGenerator

__all__ = ["ModelRepository", "ServedModel"]


class ServedModel:
    """One version of one model, loaded and ready to serve.

    ``name``, ``version``, ``signature``, ``platform`` (``"onnx"``) and ``runtime`` describe
    it; ``versions`` lists every version of the same name that the repository serves.
    ``queue_depth`` counts the requests it holds right now; functions appended to
    ``batch_observers`` are told the row count of every runtime call (metrics).
    """

    platform = "onnx"

    def __init__(
        self,
        artifact: Artifact,
        repository: ModelRepository,
    ) -> None:
        self.artifact = artifact
        self.name: str = artifact.name
        self.version: str = artifact.version
        self.digest: str = artifact.digest
        self.signature: Signature = artifact.signature
        self.runtime: str = repository.runtime
        self.device: str = repository.device
        self.versions: list[str] = [self.version]
        self.batch_observers: list[Callable[[int], None]] = []
        self._repository = repository
        self._options = repository.batching
        self._predictor: Predictor | None = None
        self._checks: SignatureChecks | None = None
        self._batcher: DynamicBatcher | None = None
        self._in_flight = 0
        self._timer = RunTimer()
        self._inline_below_s = self._options.inline_below_ms / 1000.0
        #: A text artifact's generator or embedder (spec text.md), made when it loads.
        self.generator: TextGenerator | None = None
        self.embedder: TextEmbedder | None = None

    # -- state -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """The predictor is loaded (inference works, even while the server drains)."""
        return self._predictor is not None

    @property
    def ready(self) -> bool:
        """Loaded, and the repository is not draining: what readiness probes report."""
        return self._predictor is not None and self._repository.ready

    @property
    def batching(self) -> bool:
        """Whether concurrent requests are merged into one runtime call."""
        return self._batcher is not None

    @property
    def queue_depth(self) -> int:
        """Requests this model holds right now (waiting or running)."""
        if self._batcher is not None:
            return self._batcher.queue_depth
        return self._in_flight

    @property
    def predictor(self) -> Predictor:
        """The loaded predictor; :class:`OverloadedError` (not ready) before :meth:`load`."""
        if self._predictor is None:
            raise self._not_ready()
        return self._predictor

    def _not_ready(self) -> OverloadedError:
        return OverloadedError(
            f"model '{self.name}:{self.version}' is not loaded yet",
            retry_after=1.0,
            hint="wait until the server reports ready (GET /v2/health/ready)",
        )

    def load(self) -> None:
        """Load the predictor through the runtime plugin and prepare the batcher."""
        if self._predictor is not None:
            return
        from interlock.runtimes import load_predictor
        from interlock.tensors import SignatureChecks

        repository = self._repository
        predictor = load_predictor(
            self.artifact,
            runtime=repository.runtime,
            device=repository.device,
            **repository.runtime_options,
        )
        label = f"{self.name}:{self.version}"
        self._checks = SignatureChecks(predictor.signature, runtime=self.runtime, model=label)
        self.signature = predictor.signature
        if self._options.max_batch_size > 1 and batchable(predictor.signature):
            self._batcher = DynamicBatcher(
                predictor.infer,
                self._options,
                name=label,
                executor=repository.executor,
                on_batch=self._observe_batch,
            )
        self._load_text(predictor)
        self._predictor = predictor

    def _load_text(self, predictor: Predictor) -> None:
        text = self.artifact.manifest.text
        if text is None:
            return
        from interlock.text import TextEmbedder, TextGenerator

        if text.embedding is not None:
            self.embedder = TextEmbedder.from_artifact(self.artifact, predictor)
        elif self._repository.text_engine is not None:
            self.generator = TextGenerator.load(self.artifact, device=self.device,
                                                engine=self._repository.text_engine)
        else:  # dynamic batching merges the decode steps of concurrent requests (TXT-056)
            self.generator = TextGenerator.from_artifact(
                self.artifact, predictor, batch_steps=self._options.max_batch_size)

    # -- inference ---------------------------------------------------------------------------

    async def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate ``inputs``, run the model (batched when enabled), return every output.

        Raises :class:`interlock.SignatureMismatch` for inputs that do not fit the signature,
        and :class:`interlock.OverloadedError` when the model's queue is full or the model is
        not loaded. The runtime never runs on the event loop unless its calls are known to be
        shorter than ``inline_below_ms``.
        """
        predictor = self._predictor
        if predictor is None:
            raise self._not_ready()
        if self._batcher is not None:
            assert self._checks is not None
            feed = self._checks.check_inputs(inputs)
            return await self._batcher.submit(feed)
        outputs = self.infer_now(inputs)
        if outputs is not None:
            return outputs
        if self._in_flight >= self._options.max_queue:
            raise OverloadedError(
                f"model '{self.name}:{self.version}' has {self._options.max_queue} requests "
                "in flight",
                retry_after=1.0,
            )
        rows = _rows(inputs)
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            outputs = await loop.run_in_executor(
                self._repository.executor, self._timed_infer, inputs, rows
            )
        finally:
            self._in_flight -= 1
        for observer in self.batch_observers:
            observer(rows)
        return outputs

    def infer_now(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Run the model right here, on the caller's thread, when that is the fast way.

        That is when the model is loaded, not batched, and known to answer a request of this
        size in less than ``inline_below_ms`` (a thread hop would cost more than the call
        blocks the event loop). Returns None otherwise: then :meth:`infer` is the way. A
        front end calls this first so that a fast request completes without a task or a
        thread switch.
        """
        predictor = self._predictor
        if predictor is None or self._batcher is not None:
            return None
        rows = _rows(inputs)
        per_row = max(rows, 1)
        timer = self._timer
        if timer.calls < 3 or timer.average_s * per_row >= self._inline_below_s:
            return None
        start = perf_counter()
        outputs = predictor.infer(inputs)
        timer.record((perf_counter() - start) / per_row)
        for observer in self.batch_observers:
            observer(rows)
        return outputs

    def _timed_infer(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        assert self._predictor is not None
        timer = self._timer
        start = timer.now()
        outputs = self._predictor.infer(inputs)
        # Per row, so that one large request is not predicted to be as fast as a small one.
        timer.record((timer.now() - start) / max(rows, 1))
        return outputs

    def _observe_batch(self, rows: int) -> None:
        for observer in self.batch_observers:
            observer(rows)

    async def close(self) -> None:
        """Finish the queued requests and stop the batcher."""
        if self._batcher is not None:
            await self._batcher.close()

    def __repr__(self) -> str:
        return f"<ServedModel {self.name}:{self.version} on {self.runtime}/{self.device}>"


def batchable(signature: Signature) -> bool:
    """Whether requests may be merged: every input and output has a symbolic first dim."""
    tensors = [*signature.inputs, *signature.outputs]
    return bool(signature.inputs) and all(
        spec.shape and not isinstance(spec.shape[0], int) for spec in tensors
    )


def _rows(inputs: dict[str, np.ndarray]) -> int:
    for value in inputs.values():
        shape = getattr(value, "shape", ())
        return int(shape[0]) if shape else 1
    return 1


class ModelRepository:
    """The models one server process serves.

    ``sources`` lists artifact references (``name:version``, ``name@sha256:...``, resolved in
    ``store``), artifact directory URIs, :class:`interlock.Artifact` objects, or store roots
    (every version of every artifact in the store is served). :meth:`load` loads every model;
    then ``ready`` is true until :meth:`start_draining`.

    One repository serves one asyncio event loop (the servers of one process share it).
    """

    def __init__(
        self,
        sources: Sequence[str | Artifact],
        *,
        store: str | None = None,
        runtime: str = "onnxruntime",
        device: str = "cpu",
        runtime_options: dict[str, Any] | None = None,
        batching: BatchingOptions | None = None,
        workers: int | None = None,
        text_engine: str | None = None,
    ) -> None:
        if isinstance(sources, str) or not sources:
            raise ArtifactError(
                "a model repository needs a list of sources, got "
                + (repr(sources) if sources else "none"),
                hint="pass a list such as ['path/to/store'] or ['model:1'] with store=...",
            )
        self.sources = list(sources)
        self.store = store
        self.runtime = runtime
        self.device = device
        self.runtime_options = dict(runtime_options or {})
        self.batching = batching or BatchingOptions()
        #: The text engine that generates for text-generation artifacts (None: interlock's).
        self.text_engine = text_engine
        if text_engine is not None:  # an unknown engine fails here, text models served or not
            from interlock.plugins import get_registry

            get_registry().get("text_engine", text_engine)
        self._workers = workers or min(8, max(2, os.cpu_count() or 2))
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._models: dict[str, dict[str, ServedModel]] = {}
        self._loaded = False
        self._draining = False

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Every model is loaded and the server is not draining."""
        return self._loaded and not self._draining

    @ready.setter
    def ready(self, value: bool) -> None:
        # Setting False is how a server announces it is draining; True undoes it.
        if value and not self._loaded:
            raise ValueError("load() the repository before marking it ready")
        self._draining = not value

    def start_draining(self) -> None:
        """Report not-ready from now on (in-flight and arriving requests are still served)."""
        self._draining = True

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The worker threads runtime calls run in."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="interlock-infer"
            )
        return self._executor

    def load(self) -> None:
        """Resolve every source, load every model's predictor, then become ready.

        Raises :class:`interlock.ArtifactError` (and subclasses) naming the source that could
        not be resolved, and whatever the runtime raises for a model it cannot load.
        """
        if self._loaded:
            return
        models: dict[str, dict[str, ServedModel]] = {}
        for artifact in self._resolve():
            versions = models.setdefault(artifact.name, {})
            known = versions.get(artifact.version)
            if known is not None:
                if known.digest != artifact.digest:
                    raise ArtifactError(
                        f"two different artifacts claim '{artifact.name}:{artifact.version}': "
                        f"{known.artifact.uri} and {artifact.uri}",
                        hint="serve only one of them, or give one a different version",
                    )
                continue
            versions[artifact.version] = ServedModel(artifact, self)
        for versions in models.values():
            for model in versions.values():
                model.load()
                model.versions = list(versions)
        self._models = models
        self._loaded = True

    def _resolve(self) -> list[Artifact]:
        from interlock.artifacts import Artifact, load_artifact, open_store

        artifacts: list[Artifact] = []
        for source in self.sources:
            if isinstance(source, Artifact):
                artifacts.append(source)
                continue
            if not isinstance(source, str) or not source:
                raise ArtifactError(
                    f"model source {source!r} is neither an artifact nor a string",
                    hint="pass artifact references, artifact directories or store roots",
                )
            if _is_reference(source, self.store):
                artifacts.append(load_artifact(source, store=self.store))
            elif _is_artifact_directory(source):
                artifacts.append(load_artifact(source))
            else:
                store = open_store(source)
                names = store.names()
                if not names:
                    raise ArtifactNotFoundError(
                        f"{source!r} is neither an artifact directory nor a store holding "
                        "artifacts",
                        hint="check the path; save models with "
                        "interlock.save_artifact(model, store_root, name=..., version=...)",
                    )
                for name in names:
                    for version in store.versions(name):
                        artifacts.append(load_artifact(f"{name}:{version}", store=store))
        return artifacts

    async def close(self) -> None:
        """Drain every batcher and stop the worker threads."""
        for model in self.models():
            await model.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- lookup ------------------------------------------------------------------------------

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model ``name`` at ``version`` (the newest version when None or empty).

        Raises :class:`interlock.ArtifactNotFoundError` naming what was asked and what exists.
        """
        if not self._loaded:
            raise OverloadedError(
                "the model repository is still loading",
                retry_after=1.0,
                hint="wait until the server reports ready (GET /v2/health/ready)",
            )
        versions = self._models.get(name)
        if versions is None:
            served = ", ".join(sorted(self._models)) or "none"
            raise ArtifactNotFoundError(
                f"model {name!r} is not served (served models: {served})",
                hint="check the model name, or list them with GET /v2/models/<name>",
            )
        if not version:
            return next(reversed(versions.values()))
        model = versions.get(version)
        if model is None:
            raise ArtifactNotFoundError(
                f"model {name!r} has no version {version!r} (versions: {', '.join(versions)})",
                hint="omit the version to use the newest one",
            )
        return model

    def models(self) -> list[ServedModel]:
        """Every served model version, by name then version order."""
        return [m for versions in self._models.values() for m in versions.values()]

    def __repr__(self) -> str:
        state = "ready" if self.ready else ("draining" if self._draining else "not loaded")
        return f"<ModelRepository {len(self.models())} model version(s), {state}>"


def _is_reference(source: str, store: str | None) -> bool:
    """``name``, ``name:version`` or ``name@sha256:...`` (unless, without a store, a local
    directory of that name exists: then the user meant the directory)."""
    from interlock.artifacts import parse_ref

    if parse_ref(source) is None:
        return False
    return store is not None or not os.path.isdir(source)


def _is_artifact_directory(source: str) -> bool:
    """Whether a location holds ``manifest.json`` itself (one artifact, not a store)."""
    import fsspec

    from interlock.artifacts import MANIFEST_FILE

    try:
        fs, path = fsspec.core.url_to_fs(source)
    except (ValueError, ImportError):  # a store's own scheme (triton://, mlflow+sqlite://)
        return False
    return bool(fs.exists(f"{path.rstrip('/')}/{MANIFEST_FILE}"))


if TYPE_CHECKING:
    from interlock.servers import Model, Repository

    def _the_kit_satisfies_the_server_protocols(
        repository: ModelRepository, model: ServedModel
    ) -> tuple[Repository, Model]:
        # Checked by mypy only: the kit's classes are what every server is written against.
        return repository, model

