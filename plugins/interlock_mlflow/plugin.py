"""Hook implementations of the ``interlock_mlflow`` plugin (being built: it registers no component yet)."""

from __future__ import annotations
