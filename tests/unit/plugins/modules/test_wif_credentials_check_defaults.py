"""wif_credentials_check's default path is the host layout's credential path, in its docs and its argument spec."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_layout

REPO = Path(__file__).resolve().parents[4]
SOURCE = REPO / "plugins" / "modules" / "wif_credentials_check.py"


def _documentation():
    text = SOURCE.read_text()
    start = text.index('DOCUMENTATION = r"""') + len('DOCUMENTATION = r"""')
    return yaml.safe_load(text[start:text.index('"""', start)])


def test_the_documented_default_is_the_layout_s_credential_path():
    assert _documentation()["options"]["path"]["default"] == host_layout.CREDENTIAL_PATH


def test_the_argument_spec_takes_it_from_the_layout():
    text = SOURCE.read_text()
    assert 'path=dict(type="path", default=CREDENTIAL_PATH)' in text
    assert "host_layout import CREDENTIAL_PATH" in text
