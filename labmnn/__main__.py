"""``python -m labmnn``: the command line (see :mod:`labmnn.cli`)."""

import sys

try:
    from labmnn.cli import run
except KeyboardInterrupt:  # Ctrl-C while the libraries load
    print("labmnn: interrupted", file=sys.stderr)
    sys.exit(130)

run()
