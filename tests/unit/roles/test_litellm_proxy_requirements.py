"""The proxy's pins have one home, roles/litellm_proxy/files/requirements.txt."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
PINS = REPO / "roles" / "litellm_proxy" / "files" / "requirements.txt"


def pinned_lines(path):
    """The requirement lines without their --hash options (tests/repository checks the hashes)."""
    return [re.sub(r"\s+--hash=\S+", "", line.strip()) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_proxy_package_is_pinned():
    lines = pinned_lines(PINS)
    assert lines[:2] == ["litellm==1.108.14", "google-auth==2.63.0"]
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9._-]*==[0-9][0-9a-z.]*", line) for line in lines), lines


def test_the_role_installs_its_pins_unless_told_otherwise():
    defaults = yaml.safe_load((REPO / "roles/litellm_proxy/defaults/main.yml").read_text())
    assert defaults["litellm_proxy_packages"] == []
    assert "litellm_proxy_version" not in defaults and "litellm_proxy_google_auth_version" not in defaults
    requirements = (REPO / "roles/litellm_proxy/tasks/requirements.yml").read_text()
    assert "lookup('ansible.builtin.file', 'requirements.txt', rstrip=false)" in requirements


def test_no_second_copy_of_the_pins():
    assert not (REPO / "requirements-proxy.txt").exists()
    for path in [REPO / "roles/litellm_proxy/defaults/main.yml", REPO / "roles/litellm_proxy/meta/argument_specs.yml"]:
        assert "1.108.14" not in path.read_text(), path
