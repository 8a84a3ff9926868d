"""interlock's reference exporter for scikit-learn models (through skl2onnx).

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the exporter ``sklearn`` (see ``docs/exporters.md``).
"""
