"""The ``interlock`` command line: a thin shell over the public API.

Names are imported on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock._facade import lazy_exports

_EXPORTS: dict[str, str] = {
    "check_output_directory": "_options",
    "main": "_main",
    "run_quickstart": "_quickstart",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; kept equal to _EXPORTS by a test
    from interlock.cli._options import (
        check_output_directory as check_output_directory,
    )
    from interlock.cli._main import (
        main as main,
    )
    from interlock.cli._quickstart import (
        run_quickstart as run_quickstart,
    )
