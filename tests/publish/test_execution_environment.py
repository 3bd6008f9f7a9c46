"""The execution environment: ansible-builder finds the collection's controller requirements in
the tarball (meta/execution-environment.yml), and the documented definition makes a build
context. No image is built: there is no container engine here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile

import pytest
import yaml

from .publishing import REPO

DOCUMENTED_DEFINITION = REPO / "docs/examples/execution-environment/execution-environment.yml"


def requirement_lines(path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def builder(publish_venv, *args, cwd):
    return subprocess.run([str(publish_venv / "bin" / "ansible-builder"), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=True).stdout


def test_introspection_finds_the_collection_s_python_requirements(publish_venv, installed_collections, tmp_path):
    """What ansible-builder's build stage runs on the installed collections, run here on the tarball installed."""
    meta = yaml.safe_load((REPO / "meta/execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt"}
    out = builder(publish_venv, "introspect", "--sanitize", str(installed_collections), cwd=tmp_path)
    found = yaml.safe_load(out.split("---", 1)[1])
    want = [f"{line}  # from collection keyless.wif" for line in requirement_lines(REPO / "requirements.txt")]
    assert want and found["python"] == want
    # No controller-side system package is needed, so the collection declares none.
    assert found["system"] == []


@pytest.fixture
def context_from_tarball(publish_venv, collection_tarball, tmp_path):
    """The documented definition, with keyless.wif installed from the built tarball instead of Galaxy."""
    definition = yaml.safe_load(DOCUMENTED_DEFINITION.read_text())
    shutil.copy(collection_tarball, tmp_path / collection_tarball.name)
    definition["additional_build_files"] = [{"src": collection_tarball.name, "dest": "collections"}]
    definition["additional_build_steps"] = {"prepend_galaxy": ["COPY _build/collections/ /build/collections/"]}
    galaxy = definition["dependencies"]["galaxy"]["collections"]
    galaxy[:] = [{"name": f"/build/collections/{collection_tarball.name}", "type": "file"} if c["name"] == "keyless.wif" else c for c in galaxy]
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    builder(publish_venv, "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile", cwd=tmp_path)
    return tmp_path / "context", collection_tarball.name


def test_the_build_context_installs_the_tarball_and_introspects_it(context_from_tarball):
    context, tarball_name = context_from_tarball
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "COPY _build/collections/ /build/collections/" in containerfile
    assert "ansible-galaxy collection install" in containerfile
    # The builder stage introspects the installed collections and pip-installs what they declare.
    assert re.search(r"RUN \$PYCMD /output/scripts/introspect\.py introspect .*--write-pip", containerfile)
    galaxy = yaml.safe_load((context / "_build/requirements.yml").read_text())
    assert {"name": f"/build/collections/{tarball_name}", "type": "file"} in galaxy["collections"]
    with tarfile.open(context / "_build/collections" / tarball_name) as archive:
        shipped = set(archive.getnames())
        meta = yaml.safe_load(archive.extractfile("meta/execution-environment.yml"))
        requirements = archive.extractfile("requirements.txt").read().decode()
    assert meta["dependencies"]["python"] in shipped
    assert requirements == (REPO / "requirements.txt").read_text()


def test_the_documented_definition_builds_a_context(publish_venv, tmp_path):
    shutil.copy(DOCUMENTED_DEFINITION, tmp_path / "execution-environment.yml")
    builder(publish_venv, "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename", "Containerfile", cwd=tmp_path)
    galaxy = yaml.safe_load((tmp_path / "context/_build/requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["keyless.wif", "amazon.aws"]
    containerfile = (tmp_path / "context/Containerfile").read_text()
    assert "ansible-core>=2.16,<2.22" in containerfile
    assert "introspect" in containerfile
