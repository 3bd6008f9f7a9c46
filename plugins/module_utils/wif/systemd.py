# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What systemd gives a service: its EnvironmentFile format, `systemctl show` output, and the environment it runs with."""

from __future__ import annotations

import re
import shlex

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_environment_file(path):
    """Variables of a systemd EnvironmentFile: KEY=VALUE lines, # and ; comments, quoted values.

    Double-quoted values take backslash escapes (the litellm_proxy role writes \\ and \"),
    single-quoted ones are literal. Raises ValueError naming the line for anything else.
    """
    variables = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep or not ENV_NAME_RE.fullmatch(key):
                raise ValueError("%s line %d is not KEY=VALUE" % (path, number))
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r'\\(.)', r"\1", value[1:-1])
            elif len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            variables[key] = value
    return variables


# The variables that decide where google-auth's requests go and whom they trust: the check runs
# with the service's values of these and never with the ones it inherited.
NETWORK_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
                     "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
SERVICE_SHOW_PROPERTIES = ("LoadState", "Environment", "EnvironmentFiles")


def parse_show(text):
    """`systemctl show` output as {property: [values]} (EnvironmentFiles= is printed once per file)."""
    properties = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and ENV_NAME_RE.fullmatch(key):
            properties.setdefault(key, []).append(value)
    return properties


def parse_assignments(value):
    """Environment= as systemctl prints it (space-separated KEY=VALUE, quoted when needed) as a dict."""
    variables = {}
    for word in shlex.split(value or ""):
        key, sep, val = word.partition("=")
        if sep and ENV_NAME_RE.fullmatch(key):
            variables[key] = val
    return variables


def environment_files(values):
    """[(path, ignore_errors)] from EnvironmentFiles= values such as '/etc/x.env (ignore_errors=no)'."""
    files = []
    for value in values or []:
        match = re.fullmatch(r"(?P<path>.+?)(?: \(ignore_errors=(?P<ignore>yes|no)\))?", value.strip())
        if match and match.group("path"):
            files.append((match.group("path"), match.group("ignore") == "yes"))
    return files


def service_environment(unit, show_text, manager_text="", read=read_environment_file):
    """The environment systemd starts ``unit`` with: the manager's, then Environment=, then each EnvironmentFile= (which override).

    ``show_text`` is `systemctl show --property=LoadState,Environment,EnvironmentFiles UNIT`,
    ``manager_text`` `systemctl show-environment`. Raises ValueError for a unit systemd does not
    know or an unreadable file that is not optional (``-`` in the unit).
    """
    properties = parse_show(show_text)
    state = (properties.get("LoadState") or [""])[-1]
    if state != "loaded":
        raise ValueError("systemd unit %s is %s" % (unit, state or "unknown to systemctl show"))
    variables = {}
    for line in (manager_text or "").splitlines():  # KEY=VALUE per line; $'...' (C-escaped) values are left out
        key, sep, value = line.partition("=")
        if sep and ENV_NAME_RE.fullmatch(key) and not value.startswith("$'"):
            variables[key] = value
    variables.update(parse_assignments(" ".join(properties.get("Environment") or [])))
    for path, ignore_errors in environment_files(properties.get("EnvironmentFiles")):
        try:
            variables.update(read(path))
        except OSError as exc:
            if not ignore_errors:
                raise ValueError("EnvironmentFile %s of %s: %s" % (path, unit, exc)) from exc
    return variables


def apply_environment(environ, variables):
    """Make ``environ`` run as the service does: drop inherited proxy, CA and AWS_* variables, then set ``variables``."""
    for name in list(environ):
        if name in NETWORK_VARIABLES or name.startswith("AWS_"):
            del environ[name]
    environ.update(variables)
