"""interlock plugin: the `mlflow` artifact store (an MLflow tracking server and model registry)
and the import of models logged with MLflow's ONNX flavor.

Registered through the ``interlock`` entry-point group like any vendor plugin. Nothing heavy is
imported here: :func:`import_model` imports MLflow when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MlflowArtifactStore", "import_model"]

if TYPE_CHECKING:
    from interlock_mlflow.importing import import_model as import_model
    from interlock_mlflow.store import MlflowArtifactStore as MlflowArtifactStore


def __getattr__(name: str) -> Any:
    if name == "import_model":
        from interlock_mlflow.importing import import_model

        return import_model
    if name == "MlflowArtifactStore":
        from interlock_mlflow.store import MlflowArtifactStore

        return MlflowArtifactStore
    raise AttributeError(f"module 'interlock_mlflow' has no attribute {name!r}")
