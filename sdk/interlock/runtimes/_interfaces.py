"""Inference runtimes (the component) and predictors (a loaded model), spec: runtime.md.

A vendor's predictor implements ``_run`` only. Everything a caller relies on (validating inputs
against the signature, checking what the runtime returns, mapping Arrow to tensors and back)
lives in the base class, so that every runtime behaves the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from interlock.plugins import Component, parse_options
from interlock.errors import DeviceUnavailableError, InterlockError, PluginError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from pydantic import BaseModel

    from interlock.artifacts import Artifact
    from interlock.plugins import PluginInfo
    from interlock.tensors import ColumnMapping, Signature
    from interlock.tensors import SignatureChecks
    from interlock.tensors import ArrowMapping

__all__ = ["Predictor", "Runtime", "parse_device"]


def parse_device(device: str) -> tuple[str, int | None]:
    """Split ``"cuda:1"`` into ``("cuda", 1)`` and ``"cpu"`` into ``("cpu", None)``.

    Raises :class:`interlock.DeviceUnavailableError` when the string is not ``kind`` or
    ``kind:index`` with a lower-case kind and a non-negative integer index.
    """
    kind, sep, index = device.partition(":") if isinstance(device, str) else ("", "", "")
    if kind and kind.isalnum() and kind.islower() and (not sep or index.isdigit()):
        return kind, int(index) if sep else None
    raise DeviceUnavailableError(
        f"malformed device {device!r}",
        hint="write a device as 'kind' or 'kind:index', for example 'cpu', 'cuda' or 'cuda:1'",
    )


class Predictor(ABC):
    """A model loaded by a runtime, ready to run.

    A runtime implements ``_run`` only; the base class validates inputs against the signature
    (``infer``), checks what ``_run`` returns, and maps Arrow record batches to tensors and back
    (``predict``). Subclasses call ``super().__init__(...)`` once the model is loaded, so that
    the per-tensor checks are prepared at load time rather than on every call.
    """

    signature: Signature
    columns: ColumnMapping
    #: Name of the runtime component that loaded it, and the device it runs on.
    runtime_name: str
    device: str
    #: What error messages call the model, usually ``name:version``.
    model: str = ""

    def __init__(
        self,
        signature: Signature,
        columns: ColumnMapping | None = None,
        *,
        runtime_name: str,
        device: str = "cpu",
        model: str = "",
    ) -> None:
        from interlock.tensors import ColumnMapping

        self.signature = signature
        self.columns = columns if columns is not None else ColumnMapping.identity(signature)
        self.runtime_name = runtime_name
        self.device = device
        self.model = model
        self._prepare()

    def _prepare(self) -> SignatureChecks:
        # Done once: everything the hot path needs is looked up here.
        from interlock.tensors import SignatureChecks

        checks = SignatureChecks(self.signature, runtime=self.runtime_name, model=self.model)
        self._interlock_checks = checks
        return checks

    @abstractmethod
    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on validated inputs; return every output tensor by name.

        ``inputs`` holds exactly the signature's inputs, each a NumPy array of the declared
        dtype and shape (string tensors as object arrays of ``str``). Return NumPy arrays of
        the declared output dtypes and shapes; anything else is reported as a
        :class:`interlock.SpecViolation` naming the runtime and the tensor, whose
        ``requirement`` is ``"RT-020"``.
        """

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check ``inputs`` against the signature, run, and return every output by name.

        Raises :class:`interlock.SignatureMismatch` naming the tensor, expected and received:
        a missing or unexpected name, a non-array, a different dtype (never cast silently), a
        different rank or fixed dimension, or two dimensions of the same symbolic name that
        disagree. String inputs may be object arrays of ``str`` or NumPy ``str_`` arrays.
        """
        try:
            checks = self._interlock_checks
        except AttributeError:  # a subclass that did not call Predictor.__init__
            checks = self._prepare()
        feed = checks.check_inputs(inputs)
        try:
            outputs = self._run(feed)
        except InterlockError as exc:
            if exc.component is None:
                exc.component = self.runtime_name
            raise
        except Exception as exc:
            plugin = _plugin_of(self.runtime_name)
            origin = f" from {plugin.origin}" if plugin else ""
            raise PluginError(
                f"runtime {self.runtime_name!r}{origin} failed while running {checks.label}: "
                f"{type(exc).__name__}: {exc}",
                plugin=plugin.name if plugin else None,
                component=self.runtime_name,
            ) from exc
        return checks.check_outputs(outputs, feed)

    def predict(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
        """Arrow in, Arrow out: map columns to tensors as the manifest says, run, map back.

        Accepts a record batch, a table, or any object with ``__arrow_c_array__`` or
        ``__arrow_c_stream__``; returns one record batch holding the output columns, one row
        per input row.
        """
        try:
            mapping = self._interlock_mapping
        except AttributeError:
            from interlock.tensors import ArrowMapping

            mapping = self._interlock_mapping = ArrowMapping(self.signature, self.columns)
        record_batch = mapping.as_record_batch(batch)
        outputs = self.infer(mapping.to_tensors(record_batch))
        return mapping.to_batch(outputs, record_batch.num_rows)

    def __repr__(self) -> str:
        label = f" {self.model!r}" if self.model else ""
        return f"<{type(self).__name__}{label} on {self.runtime_name}/{self.device}>"

    if TYPE_CHECKING:
        _interlock_checks: SignatureChecks
        _interlock_mapping: ArrowMapping


def _plugin_of(runtime_name: str) -> PluginInfo | None:
    """The loaded plugin that provides the runtime called ``runtime_name``, if any."""
    from interlock.plugins import loaded_registry

    registry = loaded_registry()  # only a registry that is already loaded; never load one here
    if registry is None:
        return None
    try:
        return registry.owner(registry.get("runtime", runtime_name))
    except InterlockError:
        return None


class Runtime(Component, ABC, kind="runtime"):
    """An inference runtime component.

    ``devices`` lists the device kinds it can run on (``"cpu"``, ``"cuda"``, ...). A vendor
    implements ``load``; overriding :attr:`options_model` (a pydantic model with
    ``extra="forbid"``) lets :meth:`parse_options` validate user options with a message that
    names the bad option and lists the valid ones.
    """

    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    @abstractmethod
    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        """Load ``artifact`` on ``device`` with runtime-specific ``options``.

        Raise :class:`interlock.DeviceUnavailableError` when the device cannot be used.
        """

    @property
    def options_model(self) -> type[BaseModel] | None:
        """The pydantic model of this runtime's options, or None if it takes none.

        A property, so that the options module (and pydantic) is imported when options are
        parsed, never when the plugin is loaded.
        """
        return None

    def parse_options(self, options: Mapping[str, Any]) -> Any:
        """Validate ``options`` against :attr:`options_model` and return the model instance.

        Raises :class:`interlock.InterlockError` naming the runtime and the offending option,
        with the valid options in the hint.
        """
        return parse_options(self, self.options_model, options,
                             without_options="call load_predictor() without runtime options")

    def check_device(self, device: str) -> tuple[str, int | None]:
        """Parse ``device`` and check that this runtime supports its kind.

        Returns ``(kind, index)``; raises :class:`interlock.DeviceUnavailableError` naming the
        device and the kinds this runtime supports.
        """
        kind, index = parse_device(device)
        if kind not in self.devices:
            raise DeviceUnavailableError(
                f"runtime {self.name!r} does not run on device {device!r} "
                f"(it supports: {', '.join(self.devices)})",
                hint="choose one of those devices, or another runtime "
                "('interlock plugins' lists them)",
                component=self.name,
            )
        return kind, index
