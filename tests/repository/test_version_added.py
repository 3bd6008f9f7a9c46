"""Every plugin's ``version_added`` names a release, and changelogs/changelog.yaml lists each plugin
under the release its ``version_added`` names.

antsibull-changelog lists a plugin as new in a release only when the plugin's ``version_added``
equals the version being released, so a plugin that ships with a later ``version_added`` is in no
"New Modules"/"New Plugins" list, and one that says an earlier release is never listed at all."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHANGELOG = REPO / "changelogs/changelog.yaml"
# Plugin directories whose files carry their own DOCUMENTATION. action/ shares its module's
# documentation, doc_fragments/, module_utils/ and plugin_utils/ are no plugins of their own.
NOT_DOCUMENTED = {"action", "doc_fragments", "module_utils", "plugin_utils"}
# Jinja2 plugin files can define several plugins; antsibull-changelog lists each name.
MULTI_NAME = {"filter": "filters", "test": "tests"}


def _version(text):
    return tuple(int(part) for part in str(text).split("."))


def _releases():
    return yaml.safe_load(CHANGELOG.read_text())["releases"]


def _documented_plugins():
    """(changelog type, name) -> version_added, read from the plugin files."""
    found = {}
    for directory in sorted((REPO / "plugins").iterdir()):
        if not directory.is_dir() or directory.name in NOT_DOCUMENTED:
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name == "__init__.py":
                continue
            tree = ast.parse(path.read_text(), str(path))
            docs = [node.value.value for node in tree.body
                    if isinstance(node, ast.Assign) and len(node.targets) == 1
                    and getattr(node.targets[0], "id", None) == "DOCUMENTATION"]
            assert docs, "%s has no DOCUMENTATION" % path.relative_to(REPO)
            version_added = yaml.safe_load(docs[0]).get("version_added")
            assert version_added is not None, "%s has no version_added" % path.relative_to(REPO)
            plugin_type = "module" if directory.name == "modules" else directory.name
            for name in _names(plugin_type, path, tree):
                found[(plugin_type, name)] = str(version_added)
    return found


def _names(plugin_type, path, tree):
    method = MULTI_NAME.get(plugin_type)
    if not method:
        return [path.stem]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == method:
            for statement in ast.walk(node):
                if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Dict):
                    return [key.value for key in statement.value.keys]
    raise AssertionError("%s: no %s() returning a dict literal" % (path.relative_to(REPO), method))


def _listed(release):
    listed = {("module", entry["name"]) for entry in release.get("modules") or []}
    for plugin_type, entries in (release.get("plugins") or {}).items():
        listed |= {(plugin_type, entry["name"]) for entry in entries or []}
    return listed


def _next_version(releases):
    major, minor = _version(max(releases, key=_version))[:2]
    return "%d.%d.0" % (major, minor + 1)


def test_the_plugin_scan_sees_every_plugin_directory():
    found = _documented_plugins()
    assert {plugin_type for plugin_type, _ in found} >= {"module", "filter", "lookup"}
    # litellm_eks_manifests.py defines three filters, all documented by its DOCUMENTATION.
    assert ("filter", "litellm_eks_inputs") in found


def test_every_version_added_is_a_release_or_the_next_version():
    releases = _releases()
    galaxy = str(yaml.safe_load((REPO / "galaxy.yml").read_text())["version"])
    allowed = set(releases) | {_next_version(releases)}
    if _version(galaxy) > _version(max(releases, key=_version)):
        allowed.add(galaxy)
    bad = {"%s %s" % key: added for key, added in _documented_plugins().items() if added not in allowed}
    assert not bad, "version_added must be one of %s: %s" % (sorted(allowed, key=_version), bad)


def test_the_newest_release_lists_exactly_the_plugins_added_in_it():
    releases = _releases()
    newest = max(releases, key=_version)
    expected = {key for key, added in _documented_plugins().items() if added == newest}
    listed = _listed(releases[newest])
    assert listed == expected, {"listed but version_added differs": sorted(listed - expected),
                                "version_added %s but not listed" % newest: sorted(expected - listed)}


def test_every_plugin_added_in_an_older_release_is_listed_there():
    releases = _releases()
    missing = {}
    for version, release in releases.items():
        expected = {key for key, added in _documented_plugins().items() if added == version}
        if expected - _listed(release):
            missing[version] = sorted(expected - _listed(release))
    assert not missing, missing


def test_no_plugin_is_listed_in_two_releases():
    seen = {}
    for version in sorted(_releases(), key=_version):
        for key in _listed(_releases()[version]):
            assert key not in seen, "%s %s is listed in %s and %s" % (*key, seen.get(key), version)
            seen[key] = version
