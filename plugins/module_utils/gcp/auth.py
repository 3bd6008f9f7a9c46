# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credentials and endpoints: the HTTP session every GCP module sends its calls through.

Auth from ADC, a service-account key, an access token or an external_account file (so the
control plane can itself run keyless from AWS); per-service endpoint overrides (private
endpoints, the offline emulator).
"""

from __future__ import annotations

import json
import os
import sys
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpAuthError, one_line
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import check_url

try:
    import requests
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - reported through fail_json
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()

try:
    # Only probe for google-auth here; its modules are imported when credentials are built,
    # because importing them costs more than most module runs (auth_kind=accesstoken needs none).
    import importlib.util
    HAS_GOOGLE_AUTH = importlib.util.find_spec("google.auth") is not None
except (ImportError, ValueError):  # pragma: no cover
    HAS_GOOGLE_AUTH = False


DEFAULT_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
AUTH_KINDS = ["application", "serviceaccount", "accesstoken", "external_account"]

# Public Google endpoints, one per API the collection talks to.
DEFAULT_ENDPOINTS = {
    "iam": "https://iam.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "serviceusage": "https://serviceusage.googleapis.com",
    "sts": "https://sts.googleapis.com",
    "iamcredentials": "https://iamcredentials.googleapis.com",
}


def resolve_endpoints(option, environ=None):
    """Endpoint per service: the ``endpoints`` option, else GCP_ENDPOINT_<SERVICE>, else Google's."""
    environ = os.environ if environ is None else environ
    option = option or {}
    resolved = {}
    for service, default in DEFAULT_ENDPOINTS.items():
        value = option.get(service) or environ.get("GCP_ENDPOINT_" + service.upper()) or default
        resolved[service] = check_url("endpoints.%s" % service, value).rstrip("/")
    return resolved


def load_credentials(params, endpoints):
    """Return google-auth credentials for the auth options (no network call here)."""
    if not HAS_GOOGLE_AUTH:
        raise GcpAuthError(missing_required_lib("google-auth"))
    import google.auth  # noqa: PLC0415 - deferred: costly, unneeded for accesstoken
    import google.auth.exceptions  # noqa: PLC0415
    import google.oauth2.credentials  # noqa: PLC0415
    import google.oauth2.service_account  # noqa: PLC0415

    kind = params.get("auth_kind") or "application"
    scopes = params.get("scopes") or DEFAULT_SCOPES
    try:
        if kind == "accesstoken":
            return google.oauth2.credentials.Credentials(token=params["access_token"])
        if kind == "serviceaccount":
            if params.get("service_account_contents"):
                info = params["service_account_contents"]
                if isinstance(info, str):
                    info = json.loads(info)
                return google.oauth2.service_account.Credentials.from_service_account_info(info, scopes=scopes)
            return google.oauth2.service_account.Credentials.from_service_account_file(
                params["service_account_file"], scopes=scopes)
        if kind == "external_account":
            with open(params["external_account_file"], "r") as handle:
                info = json.load(handle)
            info = _redirect_external_account(info, endpoints)
            return _external_account_credentials(info, scopes)
        return google.auth.default(scopes=scopes)[0]
    except (OSError, ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        raise GcpAuthError("cannot load credentials for auth_kind=%s: %s" % (kind, one_line(exc))) from None


def _external_account_credentials(info, scopes):
    """Type-specific loader (google-auth deprecates the generic one for external input)."""
    if info.get("type") != "external_account":
        raise ValueError("external_account_file must contain a credential configuration of type external_account, "
                         "got type %r" % info.get("type"))
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        import google.auth.aws  # noqa: PLC0415 - deferred like the other google-auth imports

        return google.auth.aws.Credentials.from_info(info, scopes=scopes)
    if "executable" in source:
        import google.auth.pluggable  # noqa: PLC0415

        return google.auth.pluggable.Credentials.from_info(info, scopes=scopes)
    import google.auth.identity_pool  # noqa: PLC0415

    return google.auth.identity_pool.Credentials.from_info(info, scopes=scopes)


def _redirect_external_account(info, endpoints):
    """Point an external_account file's STS and impersonation URLs at overridden endpoints."""
    info = dict(info)
    if endpoints.get("sts") and endpoints["sts"] != DEFAULT_ENDPOINTS["sts"]:
        info["token_url"] = endpoints["sts"] + "/v1/token"
    url = info.get("service_account_impersonation_url")
    if url and endpoints.get("iamcredentials") and endpoints["iamcredentials"] != DEFAULT_ENDPOINTS["iamcredentials"]:
        tail = url.split("/v1/", 1)[1] if "/v1/" in url else url
        info["service_account_impersonation_url"] = endpoints["iamcredentials"] + "/v1/" + tail
    return info


def auth_errors():
    """google-auth's exception base class, if google-auth has been loaded (else nothing to catch)."""
    module = sys.modules.get("google.auth.exceptions")
    return (module.GoogleAuthError,) if module is not None else ()


class BearerSession(requests.Session if HAS_REQUESTS else object):
    """requests.Session sending a fixed access token (auth_kind=accesstoken: nothing to refresh)."""

    def __init__(self, token):
        super().__init__()
        self.headers["Authorization"] = "Bearer " + token


def build_session(params, endpoints):
    """HTTP session for the auth options; google-auth is only loaded when credentials need it."""
    if params.get("auth_kind") == "accesstoken":
        return BearerSession(params["access_token"])
    credentials = load_credentials(params, endpoints)
    from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

    return AuthorizedSession(credentials)
