"""Hook implementations of the ``interlock_triton`` plugin (being built: it registers no component yet)."""

from __future__ import annotations
