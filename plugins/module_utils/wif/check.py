# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credential check: google-auth's own refresh, recorded hop by hop, then diagnosed.

The credentials are built as LiteLLM builds them (litellm_credentials.py) and refreshed with
``creds.refresh(request)`` through a recording transport (transport.py), so every request,
proxy, CA bundle, lifetime and header is google-auth's. classify.py turns the recorded hops
into a diagnosis code, diagnoses.py holds the texts. Nothing here ever returns a token.
"""

from __future__ import annotations

import datetime
import os
import time
import urllib.parse

from ansible_collections.keyless.wif.plugins.module_utils.wif import external_account, names
from ansible_collections.keyless.wif.plugins.module_utils.wif.classify import classify
from ansible_collections.keyless.wif.plugins.module_utils.wif.diagnoses import render
from ansible_collections.keyless.wif.plugins.module_utils.wif.litellm_credentials import ec2_credentials, explicit_credentials
from ansible_collections.keyless.wif.plugins.module_utils.wif.transport import Recorder, RecordingRequest, exception_text, hop_namer, public_url

try:
    from google.auth.aws import AwsSecurityCredentialsSupplier as _SupplierBase
except ImportError:  # the module reports the missing library
    _SupplierBase = object

PUBLIC_HOP_KEYS = ("name", "ok", "duration_ms", "method", "url", "status", "source", "error", "google_error")


class RecordingSupplier(_SupplierBase):
    """Delegates to google-auth's (or LiteLLM's) supplier; a step that makes no request is a hop itself."""

    def __init__(self, inner, recorder, credentials_source, region_source):
        self.inner = inner
        self.recorder = recorder
        self.credentials_source = credentials_source
        self.region_source = region_source

    def get_aws_region(self, context, request):
        region = self.recorder.step("region", lambda: self.inner.get_aws_region(context, request), self.region_source)
        self.recorder.learnt["region"] = region
        self.recorder.learnt["region_source"] = self.region_source
        return region

    def get_aws_security_credentials(self, context, request):
        return self.recorder.step("aws_credentials", lambda: self.inner.get_aws_security_credentials(context, request), self.credentials_source)


def _recording(creds, recorder, credentials_source, region_source):
    """``creds`` with its AWS supplier recorded, also in the copies google-auth makes of it.

    For impersonation google-auth builds the source credentials anew from the constructor
    arguments (``self.__class__(**kwargs)``), so the class itself wraps each new supplier.
    """

    def wrap(instance):
        if not isinstance(instance._aws_security_credentials_supplier, RecordingSupplier):
            instance._aws_security_credentials_supplier = RecordingSupplier(instance._aws_security_credentials_supplier, recorder,
                                                                            credentials_source, region_source)

    class Recorded(type(creds)):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            wrap(self)

    creds.__class__ = Recorded
    wrap(creds)
    return creds


def _sources(mode, resolver, environ):
    if mode == "explicit":
        return resolver, "aws_region_name"
    credentials = "environment" if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY") else "instance metadata"
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if environ.get(var) is not None:
            return credentials, var
    return credentials, "region_url"


def _proxy_for(url):
    """The proxy requests would use for ``url`` in this environment, without userinfo, or None."""
    import requests.utils

    proxies = requests.utils.get_environ_proxies(url)
    proxy = requests.utils.select_proxy(url, proxies)
    return public_url(proxy) if proxy else None


def _identity_document(info, session, timeout):
    """The instance identity document's accountId, best effort and unrecorded (not a google-auth request)."""
    source = info.get("credential_source") or {}
    base = urllib.parse.urlsplit(source.get("url") or "")
    if not base.scheme:
        return None
    headers = {}
    try:
        if source.get("imdsv2_session_token_url"):
            answer = session.put(source["imdsv2_session_token_url"], headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}, timeout=timeout)
            headers["X-aws-ec2-metadata-token"] = answer.text
        answer = session.get("%s://%s/latest/dynamic/instance-identity/document" % (base.scheme, base.netloc), headers=headers, timeout=timeout)
        account = str(answer.json().get("accountId") or "") if answer.status_code == 200 else ""
    except Exception:  # noqa: BLE001 - only a hint for the binding member
        return None
    return account if names.ACCOUNT_ID_RE.fullmatch(account) else None


def _caller(learnt):
    caller = {"role_name": learnt.get("role_name"), "account_id": learnt.get("account_id"), "aws_role": None, "region": learnt.get("region")}
    if caller["role_name"] and caller["account_id"]:
        partition = names.partition_of_region(caller["region"]) or "aws"
        caller["aws_role"] = names.assumed_role_arn(partition, caller["account_id"], caller["role_name"])
    return caller


def _context(info, hop, error, caller, learnt):
    aud = names.parse_audience(info.get("audience")) or {}
    email = names.impersonated_email(info.get("service_account_impersonation_url"))
    err = (hop or {}).get("google_error") or {}
    url = (hop or {}).get("url") or ""
    member = None
    if aud:
        member = names.aws_role_principal_set(aud["project"], aud["pool"], caller["aws_role"] or "arn:aws:sts::ACCOUNT_ID:assumed-role/ROLE")
    return {
        "type": info.get("type"), "subject_token_type": info.get("subject_token_type"), "audience": info.get("audience"),
        "provider": aud.get("provider"), "pool": aud.get("pool"), "project": aud.get("project"),
        "email": email, "sa_project": names.service_account_project(email), "member": member,
        "aws_role": caller["aws_role"], "account_id": caller["account_id"], "region": caller["region"],
        "region_source": learnt.get("region_source"), "resolver": learnt.get("resolver"),
        "hop": (hop or {}).get("name"), "url": url, "host": urllib.parse.urlsplit(url).netloc, "status": (hop or {}).get("status"),
        "status_text": err.get("status"), "message": err.get("message") or ((hop or {}).get("error") or error),
        "error": (hop or {}).get("error") or error, "proxy": _proxy_for(url) if url else None,
    }


def _expiry(creds):
    expiry = getattr(creds, "expiry", None)
    if not isinstance(expiry, datetime.datetime):
        return None
    return expiry.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_check(info, timeout=10.0, metadata_timeout=2.0, session=None, clock=time.monotonic, explicit=explicit_credentials):
    """Build the credentials as LiteLLM does, refresh them through the recorder, diagnose; return the result dict."""
    mode = external_account.mode(info)
    email = names.impersonated_email(info.get("service_account_impersonation_url"))
    result = {"mode": mode, "service_account": email, "service_account_project": names.service_account_project(email),
              "audience": info.get("audience"), "hops": [], "caller": _caller({})}
    start = clock()

    def finish(code, failed_hop, hop=None, error=None, learnt=None, values=None):
        learnt = learnt or {}
        caller = _caller(learnt)
        diagnosis = None
        if code:
            diagnosis = render(code, dict(_context(info, hop, error, caller, learnt), **(values or {})))
        result.update({"ok": code is None, "failed_hop": failed_hop, "diagnosis": diagnosis, "caller": caller,
                       "principal_set": names.principal_set_for_caller(caller["aws_role"], info.get("audience")) if caller["aws_role"] else None,
                       "total_ms": round((clock() - start) * 1000, 1)})
        return result

    problems = external_account.problems(info)
    if problems:
        code, values = problems[0]
        return finish(code, "config", values=values)
    try:
        creds, resolver = explicit(info) if mode == "explicit" else ec2_credentials(info)
    except ImportError as exc:
        return finish("explicit_unsupported", "config", error=exception_text(exc))
    except Exception as exc:  # noqa: BLE001 - google-auth raises InvalidValue, InvalidResource, ValueError...
        return finish("google_auth_rejected", "config", error=exception_text(exc))

    import requests
    from google.auth.transport.requests import Request

    recorder = Recorder(clock)
    recorder.learnt["resolver"] = resolver
    if hasattr(creds, "_aws_security_credentials_supplier"):
        creds = _recording(creds, recorder, *_sources(mode, resolver, os.environ))
    session = session or requests.Session()
    timeouts = {"imds_token": metadata_timeout, "role_name": metadata_timeout, "aws_credentials": metadata_timeout,
                "region": metadata_timeout, "other": timeout}
    request = RecordingRequest(Request(session), recorder, hop_namer(info), timeouts)
    error = None
    try:
        creds.refresh(request)
    except Exception as exc:  # noqa: BLE001 - every failure of the refresh is diagnosed
        error = exception_text(exc)
    if mode == "ec2" and recorder.learnt.get("role_name"):
        recorder.learnt["account_id"] = _identity_document(info, session, metadata_timeout)
    result["hops"] = [{key: hop[key] for key in PUBLIC_HOP_KEYS if key in hop} for hop in recorder.hops]
    if error is None:
        result["access_token_expiry"] = _expiry(creds)
        if "federated_token_expires_in" in recorder.learnt:
            result["federated_token_expires_in"] = recorder.learnt["federated_token_expires_in"]
        return finish(None, None, learnt=recorder.learnt)
    code, failed_hop = classify(recorder.hops, mode, recorder.learnt.get("region"))
    return finish(code, failed_hop, hop=recorder.hops[-1] if recorder.hops else None, error=error, learnt=recorder.learnt)
