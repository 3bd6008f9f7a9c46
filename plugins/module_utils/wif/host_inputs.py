# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input rules of the host roles (external_account, litellm_proxy, verify).

Each ``check_*`` takes the role's variables keyed by their full names, raises
ValidationError naming the variable and the rule, and returns the checked values.
They run on the controller before the role changes anything on the host. Secret
values are never put into a message.
"""

from __future__ import annotations

import re

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account, health, proxy_config, proxy_release
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError, check_project, check_url

MASTER_KEY_RE = re.compile(r"sk-[A-Za-z0-9_-]{32,}")
PUBLIC_MASTER_KEYS = ("sk-1234",)
# The locations Vertex AI serves generateContent from: a region (us-central1, europe-west4,
# me-central2, northamerica-northeast1, ...), the global endpoint, or the multi-regions us and eu
# (docs/emulator.md, "Vertex AI locations"; emulator/wif_emulator/vertex.py applies the same rule).
VERTEX_LOCATION_RE = re.compile(r"global|us|eu|[a-z]+-[a-z]+[1-9][0-9]?")
VERTEX_LOCATION_RULE = ("must be a Vertex AI location: a region such as us-central1 or europe-west4, global, or the "
                        "multi-region us or eu (lower case)")
# What makes two litellm_proxy_models entries the same deployment.
DEPLOYMENT_KEYS = ("name", "model", "vertex_project", "vertex_location")
DIAGNOSIS_RE = re.compile(r"ok|[a-z][a-z_]*[a-z]")

# The credential file's rules live with its format.
check_external_account = external_account.check


def check_litellm_proxy(variables):
    var, field = inputs.prefixed(variables, "litellm_proxy_")
    state = inputs.choice(field("state"), var("state"), ("present", "absent"))
    # Removed on state=absent, so checked in both states.
    for name in ("venv", "home", "config_dir"):
        inputs.owned_dir(field(name), var(name))
    unit_name(field("service_name"), inputs.text(field("service_name"), var("service_name"), required=True),
              "must be a systemd unit name without .service")
    inputs.posix_name(field("user"), var("user"))
    inputs.posix_name(field("group"), var("group"))
    inputs.boolean(field("remove_user"), var("remove_user"))
    if state == "absent":
        return {"state": state}

    key = var("master_key")
    if not isinstance(key, str) or not MASTER_KEY_RE.fullmatch(key) or key in PUBLIC_MASTER_KEYS:
        raise ValidationError(field("master_key"), 'must be "sk-" followed by at least 32 characters of '
                              '[A-Za-z0-9_-] (LiteLLM only accepts keys starting with sk- and refuses unset or publicly '
                              'known keys); generate one with: echo "sk-$(openssl rand -hex 32)". The value is not shown')
    inputs.absolute_path(field("vertex_credentials"), var("vertex_credentials"))
    check_models(field, var("models"), var("vertex_credentials"))
    inputs.ip_address(field("listen_address"), var("listen_address"))
    inputs.integer(field("port"), var("port"), 1, 65535)
    inputs.integer(field("num_workers"), var("num_workers"), 1, 64)
    inputs.integer(field("readiness_timeout"), var("readiness_timeout"), 10, 3600)
    inputs.integer(field("tasks_max"), var("tasks_max"), 16)
    inputs.systemd_size(field("memory_max"), var("memory_max"))
    environment = inputs.mapping(field("environment"), var("environment"))
    for name, value in environment.items():
        inputs.env_name("%s key" % field("environment"), name)
        if name == "LITELLM_MASTER_KEY":
            raise ValidationError(field("environment"), "must not set LITELLM_MASTER_KEY (use litellm_proxy_master_key)")
        if isinstance(value, (dict, list)) or value is None:
            raise ValidationError("%s[%s]" % (field("environment"), name), "must be a string, number or boolean")
        inputs.hidden_line("%s[%s]" % (field("environment"), name), str(value),
                           ": an EnvironmentFile value cannot hold one")
    for index, cidr in enumerate(inputs.string_list(field("ip_address_allow"), var("ip_address_allow"))):
        inputs.ip_network("%s[%d]" % (field("ip_address_allow"), index), cidr)
    wheelhouse = inputs.text(field("wheelhouse"), var("wheelhouse"))
    index_url = inputs.text(field("pip_index_url"), var("pip_index_url"))
    if wheelhouse and index_url:
        raise ValidationError("litellm_proxy_wheelhouse, litellm_proxy_pip_index_url", "set at most one of them")
    if wheelhouse:
        inputs.absolute_path(field("wheelhouse"), wheelhouse)
    if index_url:
        check_url(field("pip_index_url"), index_url)
    if var("requirements_file"):
        inputs.absolute_path(field("requirements_file"), var("requirements_file"))
    # Empty: the role's pinned files/requirements.txt.
    for index, line in enumerate(inputs.string_list(field("packages"), var("packages"))):
        inputs.text("%s[%d]" % (field("packages"), index), line, required=True)
    check_proxy_supply_chain(variables)
    inputs.absolute_path(field("python"), var("python"))
    inputs.text(field("pip_extra_args"), var("pip_extra_args"))
    litellm_settings = inputs.mapping(field("litellm_settings"), var("litellm_settings"))
    for key, variable in proxy_config.FALLBACKS:
        if key in litellm_settings:
            raise ValidationError("%s.%s" % (field("litellm_settings"), key), "must not be set (use %s)" % variable)
    proxy_config.prometheus_enabled(variables)
    callbacks = litellm_settings.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, list):
        # LiteLLM takes a string as the path of one custom callback, so "prometheus" alone would not load it.
        raise ValidationError("%s.callbacks" % field("litellm_settings"), "must be a list (for example [prometheus])")
    proxy_config.check_routing(variables)
    if "master_key" in inputs.mapping(field("general_settings"), var("general_settings")):
        raise ValidationError(field("general_settings"), "must not set master_key (use litellm_proxy_master_key)")
    inputs.boolean(field("validate_config"), var("validate_config"))
    # What LiteLLM gets (extra_params can replace model or vertex_credentials): the rules the
    # host-side validator used to apply to the rendered file.
    proxy_config.check_config(proxy_config.build_config(variables))
    check_litellm_proxy_health(variables)
    return {"state": state}


def check_proxy_supply_chain(variables):
    """litellm_proxy_require_hashes, litellm_proxy_keep_releases and the hashes of litellm_proxy_packages.

    A requirements file on the host is checked by the role once read (the litellm_proxy_release filter).
    """
    var, field = inputs.prefixed(variables, "litellm_proxy_")
    # Unset (a caller without the role's defaults): the defaults, hashes required and two kept.
    require_hashes = inputs.boolean(field("require_hashes"), True if var("require_hashes") is None else var("require_hashes"))
    inputs.integer(field("keep_releases"), proxy_release.DEFAULT_KEEP if var("keep_releases") is None else var("keep_releases"), 0, 20)
    packages = var("packages") or []
    if require_hashes and packages and not var("requirements_file"):
        for number, rule in proxy_release.requirement_problems(proxy_release.requirements_text(packages)):
            # line 1 is the file's comment: line n is packages[n - 2]
            raise ValidationError("%s[%d]" % (field("packages"), max(number - 2, 0)), "%s; %s" % (rule, proxy_release.HASH_RULE))
    return require_hashes


def check_litellm_proxy_health(variables):
    """The health timer's variables (their rules live with the timer, in health.py)."""
    return health.check_variables(variables)


def unit_name(field, value, rule="must be a systemd unit name"):
    """A systemd unit name: inputs.UNIT_NAME_RE, not starting with a dot."""
    if not inputs.UNIT_NAME_RE.fullmatch(value) or value.startswith("."):
        raise ValidationError(field, "%s ([A-Za-z0-9:_.@-], not starting with a dot)" % rule, value)
    return value


def check_models(field, models, default_credentials):
    name = field("models")
    if not isinstance(models, (list, tuple)) or not models:
        raise ValidationError(name, "must be a non-empty list of {name, model: vertex_ai/..., vertex_project, "
                                    "vertex_location}")
    # Several entries may share a name (deployments of one model group, e.g. in two locations,
    # that LiteLLM's router balances and fails over between); the same deployment twice is refused.
    deployments = {}
    ids = {}
    for index, model in enumerate(models):
        where = "%s[%d]" % (name, index)
        if not isinstance(model, dict):
            raise ValidationError(where, "must be a dict {name, model, vertex_project, vertex_location}", model)
        inputs.text(where + ".name", model.get("name"), required=True)
        target = inputs.text(where + ".model", model.get("model"), required=True)
        if target.startswith("gemini/"):
            raise ValidationError(where + ".model", "uses LiteLLM's gemini/ provider (Google AI Studio), which ignores "
                                                    "vertex_credentials and needs an API key; for keyless access use "
                                                    "vertex_ai/%s with vertex_project and vertex_location" % target[7:],
                                  target)
        if not target.startswith("vertex_ai/") or len(target) <= len("vertex_ai/"):
            raise ValidationError(where + ".model", "must be vertex_ai/MODEL", target)
        project = inputs.text(where + ".vertex_project", model.get("vertex_project"), required=True)
        check_project(project, where + ".vertex_project")
        location = inputs.text(where + ".vertex_location", model.get("vertex_location"), required=True)
        if not VERTEX_LOCATION_RE.fullmatch(location):
            raise ValidationError(where + ".vertex_location", VERTEX_LOCATION_RULE, location)
        deployment = tuple(model.get(key) for key in DEPLOYMENT_KEYS)
        if deployment in deployments:
            raise ValidationError(where, "is the same deployment as %s[%d] (same %s): entries sharing a name must "
                                         "differ in model, vertex_project or vertex_location"
                                  % (name, deployments[deployment], ", ".join(DEPLOYMENT_KEYS)))
        deployments[deployment] = index
        info = inputs.mapping(where + ".model_info", model.get("model_info"))
        if "id" in info:
            deployment_id = inputs.text(where + ".model_info.id", info["id"], required=True)
            if deployment_id in ids:
                raise ValidationError(where + ".model_info.id", "must be unique: LiteLLM identifies a deployment by "
                                                                "it, and %s[%d] has it too" % (name, ids[deployment_id]),
                                      deployment_id)
            ids[deployment_id] = index
        if model.get("api_base"):
            check_url(where + ".api_base", inputs.text(where + ".api_base", model["api_base"]))
        inputs.absolute_path(where + ".vertex_credentials", model.get("vertex_credentials", default_credentials))
        inputs.mapping(where + ".extra_params", model.get("extra_params"))
        unknown = sorted(set(model) - {"name", "model", "vertex_project", "vertex_location", "api_base",
                                       "vertex_credentials", "extra_params", "model_info"})
        if unknown:
            raise ValidationError(where, "has unknown keys %s (put LiteLLM parameters in extra_params)"
                                  % ", ".join(unknown))


def check_verify(variables):
    var, field = inputs.prefixed(variables, "verify_")
    expect = inputs.text(field("expect"), var("expect"), required=True)
    if not DIAGNOSIS_RE.fullmatch(expect):
        raise ValidationError(field("expect"), "must be ok or a diagnosis code (lower_case)", expect)
    inputs.absolute_path(field("credentials_path"), var("credentials_path"))
    inputs.absolute_path(field("python"), var("python"))
    # Empty: the check runs in the module's own environment.
    service = inputs.text(field("service"), var("service"))
    if service:
        unit_name(field("service"), service, "must be a systemd unit name (or empty for none)")
    if var("environment_file"):
        inputs.absolute_path(field("environment_file"), var("environment_file"))
    for name in ("check_timeout", "metadata_timeout"):
        value = inputs.number(var(name))
        if value is None or value <= 0:
            raise ValidationError(field(name), "must be a positive number of seconds", var(name))
    inputs.seconds(field("propagation_timeout"), var("propagation_timeout"), 0, 7200)
    inputs.seconds(field("propagation_interval"), var("propagation_interval"), 1, 600)
    inputs.boolean(field("controller_check"), var("controller_check"))
    statuses = var("completion_retry_statuses")
    if not isinstance(statuses, list):
        raise ValidationError(field("completion_retry_statuses"), "must be a list of HTTP statuses", statuses)
    for index, status in enumerate(statuses):
        inputs.integer("%s[%d]" % (field("completion_retry_statuses"), index), status, 400, 599)
    completion = inputs.boolean(field("completion"), var("completion"))
    if completion:
        check_url(field("proxy_url"), inputs.text(field("proxy_url"), var("proxy_url"), required=True).rstrip("/"))
        key = var("master_key")
        if not isinstance(key, str) or not key or any(c in key for c in "\r\n\x00"):
            raise ValidationError(field("master_key"), "must be set when verify_completion is true (default: "
                                                       "litellm_proxy_master_key); the value is not shown")
        inputs.text(field("model"), var("model"), required=True)
        inputs.integer(field("max_tokens"), var("max_tokens"), 1, 100000)
        inputs.integer(field("completion_timeout"), var("completion_timeout"), 1, 3600)
        inputs.text(field("prompt"), var("prompt"), required=True, single_line=False)
    return {"expect": expect, "completion": completion}
