"""What the built tarball holds: the collection, its user docs and the tests that run from an
installed copy (tests/unit, tests/sanity), and nothing of the development tooling."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from .publishing import GALAXY, REPO

# Top-level entries a release may hold. Anything new must be decided on: ship it here, or
# add it to build_ignore in galaxy.yml.
SHIPPED_TOP_LEVEL = {
    "CHANGELOG.rst",
    "COPYING",
    "FILES.json",
    "MANIFEST.json",
    "README.md",
    "changelogs",
    "docs",
    "meta",
    "playbooks",
    "plugins",
    "requirements.txt",
    "roles",
    "tests",
}
# Under tests/ only what ansible-test runs from the installed collection.
SHIPPED_TESTS = {"config.yml", "unit", "sanity"}
# Never in a release at any depth.
NEVER_SHIPPED = re.compile(r"(^|/)(__pycache__|\.pytest_cache|\.ruff_cache|\.venv[^/]*|\.git|\.cache|\.ansible)(/|$)|\.pyc$|\.tar\.gz$")
UNSHIPPED_DOCS = {"docs/emulator.md", "docs/internal-emulator-interface.md", "docs/test-hosts.md", "docs/contributing.md"}
# Paths the shipped unit tests read from the checkout although they do not ship: none. Checks
# that tie the collection to the repository's tooling live in tests/repository, which does not ship.
KNOWN_UNSHIPPED_READS: set[tuple[str, str]] = set()


def members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as archive:
        return [m.name.removeprefix("./") for m in archive.getmembers()]


def test_the_tarball_holds_only_what_ships(collection_tarball):
    names = members(collection_tarball)
    assert {n.split("/", 1)[0] for n in names} <= SHIPPED_TOP_LEVEL
    assert {n.split("/")[1] for n in names if n.startswith("tests/") and n.count("/") >= 1} <= SHIPPED_TESTS
    assert [n for n in names if NEVER_SHIPPED.search(n)] == []
    assert UNSHIPPED_DOCS.isdisjoint(names)


def test_the_tarball_holds_what_users_and_galaxy_need(collection_tarball):
    names = set(members(collection_tarball))
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
    required = {
        "README.md",
        "COPYING",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "requirements.txt",
        "changelogs/changelog.yaml",
        "playbooks/site.yml",
        "playbooks/verify.yml",
        "playbooks/teardown.yml",
        "docs/examples/inventory/aws_ec2.yml",
        "docs/examples/execution-environment/execution-environment.yml",
        *(f"roles/{role}/README.md" for role in roles),
        *(f"roles/{role}/meta/argument_specs.yml" for role in roles),
    }
    assert required - names == set()
    assert any(n.startswith("tests/unit/") and n.endswith(".py") for n in names)


def test_the_tarball_is_the_declared_version(collection_tarball):
    assert collection_tarball.name == "{namespace}-{name}-{version}.tar.gz".format(**GALAXY)


def test_the_shipped_unit_tests_import_only_shipped_code(installed_collections):
    """Collecting imports every test module: from the installed tree alone, with no checkout
    on the path, an import of something that does not ship fails here."""
    collection = installed_collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed_collections), "PYTHONPATH": str(installed_collections)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=collection,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^\d+ tests? collected", result.stdout, re.MULTILINE), result.stdout[-2000:]
    where = subprocess.run(
        [sys.executable, "-c", "import ansible_collections.keyless.wif.plugins.module_utils.wif.names as m; print(m.__file__)"],
        cwd=collection,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(installed_collections.resolve()), where


PATH_EXPRESSION = re.compile(r"\b(?:REPO|ROOT|REPO_ROOT)((?:\s*/\s*\"[^\"]+\")+)")


def paths_read_by(source: str) -> set[str]:
    """`REPO / "a" / "b/c"` → "a/b/c"."""
    return {"/".join(re.findall(r"\"([^\"]+)\"", chain)) for chain in PATH_EXPRESSION.findall(source)}


def test_paths_read_by_finds_joined_paths():
    assert paths_read_by('x = (REPO / "scripts" / "wheelhouse").read_text()\nREPO / "roles/verify"') == {"scripts/wheelhouse", "roles/verify"}


def test_the_shipped_unit_tests_read_only_shipped_files(collection_tarball):
    names = members(collection_tarball)
    shipped = set(names) | {n.rsplit("/", i)[0] for n in names for i in range(1, n.count("/") + 1)}
    reads = set()
    for name in names:
        if name.startswith("tests/unit/") and name.endswith(".py"):
            for path in paths_read_by((REPO / name).read_text()):
                # Only paths that exist in the checkout: a test may well assert that a file is absent.
                if (REPO / path).exists() and path not in shipped:
                    reads.add((name, path))
    assert reads == KNOWN_UNSHIPPED_READS


READMES = ["README.md", *sorted(f"roles/{p.name}/README.md" for p in (REPO / "roles").iterdir() if p.is_dir())]


@pytest.mark.parametrize("readme", READMES)
def test_shipped_readmes_use_absolute_links(readme):
    """Galaxy renders READMEs outside the repository: a relative link leads nowhere there."""
    links = re.findall(r"\]\(([^)]+)\)", (REPO / readme).read_text())
    assert links, "each README points to the argument specs or the docs"
    assert [link for link in links if not link.startswith(("https://", "#"))] == []
