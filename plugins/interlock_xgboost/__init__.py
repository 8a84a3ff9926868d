"""interlock's exporter for XGBoost models (through onnxmltools).

Registered through the ``interlock`` entry-point group like any vendor plugin; the component is
the exporter ``xgboost`` (see ``docs/xgboost.md``).
"""
