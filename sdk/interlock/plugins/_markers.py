"""The pluggy markers of the ``interlock`` project, made once."""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "interlock"

#: Marks a function in :mod:`interlock.hookspecs` as a hook specification.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Marks a plugin function as an implementation of an interlock hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
