"""interlock's reference runtime on ONNX Runtime: CPU, and CUDA where onnxruntime-gpu is installed.

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the runtime ``onnxruntime`` (see ``docs/runtimes.md`` and ``specs/v1/runtime.md``).
"""
