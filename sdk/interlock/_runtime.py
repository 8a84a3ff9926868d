"""Inference runtimes (the component) and predictors (a loaded model), spec: runtime.md."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from interlock._component import Component

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from interlock._artifact import Artifact
    from interlock._signature import ColumnMapping, Signature

__all__ = ["Predictor", "Runtime"]


class Predictor(ABC):
    """A model loaded by a runtime, ready to run.

    A runtime implements ``_run`` only; the base class validates inputs against the signature
    (``infer``) and maps Arrow record batches to tensors and back (``predict``).
    """

    signature: Signature
    columns: ColumnMapping
    #: Name of the runtime component that loaded it, and the device it runs on.
    runtime_name: str
    device: str

    @abstractmethod
    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on validated inputs; return every output tensor by name."""

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check ``inputs`` against the signature, run, and return every output by name.

        Raises :class:`interlock.SignatureMismatch` naming the tensor, expected and received.
        """
        raise NotImplementedError

    def predict(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Arrow in, Arrow out: map columns to tensors as the manifest says, run, map back."""
        raise NotImplementedError


class Runtime(Component, ABC):
    """An inference runtime component.

    ``devices`` lists the device kinds it can run on (``"cpu"``, ``"cuda"``, ...).
    """

    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    @abstractmethod
    def load(self, artifact: Artifact, device: str, options: dict[str, Any]) -> Predictor:
        """Load ``artifact`` on ``device`` with runtime-specific ``options``.

        Raise :class:`interlock.DeviceUnavailableError` when the device cannot be used.
        """
