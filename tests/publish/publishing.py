"""Where the publishing checks find the checkout, its galaxy.yml and their own virtualenv."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# galaxy-importer and ansible-builder live in their own virtualenv (scripts/bootstrap builds it
# from tests/publish/requirements-importer.txt): they pin other ansible-core/ansible-lint ranges.
PUBLISH_VENV = Path(os.environ.get("KEYLESS_PUBLISH_VENV", REPO / ".venv-publish"))
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL_NAME = "{namespace}-{name}-{version}.tar.gz".format(**GALAXY)


def ansible_galaxy() -> str:
    """The ansible-galaxy of the interpreter running the tests (the project's .venv)."""
    path = Path(sys.executable).parent / "ansible-galaxy"
    return str(path) if path.exists() else shutil.which("ansible-galaxy")
