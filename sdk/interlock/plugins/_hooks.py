"""The hook markers, re-exported here so a plugin imports everything from ``interlock.plugins``.

They are made once, in :mod:`interlock.hookspecs`, beside the specifications they mark.
"""

from __future__ import annotations

from interlock.hookspecs import PROJECT_NAME, hookimpl, hookspec

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]
