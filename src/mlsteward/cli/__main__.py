"""``python -m mlsteward.cli``: the same as the ``mlsteward`` command."""

from . import main

main()
