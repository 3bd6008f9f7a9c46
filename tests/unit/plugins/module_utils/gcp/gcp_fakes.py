"""Test doubles for the GCP client layer: a scripted HTTP session and a fake clock."""

from __future__ import annotations

import json


class FakeResponse:
    def __init__(self, status=200, body=None, headers=None, text=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}
        self.text = text if text is not None else (json.dumps(body) if body is not None else "")
        self.content = self.text.encode()
        self.reason = "reason-%d" % status

    def json(self):
        if self._body is None:
            return json.loads(self.text)
        return self._body


def google_error(status, google_status, message):
    return FakeResponse(status, {"error": {"code": status, "status": google_status, "message": message}})


class ScriptedSession:
    """Answers requests from a list of FakeResponses (or callables) and records them."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def request(self, method, url, *, params=None, json=None, timeout=None, headers=None):
        self.calls.append({"method": method, "url": url, "params": params, "json": json})
        if not self.answers:
            raise AssertionError("unexpected request %s %s" % (method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(method, url, params, json)
        return answer


class FakeClock:
    """time.monotonic/time.sleep pair where sleeping advances the clock instantly."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


# An AWS external_account credential file's content, as the external_account role writes it.
EXTERNAL_ACCOUNT_INFO = {
    "type": "external_account",
    "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
    "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
    "token_url": "https://sts.googleapis.com/v1/token",
    "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                         "sa@p.iam.gserviceaccount.com:generateAccessToken",
    "credential_source": {"environment_id": "aws1", "regional_cred_verification_url":
                          "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"},
}
