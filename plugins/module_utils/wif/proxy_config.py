# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The LiteLLM proxy's config.yaml and service values, from the litellm_proxy role's variables.

``build_config(settings)`` makes the config.yaml document, ``problems(config)`` lists what in
it LiteLLM would not take for keyless Vertex AI access (the role refuses those before any
change, naming the variable), and ``pip_arguments``, ``probe_host``, ``readiness_url``,
``service_environment``, ``environment_file`` and ``requirements_source`` are the other values
the role derives from its variables. Nothing here touches the host.
"""

from __future__ import annotations

import ipaddress
import math
import shlex

from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

# config.yaml refers to the master key; the key itself is only in the 0600 EnvironmentFile.
MASTER_KEY_REFERENCE = "os.environ/LITELLM_MASTER_KEY"
VERTEX_PREFIX = "vertex_ai/"
# The service's environment before litellm_proxy_environment is merged over it.
BASE_ENVIRONMENT = (
    ("LITELLM_LOCAL_MODEL_COST_MAP", "True"),
    ("LITELLM_MODE", "PRODUCTION"),
    ("LITELLM_LOG", "INFO"),
    ("NO_DOCS", "True"),
    ("NO_REDOC", "True"),
)
# A proxy listening on every address (0.0.0.0, ::) is probed through IPv4 loopback.
PROBE_HOST = "127.0.0.1"
READINESS_PATH = "/health/readiness"
# Seconds between two readiness probes (the retries are the timeout divided by this).
READINESS_DELAY = 2
MODELS = "litellm_proxy_models"


def build_config(settings):
    """The config.yaml document (a dict, in the order the file lists it)."""
    default_credentials = settings.get("litellm_proxy_vertex_credentials")
    model_list = []
    for model in settings.get(MODELS) or []:
        params = {
            "model": model.get("model"),
            "vertex_project": model.get("vertex_project"),
            "vertex_location": model.get("vertex_location"),
            "vertex_credentials": model.get("vertex_credentials", default_credentials),
        }
        if model.get("api_base"):
            params["api_base"] = model["api_base"]
        params.update(model.get("extra_params") or {})
        model_list.append({"model_name": model.get("name"), "litellm_params": params})
    general = {"master_key": MASTER_KEY_REFERENCE}
    general.update(settings.get("litellm_proxy_general_settings") or {})
    return {
        "model_list": model_list,
        "litellm_settings": dict(settings.get("litellm_proxy_litellm_settings") or {}),
        "general_settings": general,
    }


def problems(config):
    """What in a config.yaml document breaks keyless Vertex access, as (variable, rule) pairs.

    model_list[i] comes from litellm_proxy_models[i], so each problem names the variable the
    caller sets.
    """
    found = []
    model_list = config.get("model_list") or []
    if not model_list:
        found.append((MODELS, "must list at least one model (config.yaml model_list is empty)"))
    for index, entry in enumerate(model_list):
        where = "%s[%d]" % (MODELS, index)
        params = entry.get("litellm_params") or {}
        if not str(params.get("model") or "").startswith(VERTEX_PREFIX):
            found.append((where, "must give LiteLLM a vertex_ai/ model (extra_params must not replace model), got %r"
                          % params.get("model")))
        if not params.get("vertex_credentials"):
            found.append((where, "must give LiteLLM vertex_credentials, the external_account JSON (extra_params must "
                                 "not clear it)"))
    if (config.get("general_settings") or {}).get("master_key") != MASTER_KEY_REFERENCE:
        found.append(("litellm_proxy_general_settings", "master_key must stay %s (use litellm_proxy_master_key)"
                      % MASTER_KEY_REFERENCE))
    return found


def check_config(config):
    """Raise ValidationError for the first of problems(config); return the config."""
    for field, rule in problems(config):
        raise ValidationError(field, rule)
    return config


def pip_arguments(wheelhouse="", index_url="", extra_args=""):
    """pip install's source arguments: a wheelhouse (air-gapped), a private index, or none, then extra_args."""
    words = []
    if wheelhouse:
        words.extend(("--no-index", "--find-links", shlex.quote(wheelhouse)))
    elif index_url:
        words.extend(("--index-url", shlex.quote(index_url)))
    if extra_args:
        words.append(extra_args)
    return " ".join(words)


def probe_host(listen_address):
    """The host part of the readiness URL: loopback for a wildcard listener, IPv6 in brackets."""
    try:
        address = ipaddress.ip_address(listen_address)
    except ValueError:
        return listen_address
    if address.is_unspecified:
        return PROBE_HOST
    return "[%s]" % listen_address if address.version == 6 else listen_address


def readiness_url(listen_address, port):
    return "http://%s:%d%s" % (probe_host(listen_address), int(port), READINESS_PATH)


def readiness_retries(timeout):
    """Probes, READINESS_DELAY seconds apart, within timeout seconds."""
    return int(math.ceil(float(timeout) / READINESS_DELAY))


def service_environment(master_key, extra=None):
    """The service's EnvironmentFile variables: the master key, the role's settings, then extra over them."""
    environment = {"LITELLM_MASTER_KEY": master_key}
    environment.update(BASE_ENVIRONMENT)
    environment.update(extra or {})
    return environment


def environment_file(environment):
    """The EnvironmentFile lines, KEY="value" with backslashes and quotes escaped (no trailing newline)."""
    return "\n".join('%s="%s"' % (key, str(value).replace("\\", "\\\\").replace('"', '\\"')) for key, value in environment.items())


def requirements_source(requirements_file, wheelhouse_requirements, wheelhouse_has_requirements):
    """The requirements file on the host to install from, or "" for the role's own list.

    litellm_proxy_requirements_file first, then the wheelhouse's own requirements file when it exists.
    """
    if requirements_file:
        return requirements_file
    return wheelhouse_requirements if wheelhouse_has_requirements else ""
