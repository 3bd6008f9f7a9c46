"""The proxy's pins live in two places users read: they must never drift apart."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_requirements_proxy_matches_the_role_defaults():
    defaults = yaml.safe_load((REPO / "roles/litellm_proxy/defaults/main.yml").read_text())
    rendered = [
        package.replace("{{ litellm_proxy_version }}", defaults["litellm_proxy_version"]).replace(
            "{{ litellm_proxy_google_auth_version }}", defaults["litellm_proxy_google_auth_version"]
        )
        for package in defaults["litellm_proxy_packages"]
    ]
    lines = [line.strip() for line in (REPO / "requirements-proxy.txt").read_text().splitlines()]
    pinned = [line for line in lines if line and not line.startswith("#")]
    assert pinned == rendered
    assert all("==" in line for line in pinned), "every proxy package must be pinned"
