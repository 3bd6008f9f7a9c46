# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The LiteLLM proxy's config.yaml and service values, from the litellm_proxy role's variables.

``build_config(settings)`` makes the config.yaml document, ``problems(config)`` lists what in
it LiteLLM would not take for keyless Vertex AI access (the role refuses those before any
change, naming the variable), ``routing_problems(settings)`` does the same for the router
variables (router_settings, fallbacks: every name they use must be a model of
litellm_proxy_models), and ``pip_arguments``, ``probe_host``, ``readiness_url``,
``service_environment``, ``environment_file`` and ``requirements_source`` are the other values
the role derives from its variables. Nothing here touches the host.
"""

from __future__ import annotations

import ipaddress
import math
import shlex

from ansible_collections.keyless.wif.plugins.module_utils import inputs
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
ROUTER = "litellm_proxy_router_settings"
PROMETHEUS = "litellm_proxy_prometheus"
# LiteLLM's Prometheus logger: litellm_settings callbacks "prometheus" mounts /metrics (behind the
# proxy's key unless require_auth_for_metrics_endpoint: false); no licence check in 1.108.14
# (litellm/integrations/prometheus.py). It imports prometheus_client, which only LiteLLM's
# proxy-runtime extra requires (prometheus-client>=0.20.0,<1.0).
PROMETHEUS_CALLBACK = "prometheus"
PROMETHEUS_PACKAGE = "prometheus-client"
CALLBACK_KEYS = ("callbacks", "success_callback", "failure_callback")
# config.yaml router_settings key -> the role variable that fills it (Router(fallbacks=...,
# context_window_fallbacks=...): a list of {model_name: [fallback model_name, ...]}).
FALLBACKS = (("fallbacks", "litellm_proxy_fallbacks"),
             ("context_window_fallbacks", "litellm_proxy_context_window_fallbacks"))
# LiteLLM 1.108.14, litellm/router_utils/routing_groups.py VALID_ROUTING_STRATEGIES
# ("simple-shuffle", "lar1" and the RoutingStrategy enum of litellm/types/router.py).
ROUTING_STRATEGIES = ("simple-shuffle", "lar1", "least-busy", "latency-based-routing", "cost-based-routing",
                      "usage-based-routing-v2", "usage-based-routing", "provider-budget-routing")
# Router.__init__ arguments typed int / float (litellm/router.py).
ROUTER_INTEGERS = ("num_retries", "max_fallbacks", "allowed_fails", "retry_after", "client_ttl",
                   "default_max_parallel_requests", "default_priority", "deployment_affinity_ttl_seconds",
                   "health_check_staleness_threshold")
ROUTER_NUMBERS = ("timeout", "stream_timeout", "cooldown_time", "polling_interval")
# Lists of {model_name: [model_name, ...]} that LiteLLM also reads from router_settings.
ROUTER_FALLBACK_LISTS = ("content_policy_fallbacks",)
# router_settings keys refused: LiteLLM raises on the first two (proxy_server.py load_config), the
# proxy sets the ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG ones itself and ignores them from the file,
# and the role's own variables are the one home of the others.
ROUTER_REFUSED = (
    ("health_check_interval", "belongs in litellm_proxy_general_settings (LiteLLM refuses it in router_settings)"),
    ("health_check_concurrency", "belongs in litellm_proxy_general_settings (LiteLLM refuses it in router_settings)"),
    ("model_list", "comes from litellm_proxy_models"),
    ("fallbacks", "comes from litellm_proxy_fallbacks"),
    ("context_window_fallbacks", "comes from litellm_proxy_context_window_fallbacks"),
    ("search_tools", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("assistants_config", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("router_general_settings", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("ignore_invalid_deployments", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("fallback_access_check", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("fallback_budget_check", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
    ("auto_router_capability_limit", "is set by the proxy itself; LiteLLM ignores it in router_settings"),
)


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
        entry = {"model_name": model.get("name"), "litellm_params": params}
        if model.get("model_info"):
            entry["model_info"] = dict(model["model_info"])
        model_list.append(entry)
    general = {"master_key": MASTER_KEY_REFERENCE}
    general.update(settings.get("litellm_proxy_general_settings") or {})
    document = {"model_list": model_list}
    router = router_settings(settings)
    if router:
        document["router_settings"] = router
    document["litellm_settings"] = litellm_settings(settings)
    document["general_settings"] = general
    return document


def litellm_settings(settings):
    """config.yaml litellm_settings: litellm_proxy_litellm_settings, with the Prometheus callback
    added to its callbacks when litellm_proxy_prometheus is on (and not listed already)."""
    document = dict(settings.get("litellm_proxy_litellm_settings") or {})
    if prometheus_enabled(settings):
        callbacks = list(document.get("callbacks") or [])
        if PROMETHEUS_CALLBACK not in callbacks:
            callbacks.append(PROMETHEUS_CALLBACK)
        document["callbacks"] = callbacks
    return document


def prometheus_enabled(settings):
    """litellm_proxy_prometheus as a boolean (unset: off, for callers without the role's defaults)."""
    value = settings.get(PROMETHEUS)
    return False if value is None else inputs.boolean(PROMETHEUS, value)


def uses_prometheus(litellm_settings_document):
    """Whether config.yaml's litellm_settings load LiteLLM's Prometheus logger (as LiteLLM's proxy_cli tells it)."""
    settings = litellm_settings_document or {}
    for key in CALLBACK_KEYS:
        value = settings.get(key)
        if value == PROMETHEUS_CALLBACK or (isinstance(value, list) and PROMETHEUS_CALLBACK in value):
            return True
    return False


def router_settings(settings):
    """config.yaml router_settings: litellm_proxy_router_settings, then the fallback lists that are set."""
    router = dict(settings.get(ROUTER) or {})
    for key, variable in FALLBACKS:
        if settings.get(variable):
            router[key] = [dict(item) if isinstance(item, dict) else item for item in settings[variable]]
    return router


def _is_number(value, integer=False):
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _fallback_problems(field, value, names):
    """A fallback list as LiteLLM's Router.validate_fallbacks takes it, naming only models of litellm_proxy_models."""
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        return [(field, "must be a list of {MODEL_NAME: [FALLBACK_MODEL_NAME, ...]}")]
    found = []
    seen = set()
    for index, item in enumerate(value):
        where = "%s[%d]" % (field, index)
        if not isinstance(item, dict) or len(item) != 1:
            found.append((where, "must be a dict with exactly one key, {MODEL_NAME: [FALLBACK_MODEL_NAME, ...]} "
                                 "(LiteLLM's fallbacks format)"))
            continue
        ((source, targets),) = item.items()
        if source not in names:
            found.append((where, "falls back from %r, which is not a name in %s" % (source, MODELS)))
        if source in seen:
            found.append((where, "lists %r a second time (one entry per model name)" % source))
        seen.add(source)
        if not isinstance(targets, list) or not targets:
            found.append(("%s.%s" % (where, source), "must be a non-empty list of model names, got %r" % (targets,)))
            continue
        for position, target in enumerate(targets):
            there = "%s.%s[%d]" % (where, source, position)
            if not isinstance(target, str) or target not in names:
                found.append((there, "must be a name in %s, got %r" % (MODELS, target)))
            elif target == source:
                found.append((there, "must not be %r itself: a model may not fall back to itself" % source))
        if isinstance(targets, list) and len(set(map(str, targets))) != len(targets):
            found.append(("%s.%s" % (where, source), "lists a fallback model twice"))
    return found


def routing_problems(settings):
    """What in the router variables LiteLLM would refuse or what names no model, as (variable path, rule) pairs."""
    names = set()
    for model in settings.get(MODELS) or []:
        if isinstance(model, dict) and isinstance(model.get("name"), str):
            names.add(model["name"])
    found = []
    for _key, variable in FALLBACKS:
        found.extend(_fallback_problems(variable, settings.get(variable), names))
    router = settings.get(ROUTER)
    if router is None or router == "":
        return found
    if not isinstance(router, dict):
        return found + [(ROUTER, "must be a dict of LiteLLM router settings (routing_strategy, num_retries, ...)")]
    for key, rule in ROUTER_REFUSED:
        if key in router:
            found.append(("%s.%s" % (ROUTER, key), "must not be set: %s" % rule))
    if "routing_strategy" in router and router["routing_strategy"] not in ROUTING_STRATEGIES:
        found.append(("%s.routing_strategy" % ROUTER, "must be one of LiteLLM's routing strategies: %s; got %r"
                      % (", ".join(ROUTING_STRATEGIES), router["routing_strategy"])))
    for key in ROUTER_INTEGERS + ROUTER_NUMBERS:
        if key in router and router[key] is not None:
            value = router[key]
            integer = key in ROUTER_INTEGERS
            if not _is_number(value, integer) or value < 0:
                found.append(("%s.%s" % (ROUTER, key), "must be a non-negative %s, got %r"
                              % ("integer" if integer else "number", value)))
    for key in ROUTER_FALLBACK_LISTS:
        found.extend(_fallback_problems("%s.%s" % (ROUTER, key), router.get(key), names))
    defaults = router.get("default_fallbacks")
    if defaults is not None:
        if not isinstance(defaults, list):
            found.append(("%s.default_fallbacks" % ROUTER, "must be a list of model names"))
        else:
            for index, target in enumerate(defaults):
                if target not in names:
                    found.append(("%s.default_fallbacks[%d]" % (ROUTER, index), "must be a name in %s, got %r"
                                  % (MODELS, target)))
    if router.get("routing_strategy_args") is not None and not isinstance(router["routing_strategy_args"], dict):
        found.append(("%s.routing_strategy_args" % ROUTER, "must be a dict"))
    found.extend(_alias_problems(router.get("model_group_alias"), names))
    return found


def _alias_problems(aliases, names):
    field = "%s.model_group_alias" % ROUTER
    if aliases is None or aliases == {}:
        return []
    if not isinstance(aliases, dict):
        return [(field, "must be a dict {ALIAS: MODEL_NAME or {model: MODEL_NAME, hidden: BOOL}}")]
    found = []
    for alias, value in aliases.items():
        where = "%s.%s" % (field, alias)
        if alias in names:
            found.append((where, "must not be a name in %s: the alias would hide that model" % MODELS))
        target = value
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"model", "hidden"})
            if unknown:
                found.append((where, "has unknown keys %s (LiteLLM takes model and hidden)" % ", ".join(map(str, unknown))))
            if "hidden" in value and not isinstance(value["hidden"], bool):
                found.append((where + ".hidden", "must be a boolean"))
            target = value.get("model")
            where += ".model"
        if not isinstance(target, str) or target not in names:
            found.append((where, "must be a name in %s, got %r" % (MODELS, target)))
    return found


def check_routing(settings):
    """Raise ValidationError for the first of routing_problems(settings)."""
    for field, rule in routing_problems(settings):
        raise ValidationError(field, rule)
    return settings


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
