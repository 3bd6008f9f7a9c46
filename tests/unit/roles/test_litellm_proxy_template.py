"""The litellm_proxy role renders the same bytes as before its config.yaml moved to Python.

tests/unit/roles/litellm_proxy_golden/*.json hold the variables of a case and the config.yaml
and EnvironmentFile the role's former Jinja templates (a model list and an environment built
in Jinja) rendered for them. The templates are now one line over the litellm_proxy_config and
litellm_proxy_service filters; they must render the same bytes. The former templates had no
Prometheus callback, so the cases set litellm_proxy_prometheus (added later, default true) to false.
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
ROLE = REPO / "roles" / "litellm_proxy"
pytestmark = pytest.mark.slow
GOLDEN = sorted((Path(__file__).parent / "litellm_proxy_golden").glob("*.json"))
HEADER = ("# {{ ansible_managed }}\n"
          "# LiteLLM proxy configuration. Vertex AI credentials come from the keyless external_account\n"
          "# JSON (workload identity federation); the master key comes from the service's EnvironmentFile.\n")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered")
    plays = [{
        "name": case.stem,
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [{
            "name": "render %s %s" % (template, case.stem),
            "ansible.builtin.template": {"src": str(ROLE / "templates" / template),
                                         "dest": str(out / ("%s.%s" % (case.stem, template))), "mode": "0600"},
            # Task vars outrank the role files loaded above, as the caller's variables outrank role defaults.
            "vars": json.loads(case.read_text())["variables"],
        } for template in ("config.yaml.j2", "environment.j2")],
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
    assert {case.stem for case in GOLDEN} >= {"default", "full"}


@pytest.mark.parametrize("case", GOLDEN, ids=[case.stem for case in GOLDEN])
def test_config_renders_the_same_bytes_as_before(rendered, case):
    assert (rendered / ("%s.config.yaml.j2" % case.stem)).read_text() == json.loads(case.read_text())["rendered"]


@pytest.mark.parametrize("case", GOLDEN, ids=[case.stem for case in GOLDEN])
def test_environment_file_renders_the_same_bytes_as_before(rendered, case):
    assert (rendered / ("%s.environment.j2" % case.stem)).read_text() == json.loads(case.read_text())["environment"]


def test_config_template_is_one_dump_of_the_filter():
    text = (ROLE / "templates" / "config.yaml.j2").read_text()
    assert text == HEADER + "{{ litellm_proxy__config | to_nice_yaml(indent=2, sort_keys=false) }}\n"
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert variables["litellm_proxy__config"] == "{{ litellm_proxy__variables | keyless.wif.litellm_proxy_config }}"


def test_environment_template_has_no_logic():
    text = (ROLE / "templates" / "environment.j2").read_text()
    assert "{%" not in text and text.endswith("{{ litellm_proxy__service.environment_file }}\n")


def test_the_role_runs_no_inline_python():
    for path in ROLE.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            text = path.read_text()
            assert "python -I -c" not in text and "import sys" not in text, path
    variables = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert "litellm_proxy__config_validator" not in variables
    configure = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text())
    write = next(task for task in configure if task["name"] == "Write config.yaml")
    assert "litellm_proxy__config_check" in write["ansible.builtin.template"]["validate"]
    assert "litellm_proxy__release.litellm }} --config %s --validate_config" in variables["litellm_proxy__config_check"]
