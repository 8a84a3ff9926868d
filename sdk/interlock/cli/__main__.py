"""``python -m interlock.cli``: the command line."""

from interlock.cli._main import main

main()
