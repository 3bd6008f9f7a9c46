"""The collection as it ships: the tarball `ansible-galaxy collection build` makes from this
checkout, and that tarball installed the way users install it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .publishing import GALAXY, PUBLISH_VENV, REPO, TARBALL_NAME, ansible_galaxy


@pytest.fixture(scope="session")
def publish_venv() -> Path:
    python = PUBLISH_VENV / "bin" / "python"
    found = python.exists() and (PUBLISH_VENV / "bin" / "ansible-builder").exists()
    found = found and subprocess.run([str(python), "-c", "import galaxy_importer"], check=False, capture_output=True).returncode == 0
    if not found:
        pytest.fail(f"galaxy-importer or ansible-builder is missing: run scripts/bootstrap to build {PUBLISH_VENV}")
    return PUBLISH_VENV


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([ansible_galaxy(), "collection", "build", "--output-path", str(out)], cwd=REPO, check=True, capture_output=True, timeout=300)
    tarball = out / TARBALL_NAME
    assert tarball.is_file(), sorted(p.name for p in out.iterdir())
    return tarball


@pytest.fixture(scope="session")
def installed_collections(collection_tarball, tmp_path_factory) -> Path:
    """A collections path holding only the installed tarball (ansible_collections/keyless/wif)."""
    root = tmp_path_factory.mktemp("installed")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(root)}
    subprocess.run(
        [ansible_galaxy(), "collection", "install", "--force", "--offline", str(collection_tarball), "-p", str(root)],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (root / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"] / "MANIFEST.json").is_file()
    return root
