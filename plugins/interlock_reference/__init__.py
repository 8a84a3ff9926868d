"""interlock's reference runtime on the pure-Python ONNX reference evaluator.

Slow, but independent of onnxruntime: the interop matrix runs every model through both and
compares (``specs/v1/runtime.md``, tolerance between runtimes). The component is the runtime
``reference`` (see ``docs/runtimes.md``).
"""
