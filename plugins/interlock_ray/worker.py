"""What runs inside Ray: the predictor actor class that Ray Data's actor pool instantiates.

Ray imports this module in its worker processes by name, so it stays small and light: each
call hands the shard task (a JSON text of plain data) to ``interlock.batch.run_shard``, which
loads and verifies the model once per process (once per actor) and writes the shard's part.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ShardRunner"]


class ShardRunner:
    """A Ray Data ``map_batches`` callable class: one batch is one shard task."""

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from interlock.batch import run_shard

        results = [run_shard(json.loads(str(text))) for text in batch["task"]]
        return {
            "index": np.array([r["index"] for r in results], dtype=np.int64),
            "rows": np.array([r["rows"] for r in results], dtype=np.int64),
            "batches": np.array([r["batches"] for r in results], dtype=np.int64),
            "pid": np.array([r["pid"] for r in results], dtype=np.int64),
            "loaded": np.array([r["loaded"] for r in results], dtype=np.bool_),
        }
