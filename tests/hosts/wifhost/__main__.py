"""Entry point: `python3 tests/hosts/wifhost ...` (or `python3 -m wifhost` from tests/hosts)."""

import sys
from pathlib import Path

if not __package__:
    # Run as a directory, Python puts this directory (not its parent) on sys.path: swap it for the parent, so the
    # modules are imported once, as the package `wifhost`, and never also as top-level `state`, `net`, ...
    package_dir = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != package_dir]
    sys.path.insert(0, str(package_dir.parent))

from wifhost.cli import main

sys.exit(main())
