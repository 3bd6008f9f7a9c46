"""The external_account role renders the same bytes as before its document moved to Python.

tests/unit/roles/external_account_golden/*.json hold the variables of a case and the file the
role's former Jinja template (a dict built in Jinja) rendered for them. The role's template is
now one line over the external_account_config filter; it must render the same bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "external_account"
pytestmark = pytest.mark.slow
GOLDEN = sorted((Path(__file__).parent / "external_account_golden").glob("*.json"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered")
    plays = [{
        "name": case.stem,
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [{
            "name": "render %s" % case.stem,
            "ansible.builtin.template": {"src": str(ROLE / "templates" / "external_account.json.j2"),
                                         "dest": str(out / case.name), "mode": "0600"},
            # Task vars outrank the role files loaded above, as the caller's variables outrank role defaults.
            "vars": json.loads(case.read_text())["variables"],
        }],
    } for case in GOLDEN]
    playbook = out / "render.yml"
    playbook.write_text(yaml.safe_dump(plays))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", "ansible_python_interpreter=%s" % sys.executable],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_there_are_golden_cases():
    assert {case.stem for case in GOLDEN} >= {"ec2_default", "explicit_keys", "explicit_profile"}


@pytest.mark.parametrize("case", GOLDEN, ids=[case.stem for case in GOLDEN])
def test_template_renders_the_same_bytes_as_before(rendered, case):
    assert (rendered / case.name).read_text() == json.loads(case.read_text())["rendered"]


def test_template_is_one_line_over_the_filter():
    text = (ROLE / "templates" / "external_account.json.j2").read_text()
    assert text == "{{ external_account__config | to_nice_json(indent=2, sort_keys=true) }}\n"
