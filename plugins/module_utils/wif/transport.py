# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A google-auth transport that records every request google-auth makes, without its secrets.

``RecordingRequest`` wraps ``google.auth.transport.requests.Request(session)``, the transport
LiteLLM refreshes with (requests honours HTTP(S)_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE). Each
request becomes a hop: name, method, URL without its query, status, duration, the exception
met, and from an error body only Google's error status, message and ErrorInfo reason. Tokens,
credentials, signed headers and bodies are never kept.
"""

from __future__ import annotations

import json
import time
import urllib.parse

from ansible_collections.keyless.wif.plugins.module_utils.wif.names import ROLE_NAME_RE

try:
    from google.auth.transport import Request as _TransportRequest
except ImportError:  # the module reports the missing library; the controller only imports the names
    _TransportRequest = object

METADATA_HOPS = ("imds_token", "role_name", "aws_credentials", "region")
GOOGLE_HOPS = ("sts_exchange", "impersonation")
_TEXT_LIMIT = 300


def public_url(url):
    """``url`` without userinfo, query or fragment (a query could carry a secret)."""
    parts = urllib.parse.urlsplit(url or "")
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = host + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def hop_namer(info):
    """A function naming the hop of a request URL, from the URLs the credential JSON holds."""
    source = info.get("credential_source") if isinstance(info.get("credential_source"), dict) else {}
    exact = {}
    for key, name in (("imdsv2_session_token_url", "imds_token"), ("url", "role_name"), ("region_url", "region")):
        if source.get(key):
            exact[public_url(source[key])] = name
    for key, name in (("token_url", "sts_exchange"), ("service_account_impersonation_url", "impersonation")):
        if info.get(key):
            exact[public_url(info[key])] = name
    credentials_prefix = public_url(source["url"]).rstrip("/") + "/" if source.get("url") else None

    def name_of(url):
        plain = public_url(url)
        if plain in exact:
            return exact[plain]
        if credentials_prefix and plain.startswith(credentials_prefix):
            return "aws_credentials"
        return "other"

    return name_of


def google_error(data):
    """Google's error status, message and ErrorInfo reason from an error body, else {}."""
    try:
        body = json.loads(data.decode("utf-8", "replace") if isinstance(data, bytes) else data or "")
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    err = body.get("error")
    if isinstance(err, dict):  # {"error": {"code", "message", "status", "details": [ErrorInfo...]}}
        reason = None
        for detail in err.get("details") or []:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                reason = detail.get("reason")
        found = {"status": err.get("status"), "message": err.get("message"), "reason": reason}
    elif isinstance(err, str):  # OAuth shape from STS: {"error", "error_description"}
        found = {"status": err, "message": body.get("error_description")}
    else:
        return {}
    return {key: str(value)[:_TEXT_LIMIT] for key, value in found.items() if value}


def failure_kind(exc):
    """'proxy', 'timeout', 'refused' or 'unreachable' for an exception of the requests stack."""
    import requests

    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(inner, requests.exceptions.ProxyError):
        return "proxy"
    if isinstance(inner, requests.exceptions.Timeout):
        return "timeout"
    if "refused" in str(inner).lower():
        return "refused"
    return "unreachable"


def exception_text(exc):
    """Class and first message of an exception, never its further arguments (google-auth puts answer bodies there)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    first = inner.args[0] if inner.args else ""
    text = str(first) if isinstance(first, (str, BaseException)) else ""
    if isinstance(inner, OSError) and inner.strerror:
        # e.g. a token file botocore opens: the path says which one (never its content)
        text = "%s: %s" % (inner.strerror, inner.filename) if inner.filename else inner.strerror
    return "%s: %s" % (type(inner).__name__, text[:_TEXT_LIMIT])


class Recorder:
    """The hops of one refresh, in order, plus what the check learnt on the way (non-secret)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.hops = []
        self.learnt = {}

    def add(self, hop):
        self.hops.append(hop)
        return hop

    def step(self, name, func, source):
        """Run ``func`` (a supplier call); if it made no request, record it as hop ``name`` itself."""
        before = len(self.hops)
        start = self.clock()
        try:
            value = func()
        except Exception as exc:
            if len(self.hops) == before:
                self.add({"name": name, "ok": False, "duration_ms": self._ms(start), "source": source, "error": exception_text(exc)})
            raise
        if len(self.hops) == before:
            self.add({"name": name, "ok": True, "duration_ms": self._ms(start), "source": source})
        return value

    def _ms(self, start):
        return round((self.clock() - start) * 1000, 1)


class RecordingRequest(_TransportRequest):
    """google.auth.transport.Request that records each call on ``recorder``.

    ``timeouts`` maps a hop name to the seconds google-auth's request gets when it asks for its
    default (120 s); the metadata hops are short, as the check must not hang.
    """

    def __init__(self, inner, recorder, name_of, timeouts):
        self.inner = inner
        self.recorder = recorder
        self.name_of = name_of
        self.timeouts = timeouts

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        name = self.name_of(url)
        hop = {"name": name, "method": method, "url": public_url(url)}
        wait = self.timeouts.get(name, self.timeouts.get("other")) if timeout in (None, 120) else timeout
        start = self.recorder.clock()
        try:
            response = self.inner(url, method=method, body=body, headers=headers, timeout=wait, **kwargs)
        except Exception as exc:
            hop.update({"ok": False, "duration_ms": self.recorder._ms(start), "error": exception_text(exc), "failure": failure_kind(exc)})
            self.recorder.add(hop)
            raise
        status = int(response.status)
        hop.update({"ok": 200 <= status < 300, "duration_ms": self.recorder._ms(start), "status": status})
        if not hop["ok"]:
            hop["google_error"] = google_error(response.data)
        elif name == "role_name":
            self._learn_role(response.data)
        elif name == "sts_exchange":
            self._learn_lifetime(response.data)
        self.recorder.add(hop)
        return response

    def _learn_lifetime(self, data):
        try:
            expires_in = json.loads(data.decode("utf-8", "replace") if isinstance(data, bytes) else data).get("expires_in")
        except (ValueError, AttributeError):
            return
        if isinstance(expires_in, int):
            self.recorder.learnt["federated_token_expires_in"] = expires_in

    def _learn_role(self, data):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
        first = text.strip().splitlines()[0] if text.strip() else ""
        if ROLE_NAME_RE.fullmatch(first):
            self.recorder.learnt["role_name"] = first
