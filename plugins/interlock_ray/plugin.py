"""Hook implementations of the ``interlock_ray`` plugin (being built: it registers no component yet)."""

from __future__ import annotations
