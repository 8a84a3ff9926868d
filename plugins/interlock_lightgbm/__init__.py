"""interlock's exporter for LightGBM models (through onnxmltools).

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the exporter ``lightgbm`` (see ``docs/lightgbm.md``).
"""
