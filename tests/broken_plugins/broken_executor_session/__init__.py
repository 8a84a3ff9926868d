"""An executor whose session starts a helper process and never stops it.

Breaks BAT-047 (the engine a session keeps is stopped when the block ends). Jobs run as the
reference local executor runs them, so nothing else fails. The helper sleeps 15 s, so that what
it leaves behind goes away on its own.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from interlock import Executor, hookimpl
from interlock_local.executor import LocalExecutor


class LeakyExecutor(LocalExecutor):
    name = "leaky"
    description = "local, with a session that leaves its helper running (deliberately broken)"

    @contextlib.contextmanager
    def _session(self) -> Iterator[dict[str, Any]]:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(15)"])
        yield {}  # broken: the helper is never stopped

    def session(self, options: Any = None) -> Any:
        return self._session()


@hookimpl
def interlock_executors() -> list[Executor]:
    return [LeakyExecutor()]
