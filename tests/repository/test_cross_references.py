"""Facts the shipped collection shares with the repository's own tooling (molecule scenarios,
scripts/wheelhouse). These read files that do not ship, so they live outside tests/unit, which
ships and runs from the installed collection under ansible-test units."""

from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import DIAGNOSES
from ansible_collections.keyless.wif.plugins.module_utils.wif.host_layout import WHEELHOUSE_REQUIREMENTS

REPO = Path(__file__).resolve().parents[2]


def test_every_code_the_scenarios_and_the_role_expect_is_in_the_table():
    used = set()
    for path in list((REPO / "extensions/molecule").rglob("*.yml")) + list((REPO / "roles/verify").rglob("*.yml")):
        used |= set(re.findall(r"verify_expect: ['\"]?([a-z_]+)", path.read_text()))
        used |= set(re.findall(r"diagnosis\.code == '([a-z_]+)'", path.read_text()))
    used.discard("ok")
    assert used and used <= set(DIAGNOSES), used - set(DIAGNOSES)


def test_the_wheelhouse_packs_the_role_pins_under_the_name_the_role_looks_for():
    script = (REPO / "scripts" / "wheelhouse").read_text()
    assert 'REQ="${KEYLESS_PROXY_REQUIREMENTS:-$ROOT/roles/litellm_proxy/files/requirements.txt}"' in script
    assert 'cp "$REQ" "$tmp/%s"' % WHEELHOUSE_REQUIREMENTS in script
