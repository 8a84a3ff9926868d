"""The smallest MLServer runtime that serves an ONNX model with onnxruntime.

MLServer has no ONNX runtime of its own; this is the custom runtime its documentation
describes (an ``MLModel`` subclass with ``load`` and ``predict``), written the way a user
would write it: MLServer's ``NumpyCodec`` decodes each input and encodes each output. It runs
inside MLServer's own virtualenv (``benchmarks/.venv-mlserver``), which the serving benchmark
creates; nothing in interlock imports it.

``model-settings.json``::

    {"name": "mlp", "implementation": "mlserver_runtime.OnnxModel",
     "parameters": {"uri": "/path/to/model.onnx"}}
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    """An ONNX model run by onnxruntime on the CPU, one intra-op thread (as every side of
    the benchmark)."""

    async def load(self) -> bool:
        """Open the ONNX file named by the model's ``parameters.uri``."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        uri = self.settings.parameters.uri if self.settings.parameters else None
        if not uri:
            raise ValueError("model-settings.json needs parameters.uri: the ONNX file")
        self._session = ort.InferenceSession(
            uri, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._output_names = [output.name for output in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Decode the inputs with NumpyCodec, run the session, encode every output."""
        feed = {item.name: NumpyCodec.decode_input(item) for item in payload.inputs}
        results: list[np.ndarray] = self._session.run(None, feed)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[
                NumpyCodec.encode_output(name, value)
                for name, value in zip(self._output_names, results)
            ],
        )
