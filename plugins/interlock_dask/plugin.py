"""Hook implementations of the ``interlock_dask`` plugin (being built: it registers no component yet)."""

from __future__ import annotations
