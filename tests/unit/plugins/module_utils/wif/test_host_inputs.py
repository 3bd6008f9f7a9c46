"""Host-role input rules: paths a role may own, and the EnvironmentFile reader."""

from __future__ import annotations

import pytest
from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import host_inputs
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


# litellm_proxy_models: locations, several deployments of one name, model_info.
def _field(name):
    return "litellm_proxy_" + name


def _model(**change):
    return dict({"name": "gemini", "model": "vertex_ai/gemini-2.5-flash", "vertex_project": "wif-sandbox",
                 "vertex_location": "us-central1"}, **change)


def _check(models):
    return host_inputs.check_models(_field, models, "/etc/litellm/gcp.json")


@pytest.mark.parametrize("location", ["us-central1", "europe-west4", "asia-northeast1", "me-central2",
                                      "northamerica-northeast1", "europe-southwest1", "us-east5", "global", "us", "eu"])
def test_each_vertex_location_form_is_accepted(location):
    _check([_model(vertex_location=location)])


@pytest.mark.parametrize("location", ["US", "EU", "Global", "us-central", "europe", "global1", "us-central0",
                                      "us_central1", "us-central1-a", "eu-", "asia", "u s", "us.rep"])
def test_other_vertex_locations_are_refused_naming_the_field(location):
    with pytest.raises(ValidationError, match=r"^litellm_proxy_models\[0\]\.vertex_location must be a Vertex AI location: "
                                              r"a region .*global, or the multi-region us or eu"):
        _check([_model(vertex_location=location)])


def test_several_deployments_of_one_name_are_accepted():
    _check([_model(), _model(vertex_location="global"), _model(vertex_location="us"),
            _model(vertex_project="wif-other"), _model(model="vertex_ai/gemini-2.5-flash-lite")])


BAD_MODELS = [
    ([_model(), _model()], "litellm_proxy_models[1]", "same deployment as litellm_proxy_models[0] (same name, model, "
                                                      "vertex_project, vertex_location)"),
    ([_model(), _model(name="b"), _model(vertex_location="global"), _model(name="b")], "litellm_proxy_models[3]",
     "same deployment as litellm_proxy_models[1]"),
    ([_model(model_info=["id"])], "litellm_proxy_models[0].model_info", "must be a dict"),
    ([_model(model_info="x")], "litellm_proxy_models[0].model_info", "must be a dict"),
    ([_model(model_info={"id": "a"}), _model(vertex_location="global", model_info={"id": "a"})],
     "litellm_proxy_models[1].model_info.id", "must be unique"),
    ([_model(model_info={"id": ""})], "litellm_proxy_models[0].model_info.id", ""),
    ([_model(models_info={})], "litellm_proxy_models[0]", "unknown keys models_info"),
    ([_model(name="")], "litellm_proxy_models[0].name", ""),
]


@pytest.mark.parametrize(("models", "field", "rule"), BAD_MODELS)
def test_bad_models_name_the_field_and_rule(models, field, rule):
    with pytest.raises(ValidationError) as info:
        _check(models)
    assert info.value.field == field
    assert rule in info.value.rule
