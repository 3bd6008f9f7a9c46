"""Host-role input rules: paths a role may own, and the EnvironmentFile reader."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif.systemd import read_environment_file
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError


@pytest.mark.parametrize("path", ["/etc/litellm", "/opt/litellm", "/var/lib/litellm", "/srv/proxy/state"])
def test_own_directories_are_accepted(path):
    assert inputs.owned_dir("d", path) == path


@pytest.mark.parametrize("path", ["/", "/etc", "/usr", "/var", "/var/lib", "/opt", "/tmp", "/litellm", "etc/x", "/etc/x/",
                                  "/etc/../x", "//etc/x", "/etc/x\n"])
def test_system_relative_and_odd_directories_are_refused(path):
    with pytest.raises(ValidationError) as caught:
        inputs.owned_dir("litellm_proxy_venv", path)
    assert caught.value.field == "litellm_proxy_venv"


@pytest.mark.parametrize(("path", "ok"), [("/etc/litellm/gcp.json", True), ("/etc/gcp.json", False),
                                          ("/gcp.json", False), ("/litellm/gcp.json", False), ("/var/gcp.json", False)])
def test_files_must_sit_in_a_directory_of_their_own(path, ok):
    if ok:
        assert inputs.owned_file("f", path) == path
    else:
        with pytest.raises(ValidationError, match="directory of its own"):
            inputs.owned_file("f", path)


def test_environment_file_round_trip(tmp_path):
    env = tmp_path / "x.env"
    env.write_text('# comment\n; other\nA="quoted \\"value\\" with \\\\ slash"\nB=plain\nC=\'single $x\'\n\n')
    assert read_environment_file(str(env)) == {"A": 'quoted "value" with \\ slash', "B": "plain", "C": "single $x"}


def test_environment_file_refuses_a_line_that_is_not_an_assignment(tmp_path):
    env = tmp_path / "x.env"
    env.write_text("export A=1\n")
    with pytest.raises(ValueError, match="line 1"):
        read_environment_file(str(env))


BAD_SCALARS = [(inputs.ip_address, "999.1.1.1"), (inputs.ip_address, ":::"), (inputs.ip_network, "10.0.0.0/33"),
               (inputs.systemd_size, "1 GB"), (inputs.env_name, "BAD KEY"), (inputs.integer, True),
               (inputs.boolean, "perhaps"), (inputs.aws_account_id, 12345)]


@pytest.mark.parametrize(("func", "value"), BAD_SCALARS)
def test_scalar_rules(func, value):
    with pytest.raises(ValidationError):
        func("field", value)
