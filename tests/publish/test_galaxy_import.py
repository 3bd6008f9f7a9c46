"""Galaxy's own importer (galaxy-importer, as galaxy.ansible.com runs it) on the built tarball:
no error, no unexplained warning, and every playbook, module, role, filter and lookup found."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .publishing import REPO

pytestmark = pytest.mark.slow

# Warnings the importer may print and why each is acceptable: {pattern: reason}. Every other
# WARNING fails the test. (None today: ansible-lint, ansible-doc, the changelog, the README and
# the execution-environment checks are all clean.)
EXPECTED_WARNINGS: dict[str, str] = {}

# galaxy-importer.cfg: the checks Galaxy runs, minus the ones that need a container engine
# (ansible-test sanity in a container; sanity runs in `scripts/test sanity` instead), and
# ansible-lint without network (no collection or schema downloads).
IMPORTER_CONFIG = """\
[galaxy-importer]
run_ansible_test = False
local_image_docker = False
ansible_test_local_image = False
run_ansible_doc = True
run_ansible_lint = True
offline_ansible_lint = True
check_changelog = True
run_flake8 = False
log_level_main = INFO
tmp_root_dir = {tmp}
ansible_local_tmp = {tmp}/ansible-local
"""


@pytest.fixture(scope="module")
def imported(publish_venv, collection_tarball, tmp_path_factory):
    """Runs the importer once; returns (its log lines, its importer_result.json)."""
    work = tmp_path_factory.mktemp("import")
    config = work / "galaxy-importer.cfg"
    config.write_text(IMPORTER_CONFIG.format(tmp=work))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
        "GALAXY_IMPORTER_CONFIG": str(config),
        # The importer calls ansible-doc and ansible-lint by name: its own, not the project's.
        "PATH": f"{publish_venv / 'bin'}:{os.environ['PATH']}",
        # Only the extracted tarball may be found (the importer points ansible-doc and
        # ansible-lint at it), never the checkout tests/conftest.py links or ~/.ansible.
        "TMPDIR": str(work),
        "HOME": str(work),
    }
    result = subprocess.run(
        [str(publish_venv / "bin" / "python"), "-m", "galaxy_importer.main", str(collection_tarball)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    log = (result.stdout + result.stderr).splitlines()
    assert result.returncode == 0, "\n".join(log[-60:])
    return log, json.loads((work / "importer_result.json").read_text())


def test_the_importer_accepts_the_tarball(imported):
    log, _ = imported
    assert "Importer processing completed successfully" in log
    assert [line for line in log if line.startswith(("ERROR", "CRITICAL", "Traceback"))] == []


def test_every_importer_warning_is_expected(imported):
    log, _ = imported
    warnings = [line for line in log if line.startswith("WARNING")]
    unexplained = [w for w in warnings if not any(re.search(pattern, w) for pattern in EXPECTED_WARNINGS)]
    assert unexplained == []


def filter_names(path: Path) -> set[str]:
    """The keys of FilterModule.filters()' returned dict literal."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == "filters":
            returned = next(n.value for n in ast.walk(node) if isinstance(n, ast.Return))
            return {key.value for key in returned.keys}
    raise AssertionError(f"{path}: no filters()")


@pytest.mark.parametrize("path", sorted((REPO / "plugins/filter").glob("[!_]*.py")), ids=lambda p: p.stem)
def test_each_filter_file_is_named_after_a_filter_it_defines(path):
    """So the name Galaxy shows for the file is a filter users can call."""
    assert path.stem in filter_names(path)


def expected_contents() -> set[tuple[str, str]]:
    plugins = REPO / "plugins"
    found = {("playbook", p.name) for p in (REPO / "playbooks").glob("*.yml")}
    found |= {("role", p.name) for p in (REPO / "roles").iterdir() if p.is_dir()}
    found |= {("module", p.stem) for p in (plugins / "modules").glob("*.py") if p.stem != "__init__"}
    found |= {("lookup", p.stem) for p in (plugins / "lookup").glob("*.py") if p.stem != "__init__"}
    # Galaxy lists plugins by file: a file with several filters (litellm_eks_manifests.py) shows
    # as its file's name, under which its documentation covers the others.
    found |= {("filter", p.stem) for p in (plugins / "filter").glob("*.py") if p.stem != "__init__"}
    return found


def test_the_importer_finds_every_playbook_module_role_filter_and_lookup(imported):
    _, result = imported
    found = {(c["content_type"], c["name"]) for c in result["contents"]}
    want = expected_contents()
    assert {("playbook", "site.yml"), ("playbook", "verify.yml"), ("playbook", "teardown.yml"), ("lookup", "host_layout")} <= want
    assert want - found == set()


def test_every_plugin_is_documented_and_every_role_has_its_readme(imported):
    _, result = imported
    docs = {(c["content_type"], c["content_name"]): c for c in result["docs_blob"]["contents"]}
    for kind, name in expected_contents():
        if kind in {"module", "filter", "lookup"}:
            assert docs[(kind, name)]["doc_strings"], (kind, name)
        if kind == "role":
            assert docs[(kind, name)]["readme_file"] == "README.md"
            assert f"keyless.wif.{name}" in docs[(kind, name)]["readme_html"]


def test_galaxy_shows_the_readme_and_only_the_shipped_docs(imported):
    _, result = imported
    blob = result["docs_blob"]
    assert "Two commands" in blob["collection_readme"]["html"]
    shown = {d["name"] for d in blob["documentation_files"]}
    assert {"modules.md", "host-roles.md", "eks.md"} <= shown
    assert shown.isdisjoint({"emulator.md", "internal-emulator-interface.md", "test-hosts.md", "contributing.md"})
    assert result["requires_ansible"] == yaml.safe_load((REPO / "meta/runtime.yml").read_text())["requires_ansible"]
