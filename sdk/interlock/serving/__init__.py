"""The serving kit: model repository, dynamic batcher and serve(), built on the core contract.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "ModelRepository": "_repository",
    "ServedModel": "_repository",
    "BatchingOptions": "_batcher",
    "DynamicBatcher": "_batcher",
    "RunFunction": "_batcher",
    "RunningServer": "_serve",
    "serve": "_serve",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.serving._repository import (
        ModelRepository as ModelRepository,
        ServedModel as ServedModel,
    )
    from interlock.serving._batcher import (
        BatchingOptions as BatchingOptions,
        DynamicBatcher as DynamicBatcher,
        RunFunction as RunFunction,
    )
    from interlock.serving._serve import (
        RunningServer as RunningServer,
        serve as serve,
    )
