# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The LiteLLM proxy's releases: hash-pinned requirements and one virtualenv per requirements set.

Layout under litellm_proxy_venv (the venv root)::

    <root>/releases/<sha256 of the requirements>/   one virtualenv per requirements set
    <root>/releases/<sha256>/requirements.txt        what was installed into it
    <root>/releases/<sha256>/.installed              written after pip succeeded
    <root>/current -> releases/<sha256>              what the service runs (ExecStart)

A host from before releases has its virtualenv flat in <root> (<root>/bin/python): the role
points ``current`` at ``.`` (that flat virtualenv) first, so that the service keeps running it,
then switches to the new release like on any upgrade. The flat virtualenv counts as a previous
release until it is pruned.

pip's hash-checking mode (``--require-hashes``) refuses any requirement that is not pinned
with ``==`` and carries no ``--hash``; requirement_problems applies the same rule before the
role changes anything, so that the message names the variable.
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.keyless.wif.plugins.module_utils.wif import proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.host_layout import PROXY_CURRENT_LINK, PROXY_RELEASES_DIR

RELEASES_DIR = PROXY_RELEASES_DIR
CURRENT_LINK = PROXY_CURRENT_LINK
LEGACY_TARGET = "."
INSTALLED_MARKER = ".installed"
REQUIREMENTS_NAME = "requirements.txt"
# What a flat (pre-releases) virtualenv holds directly in the venv root.
LEGACY_ENTRIES = ("bin", "include", "lib", "lib64", "share", "pyvenv.cfg", REQUIREMENTS_NAME)
DEFAULT_KEEP = 2
# Hex digits of the sha256 in a release's directory name (short enough for a #! line).
ID_LENGTH = 16

NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
EXTRAS_CLASS = r"[A-Za-z0-9._, -]*"
EXTRAS_RE = r"(?:\[%s\])?" % EXTRAS_CLASS
PIN_RE = re.compile(r"(?P<name>%s)%s\s*==\s*(?P<version>[A-Za-z0-9.+!_-]+)\s*(?P<marker>;[^-]*)?(?P<rest>.*)"
                    % (NAME_RE.pattern, EXTRAS_RE))
# Any requirement line's project name and extras (pinned or not).
REQUIREMENT_RE = re.compile(r"(?P<name>%s)\s*(?:\[(?P<extras>%s)\])?" % (NAME_RE.pattern, EXTRAS_CLASS))
HASH_RE = re.compile(r"--hash[= ]sha256:([0-9a-f]{64})")
HASH_OPTION_RE = re.compile(r"--hash[= ]\S*")
HASH_RULE = ('every requirement must be pinned with "==" and carry at least one "--hash=sha256:<64 hex digits>" '
             '(pip install --require-hashes, because LiteLLM 1.82.7 and 1.82.8 shipped a credential stealer, BerriAI '
             '#24512); generate the hashes with pip-compile --generate-hashes or scripts/pin-proxy-requirements, or set '
             'litellm_proxy_require_hashes: false to accept unhashed requirements')


# LiteLLM's extra that pulls prometheus-client in (litellm 1.108.14: prometheus-client>=0.20.0,<1.0).
PROMETHEUS_EXTRA = ("litellm", "proxy-runtime")
PROMETHEUS_RULE = ("LiteLLM's Prometheus callback imports prometheus-client (litellm_proxy_prometheus, or prometheus in "
                   "litellm_proxy_litellm_settings callbacks); add a pinned prometheus-client line (LiteLLM 1.108.14 "
                   "takes >=0.20.0,<1.0) or set litellm_proxy_prometheus: false")


def logical_lines(text):
    """(line number, text) of each requirement line: continuations joined, comments and blank lines dropped."""
    result, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        line = line.rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            result.append((start, line))
    if pending.strip():
        result.append((start, pending.strip()))
    return result


def parse_requirement(line):
    """{'name', 'version', 'hashes'} of a pinned, hashed line, or None with the reason."""
    match = PIN_RE.fullmatch(line)
    if not match:
        return None, "is not pinned with ==" if not line.startswith("-") else "is a pip option, not a pinned requirement"
    rest = match.group("rest")
    hashes = HASH_RE.findall(rest)
    leftover = HASH_OPTION_RE.sub("", rest).strip()
    if leftover:
        return None, "holds %r, which is not a --hash option" % leftover[:40]
    if not hashes or len(hashes) != len(HASH_OPTION_RE.findall(rest)):
        return None, "has no --hash=sha256:<64 hex digits>"
    return {"name": match.group("name"), "version": match.group("version"), "hashes": hashes}, ""


def requirement_problems(text):
    """[(line number, rule)] of the lines pip --require-hashes would refuse (empty when all are pinned and hashed)."""
    problems = []
    lines = logical_lines(text)
    if not lines:
        return [(0, "holds no requirement")]
    for number, line in lines:
        parsed, reason = parse_requirement(line)
        if parsed is None:
            problems.append((number, "%s: %s" % (reason, line.split(" ", 1)[0][:60])))
    return problems


def canonical_name(name):
    """A project name as PEP 503 compares them (prometheus_client == Prometheus.Client == prometheus-client)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def provides(text, package, extra_of=None):
    """Whether the requirements text installs PACKAGE: a line naming it, or (extra_of = (project, extra))
    a line of project with that extra, which pulls it in."""
    wanted = canonical_name(package)
    for _number, line in logical_lines(text):
        match = REQUIREMENT_RE.match(line)
        if not match:
            continue
        name = canonical_name(match.group("name"))
        if name == wanted:
            return True
        if extra_of and name == canonical_name(extra_of[0]):
            extras = [canonical_name(item.strip()) for item in (match.group("extras") or "").split(",")]
            if canonical_name(extra_of[1]) in extras:
                return True
    return False


def prometheus_client_missing(settings, text):
    """Whether LiteLLM's Prometheus callback is on (litellm_proxy_prometheus, or listed in
    litellm_proxy_litellm_settings) while the requirements text installs no prometheus-client."""
    return (proxy_config.uses_prometheus(proxy_config.litellm_settings(settings))
            and not provides(text, proxy_config.PROMETHEUS_PACKAGE, PROMETHEUS_EXTRA))


def requirements_text(packages):
    """The requirements file the role writes for litellm_proxy_packages."""
    return "# Managed by keyless.wif.litellm_proxy (litellm_proxy_packages)\n" + "".join("%s\n" % line for line in packages)


def release_id(text):
    """A release's name: the sha256 of its requirements file's text (its first ID_LENGTH hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


def release(venv_root, text):
    """Paths of the release that installs the requirements text under venv_root."""
    root = venv_root.rstrip("/")
    name = release_id(text)
    path = "%s/%s/%s" % (root, RELEASES_DIR, name)
    return {
        "id": name,
        "root": root,
        "releases_dir": "%s/%s" % (root, RELEASES_DIR),
        "venv": path,
        "link_target": "%s/%s" % (RELEASES_DIR, name),
        "requirements": "%s/%s" % (path, REQUIREMENTS_NAME),
        "marker": "%s/%s" % (path, INSTALLED_MARKER),
        "python": "%s/bin/python" % path,
        "pip": "%s/bin/pip" % path,
        "litellm": "%s/bin/litellm" % path,
        "current": current_link(root),
        "legacy_python": "%s/bin/python" % root,
    }


def current_link(venv_root):
    return "%s/%s" % (venv_root.rstrip("/"), CURRENT_LINK)


def current_python(venv_root):
    """The interpreter of the release the service runs."""
    return "%s/bin/python" % current_link(venv_root)


def current_executable(venv_root, name):
    return "%s/bin/%s" % (current_link(venv_root), name)


def prune(venv_root, installed, current, keep=DEFAULT_KEEP, legacy_mtime=None):
    """Paths to remove so that at most keep releases remain besides current, the newest kept.

    installed: [{'path': <release dir or its .installed marker>, 'mtime': <its mtime>}] (the role
    touches a release's marker when it becomes current, so the newest is the one last run);
    current: the current link's target (``releases/<id>``, or ``.`` for a flat virtualenv from
    before releases, which counts as a release dated legacy_mtime).
    """
    root = venv_root.rstrip("/")
    candidates = []
    for item in installed:
        path = item["path"].rstrip("/")
        if path.endswith("/" + INSTALLED_MARKER):
            path = path.rsplit("/", 1)[0]
        target = "%s/%s" % (RELEASES_DIR, path.rsplit("/", 1)[-1])
        if target != current:
            candidates.append((float(item["mtime"]), target))
    if legacy_mtime is not None and current != LEGACY_TARGET:
        candidates.append((float(legacy_mtime), LEGACY_TARGET))
    candidates.sort(reverse=True)
    remove = []
    for _mtime, target in candidates[max(int(keep), 0):]:
        if target == LEGACY_TARGET:
            remove.extend("%s/%s" % (root, entry) for entry in LEGACY_ENTRIES)
        else:
            remove.append("%s/%s" % (root, target))
    return remove


def requirements_choice(settings, host_file, host_text, role_text):
    """(text, source variable) of the requirements the role installs.

    host_file: the file on the host chosen by proxy_config.requirements_source ("" for none) and
    host_text its content; role_text: the role's own files/requirements.txt.
    """
    if host_file:
        if host_file == (settings.get("litellm_proxy_requirements_file") or ""):
            return host_text, "litellm_proxy_requirements_file (%s)" % host_file
        return host_text, "litellm_proxy_wheelhouse (%s)" % host_file
    packages = settings.get("litellm_proxy_packages") or []
    if packages:
        return requirements_text(packages), "litellm_proxy_packages"
    return role_text, "the role's files/requirements.txt"
