"""The acceptance test of keyless.wif.wif_credentials_check: for every case it must agree with google-auth.

Each case runs google-auth's own refresh (what LiteLLM does) and the check in the same
environment, against the in-process emulator and a loopback IMDS, and asserts both succeed or
both fail, and that the check names the expected diagnosis.
"""

from __future__ import annotations

import time

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif.check import run_check

from .check_harness import ACCOUNT, OTHER_ACCOUNT, Cloud, ForwardingProxy, closed_port, credential_info, plain_google_auth, start_imds

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy")
DEAD_PROXY = "dead-proxy"
FORWARDING_PROXY = "forwarding-proxy"
MINTED = "minted"


@pytest.fixture(scope="module")
def cloud():
    emulator = Cloud()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def forwarding_proxy():
    proxy = ForwardingProxy()
    try:
        yield proxy
    finally:
        proxy.stop()


# id, environment (values resolved in the test), setup keyword arguments, IMDS keyword arguments, expected diagnosis (None: works)
CASES = [
    ("no-proxy", {}, {}, {}, None),
    ("proxy-nothing-listens", {"HTTP_PROXY": DEAD_PROXY}, {}, {}, "proxy_failed"),
    ("proxy-lowercase-nothing-listens", {"http_proxy": DEAD_PROXY}, {}, {}, "proxy_failed"),
    ("proxy-with-no-proxy-for-the-endpoints", {"HTTP_PROXY": DEAD_PROXY, "NO_PROXY": "127.0.0.1,169.254.169.254"}, {}, {}, None),
    ("forwarding-proxy", {"HTTP_PROXY": FORWARDING_PROXY}, {}, {}, None),
    ("region-from-AWS_REGION", {"AWS_REGION": "us-east-1"}, {}, {}, None),
    ("region-from-AWS_DEFAULT_REGION", {"AWS_DEFAULT_REGION": "us-east-1"}, {}, {}, None),
    ("bad-AWS_REGION", {"AWS_REGION": "us-east-"}, {}, {}, "wrong_region"),
    ("credentials-from-env-region-from-imds", {"AWS_ACCESS_KEY_ID": MINTED}, {}, {}, None),
    ("credentials-and-region-from-env", {"AWS_ACCESS_KEY_ID": MINTED, "AWS_REGION": "us-east-1"}, {}, {}, None),
    ("account-mismatch", {}, {"provider_account": OTHER_ACCOUNT}, {}, "aws_account_mismatch"),
    ("expired-aws-credentials", {}, {}, {"clock_offset_seconds": -7200}, "aws_credentials_rejected"),
    ("binding-missing", {}, {"bind": False}, {}, "binding_missing"),
    ("partition-aws-us-gov", {}, {"partition": "aws-us-gov"}, {"availability_zone": "us-gov-west-1a"}, None),
    ("partition-aws-cn", {}, {"partition": "aws-cn"}, {"availability_zone": "cn-north-1a"}, None),
    ("audience-for-a-missing-provider", {}, {"provider": "other-provider", "audience_provider": "aws-provider"}, {}, "invalid_target"),
]


def _environment(values, cloud, proxy):
    env = {}
    for key, value in values.items():
        if value == DEAD_PROXY:
            env[key] = "http://127.0.0.1:%d" % closed_port()
        elif value == FORWARDING_PROXY:
            env[key] = proxy.url
        elif value == MINTED:
            minted = cloud.mint()
            env.update({"AWS_ACCESS_KEY_ID": minted["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": minted["SecretAccessKey"],
                        "AWS_SESSION_TOKEN": minted["Token"]})
        else:
            env[key] = value
    return env


@pytest.mark.parametrize("name, env_values, setup, imds_options, expected", CASES, ids=[case[0] for case in CASES])
def test_check_agrees_with_google_auth(cloud, forwarding_proxy, monkeypatch, name, env_values, setup, imds_options, expected):
    cloud.reset()
    setup = dict(setup)
    audience_provider = setup.pop("audience_provider", None)
    audience = cloud.setup(**setup)
    if audience_provider:
        audience = audience.rsplit("/", 1)[0] + "/" + audience_provider
    imds = start_imds(**imds_options)
    try:
        suffix = "amazonaws.com.cn" if imds_options.get("availability_zone", "").startswith("cn-") else "amazonaws.com"
        info = credential_info(cloud.url, imds.base_url, audience,
                               "https://sts.{region}.%s?Action=GetCallerIdentity&Version=2011-06-15" % suffix)
        for key in PROXY_VARIABLES:
            monkeypatch.delenv(key, raising=False)
        for key, value in _environment(env_values, cloud, forwarding_proxy).items():
            monkeypatch.setenv(key, value)

        google_ok, google_error = plain_google_auth(info)
        forwarded_by_google_auth = len(forwarding_proxy.forwarded)
        started = time.monotonic()
        result = run_check(info, timeout=5, metadata_timeout=2)
        elapsed_ms = (time.monotonic() - started) * 1000
    finally:
        imds.stop()

    assert result["ok"] is google_ok, (name, google_error, result)
    assert (result["diagnosis"] or {}).get("code") == expected, (name, result["diagnosis"], result["hops"])
    assert elapsed_ms < 5000, elapsed_ms
    print("%s: check %.0f ms, hops %s" % (name, elapsed_ms, [(h["name"], h["duration_ms"]) for h in result["hops"]]))
    if env_values.get("HTTP_PROXY") == FORWARDING_PROXY:
        # google-auth and the check both went through the proxy, with the same requests (then the
        # check's identity-document lookup).
        count = forwarded_by_google_auth
        assert count > 0
        assert forwarding_proxy.forwarded[count:2 * count] == forwarding_proxy.forwarded[:count]
    if google_ok:
        assert result["access_token_expiry"] and result["failed_hop"] is None
        assert result["hops"][-1]["name"] == "impersonation"
    else:
        assert result["failed_hop"] == result["hops"][-1]["name"]
    if not env_values.get("AWS_ACCESS_KEY_ID") and expected not in ("proxy_failed",):
        assert result["caller"]["aws_role"] == "arn:%s:sts::%s:assumed-role/wif-bound-role" % (setup.get("partition", "aws"), ACCOUNT)
