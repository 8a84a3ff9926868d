"""Runtimes and predictors: the runtime interface and loading a predictor.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "Predictor": "_interfaces",
    "Runtime": "_interfaces",
    "parse_device": "_interfaces",
    "load_predictor": "_load",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.runtimes._interfaces import (
        Predictor as Predictor,
        Runtime as Runtime,
        parse_device as parse_device,
    )
    from interlock.runtimes._load import (
        load_predictor as load_predictor,
    )
