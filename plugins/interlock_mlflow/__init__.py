"""interlock plugin: the `mlflow` artifact store (an MLflow tracking server and model registry).

Registered through the ``interlock`` entry-point group like any vendor plugin.
"""
