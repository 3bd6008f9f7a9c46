# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Credentials and endpoints: the HTTP session every GCP module sends its calls through.

Auth from ADC, a service-account key, an access token or an external_account file (so the
control plane can itself run keyless from AWS), optionally impersonating a service account
(impersonate_service_account, over impersonate_delegates); per-service endpoint overrides
(private endpoints, the offline emulator).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.keyless.wif.plugins.module_utils.gcp.errors import GcpAuthError, one_line
from ansible_collections.keyless.wif.plugins.module_utils.gcp.token_cache import MARGIN_SECONDS, open_cache
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
# generateAccessToken's default and longest lifetime without the lifetime-extension organization policy.
IMPERSONATION_LIFETIME = 3600
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


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _read_json(path):
    with open(path, "r") as handle:
        return json.load(handle)


def _adc_file(environ):
    """The file Application Default Credentials would load (google.auth.default's first two steps), or None."""
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        return path
    config = environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    path = os.path.join(config, "application_default_credentials.json")
    return path if os.path.isfile(path) else None


def identity_key(params, endpoints, environ=None):
    """sha256 naming the identity a token is for, or None when it cannot be told without Google.

    It covers the auth kind, the credential (the key, the external_account configuration with
    its STS and impersonation URLs, the ADC file, or the digest of a source access token), the
    scopes, the endpoints, the impersonated account and its delegates, and the AWS access key ID
    google-auth signs with when it takes AWS credentials from the environment.
    The cached token itself never enters the key.
    """
    environ = os.environ if environ is None else environ
    kind = params.get("auth_kind") or "application"
    identity = {"auth_kind": kind, "scopes": sorted(params.get("scopes") or DEFAULT_SCOPES),
                "endpoints": endpoints, "aws_access_key_id": environ.get("AWS_ACCESS_KEY_ID")}
    target = params.get("impersonate_service_account")
    if target:
        # The token is the target's, reached through this chain from this source.
        identity["impersonate"] = {"target_principal": target, "delegates": list(params.get("impersonate_delegates") or [])}
    import hashlib  # noqa: PLC0415 - deferred: accesstoken runs need no key

    try:
        if kind == "accesstoken":
            if not target:
                return None  # the token is used as is: nothing to cache
            # The source token names the source identity; only its digest enters the key.
            identity["credential"] = hashlib.sha256(params["access_token"].encode("utf-8")).hexdigest()
        elif kind == "serviceaccount":
            info = params.get("service_account_contents")
            if info is None:
                info = _read_json(params["service_account_file"])
            elif isinstance(info, str):
                info = json.loads(info)
            identity["credential"] = info
        elif kind == "external_account":
            identity["credential"] = _redirect_external_account(_read_json(params["external_account_file"]), endpoints)
        elif kind == "application":
            path = _adc_file(environ)
            if path is None:
                return None  # the metadata server: its identity is unknown here, and it caches tokens itself
            identity["credential"] = _read_json(path)
        else:
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # load_credentials reports the problem
    return hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()


def delegate_name(email):
    """A delegate as generateAccessToken wants it (the - wildcard is required)."""
    return "projects/-/serviceAccounts/%s" % email


def impersonation_url(endpoints, email):
    """generateAccessToken of ``email`` on the configured iamcredentials endpoint."""
    return "%s/v1/projects/-/serviceAccounts/%s:generateAccessToken" % (endpoints["iamcredentials"], email)


def impersonated(source, params, endpoints):
    """google-auth impersonated credentials of impersonate_service_account over impersonate_delegates.

    google-auth builds its URL from the universe domain; iam_endpoint_override points it at
    ``endpoints['iamcredentials']`` instead (private endpoints, the emulator).
    """
    import google.auth.impersonated_credentials  # noqa: PLC0415 - deferred like load_credentials

    return google.auth.impersonated_credentials.Credentials(
        source_credentials=source, target_principal=params["impersonate_service_account"],
        target_scopes=params.get("scopes") or DEFAULT_SCOPES,
        delegates=[delegate_name(e) for e in params.get("impersonate_delegates") or []],
        lifetime=IMPERSONATION_LIFETIME, iam_endpoint_override=impersonation_url(endpoints, params["impersonate_service_account"]))


def _google_error(exc):
    """(HTTP status, message) of the Google error answer a RefreshError carries, else (None, None)."""
    for arg in getattr(exc, "args", ())[1:]:
        try:
            error = json.loads(arg).get("error") if isinstance(arg, (str, bytes)) else None
        except ValueError:
            error = None
        if isinstance(error, dict):
            return error.get("code"), error.get("message") or error.get("status")
    return None, None


def impersonation_error(exc, params):
    """A GcpAuthError naming impersonate_service_account for a failed generateAccessToken."""
    target = params["impersonate_service_account"]
    delegates = params.get("impersonate_delegates") or []
    status, message = _google_error(exc)
    if status is None:
        return GcpAuthError("impersonate_service_account: cannot get a token for %s: %s" % (target, one_line(exc)))
    first = delegates[0] if delegates else target
    if status == 403:
        chain = (" and each of impersonate_delegates on the next one (%s)" % " -> ".join(list(delegates) + [target])
                 if delegates else "")
        hint = ("the source credentials (auth_kind=%s) need iam.serviceAccounts.getAccessToken "
                "(roles/iam.serviceAccountTokenCreator) on %s%s, and the iamcredentials API must be enabled"
                % (params.get("auth_kind") or "application", first, chain))
    elif status == 404:
        hint = "%s was not found (or is not visible yet); check impersonate_service_account and impersonate_delegates" % target
    elif status == 400:
        hint = "the request was refused; check impersonate_service_account and impersonate_delegates"
    elif status == 401:
        hint = "the source credentials (auth_kind=%s) were refused" % (params.get("auth_kind") or "application")
    else:
        hint = "generateAccessToken failed"
    return GcpAuthError("impersonate_service_account: cannot impersonate %s: %s (HTTP %s: %s)"
                        % (target, hint, status, one_line(message)))


def fetch_token(params, endpoints):
    """One token exchange through google-auth: (access token, expiry in epoch seconds or None)."""
    credentials = load_credentials(params, endpoints)
    import calendar  # noqa: PLC0415 - only an exchange needs it

    import google.auth.exceptions  # noqa: PLC0415 - deferred like load_credentials
    from google.auth.transport.requests import Request  # noqa: PLC0415

    if params.get("impersonate_service_account"):
        credentials = impersonated(credentials, params, endpoints)
        try:
            credentials.refresh(Request())
        except google.auth.exceptions.RefreshError as exc:
            raise impersonation_error(exc, params) from None
    else:
        credentials.refresh(Request())
    expiry = credentials.expiry  # naive UTC datetime, or None when Google gave no lifetime
    return credentials.token, (calendar.timegm(expiry.utctimetuple()) if expiry is not None else None)


class CachedTokenSession(requests.Session if HAS_REQUESTS else object):
    """requests.Session sending a token from the per-user cache, or from one exchange of its own.

    A token not fetched for this very request that Google answers with 401 (revoked, or expired
    early) is dropped from the cache, and the request is sent once more with a fresh one.
    """

    def __init__(self, fetch, cache=None, key=None, clock=time.time):
        super().__init__()
        self._fetch = fetch
        self._cache = cache if key is not None else None
        self._key = key
        self._clock = clock
        self._token = None
        self._expiry = None
        self.exchanges = 0

    def _usable(self):
        return self._token is not None and (self._expiry is None or self._expiry - self._clock() >= MARGIN_SECONDS)

    def _fresh(self):
        if self._cache is None:
            self._exchange()
            return
        with self._cache.lock(self._key):
            found = self._cache.get(self._key)  # another process may have exchanged while we waited
            if found is not None and found[0] != self._token:
                self._token, self._expiry = found
                return
            self._exchange()
            if self._expiry is not None:
                self._cache.put(self._key, self._token, self._expiry)

    def _exchange(self):
        self._token, self._expiry = self._fetch()
        self.exchanges += 1

    def _current(self):
        """(token, True when it was obtained before this request)."""
        if self._usable():
            return self._token, True
        if self._cache is not None:
            found = self._cache.get(self._key)
            if found is not None:
                self._token, self._expiry = found
                return self._token, True
        self._fresh()
        return self._token, False

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        headers = dict(kwargs.pop("headers", None) or {})
        token, earlier = self._current()
        headers["Authorization"] = "Bearer " + token
        response = super().request(method, url, *args, headers=headers, **kwargs)
        if response.status_code == 401 and earlier:
            if self._cache is not None:
                self._cache.drop(self._key)
            self._fresh()
            headers["Authorization"] = "Bearer " + self._token
            response = super().request(method, url, *args, headers=headers, **kwargs)
        return response


def build_session(params, endpoints, warn=None):
    """HTTP session for the auth options; google-auth is only loaded when a token must be exchanged.

    Tokens come from the per-user cache (``token_cache``) when it holds one for this identity.
    """
    if params.get("auth_kind") == "accesstoken" and not params.get("impersonate_service_account"):
        return BearerSession(params["access_token"])
    warn = warn or (lambda msg: None)
    key = identity_key(params, endpoints) if params.get("token_cache", True) else None
    cache = open_cache(params.get("token_cache_dir"), warn) if key is not None else None
    return CachedTokenSession(lambda: fetch_token(params, endpoints), cache=cache, key=key)
