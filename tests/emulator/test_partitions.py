"""AWS partitions end to end: aws-cn (cn-north-1) and aws-us-gov (us-gov-west-1).

google-auth's own aws.Credentials refreshes against the in-process emulator and a loopback IMDS
whose availability zone puts the instance in the partition. It succeeds with the partition's
regional_cred_verification_url (names.sts_verification_url_template) and fails with another.

Reusable by other tests (``from test_partitions import ...``):
- ``start_partition_metadata(zone)``: a started loopback MetadataServer in that zone's partition
  (``PARTITION_ZONES``: partition -> zone); ``partition_metadata`` is the fixture form
  (parametrize it indirectly with a partition id).
- ``partition_info(base_url, md_url, partition)``: the external_account info for that partition.
- ``role_member(partition)``: the principalSet member Google's default mapping matches.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import botocore.session
import google.auth.aws
import google.auth.exceptions
import google.auth.transport.requests
import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import names
from conftest import ACCOUNT, CLOUD_PLATFORM, INSTANCE_ID, POOL_PATH, ROLE, SECRET, external_account_info
from wif_emulator import aws
from wif_emulator.imds import MetadataServer

PARTITION_ZONES = {"aws": "us-east-1a", "aws-cn": "cn-north-1a", "aws-us-gov": "us-gov-west-1a"}
PARTITION_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}


def start_partition_metadata(zone: str, account: str = ACCOUNT, role: str = ROLE, **kwargs: Any) -> MetadataServer:
    """A started IMDSv2 on 127.0.0.1 for an instance in ``zone`` (its partition follows the zone)."""
    return MetadataServer(SECRET, account, role, INSTANCE_ID, zone, host="127.0.0.1", port=0, require_token=True, **kwargs).start()


@pytest.fixture
def partition_metadata(request: pytest.FixtureRequest) -> Iterator[MetadataServer]:
    md = start_partition_metadata(PARTITION_ZONES[getattr(request, "param", "aws")])
    try:
        yield md
    finally:
        md.stop()


def role_member(partition: str, role: str = ROLE, account: str = ACCOUNT) -> str:
    return f"principalSet://iam.googleapis.com/{POOL_PATH}/attribute.aws_role/arn:{partition}:sts::{account}:assumed-role/{role}"


def partition_info(base_url: str, md_url: str, partition: str, verification_url: str | None = None, **kwargs: Any) -> dict[str, Any]:
    info = external_account_info(base_url, md_url, **kwargs)
    info["credential_source"]["regional_cred_verification_url"] = verification_url or names.sts_verification_url_template(partition)
    return info


@pytest.fixture(autouse=True)
def _imds_only(no_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _refresh(info: dict[str, Any]) -> google.auth.aws.Credentials:
    creds = google.auth.aws.Credentials.from_info(info, scopes=[CLOUD_PLATFORM])
    creds.refresh(google.auth.transport.requests.Request())
    return creds


# --------------------------------------------------------------------------- partition data


def _botocore_partitions() -> list[dict[str, Any]]:
    return botocore.loaders.create_loader().load_data("partitions")["partitions"]


def test_emulator_and_names_tables_are_botocores_partitions():
    expected = {p["id"]: (p["outputs"]["dnsSuffix"], p["regionRegex"].lstrip("^").rstrip("$").replace("\\-", "-"))
                for p in _botocore_partitions()}
    emulator = {name: (suffix, pattern.pattern) for name, (suffix, pattern) in aws.PARTITIONS.items()}
    table = {name: (suffix, pattern) for name, suffix, pattern in names.AWS_PARTITION_TABLE}
    assert emulator == expected
    assert table == expected
    assert set(names.PARTITIONS) == set(expected)


@pytest.mark.parametrize("with_botocore", [True, False])
def test_every_botocore_region_has_its_partition_and_sts_host(monkeypatch, with_botocore):
    if not with_botocore:  # a host without botocore: names.py falls back to its own table
        monkeypatch.setattr(names, "_aws_partitions_cache", [[(n, s, re.compile(p, re.ASCII), ()) for n, s, p in names.AWS_PARTITION_TABLE]])
    session = botocore.session.Session()
    for part in _botocore_partitions():
        for region in part["regions"]:
            if region.endswith("-global"):
                continue
            assert names.partition_of_region(region) == part["id"], region
            assert aws.partition_of_region(region) == part["id"], region
            if part["id"] not in ("aws", "aws-cn", "aws-us-gov"):
                continue
            client = session.create_client("sts", region_name=region, aws_access_key_id="x", aws_secret_access_key="y")
            host = urllib.parse.urlsplit(client.meta.endpoint_url).hostname
            assert names.sts_hostname(region) == host, region
            assert aws.sts_host_region(host) == region, host


def test_names_of_the_partitions():
    assert names.sts_hostname("cn-north-1") == "sts.cn-north-1.amazonaws.com.cn"
    assert names.sts_hostname("us-gov-west-1") == "sts.us-gov-west-1.amazonaws.com"
    assert names.sts_hostname(None) == "sts.amazonaws.com"
    assert names.sts_verification_url_template("aws") == google.auth.aws._DEFAULT_AWS_REGIONAL_CREDENTIAL_VERIFICATION_URL
    assert names.sts_verification_url_template("aws-us-gov") == google.auth.aws._DEFAULT_AWS_REGIONAL_CREDENTIAL_VERIFICATION_URL
    assert names.sts_verification_url_template("aws-cn") == "https://sts.{region}.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15"
    with pytest.raises(ValueError, match="unknown AWS partition"):
        names.sts_verification_url_template("azure")
    for partition in ("aws-cn", "aws-us-gov"):
        identity = names.role_identity(f"arn:{partition}:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE_ID}")
        assert identity["partition"] == partition
        assert identity["aws_role"] == f"arn:{partition}:sts::{ACCOUNT}:assumed-role/{ROLE}"
        assert names.role_identity(f"arn:{partition}:iam::{ACCOUNT}:role/{ROLE}")["aws_role"] == identity["aws_role"]


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("sts.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("sts.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"),
        ("sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("sts.us-gov-east-1.amazonaws.com", "us-gov-east-1"),
        ("sts.amazonaws.com", "us-east-1"),
        ("sts-fips.us-east-1.amazonaws.com", "us-east-1"),
        # No such endpoints: a region with another partition's DNS suffix, FIPS where AWS has none.
        ("sts.cn-north-1.amazonaws.com", None),
        ("sts.us-east-1.amazonaws.com.cn", None),
        ("sts.us-gov-west-1.amazonaws.com.cn", None),
        ("sts-fips.cn-north-1.amazonaws.com.cn", None),
        ("sts-fips.us-gov-west-1.amazonaws.com", None),
        ("sts.amazonaws.com.cn", None),
    ],
)
def test_sts_hosts_of_the_emulator(host, region):
    assert aws.sts_host_region(host) == region


# --------------------------------------------------------------------------- IMDS in a partition


@pytest.mark.parametrize("partition_metadata", ["aws-cn", "aws-us-gov"], indirect=True)
def test_metadata_server_hands_out_the_partitions_credentials(partition_metadata):
    md = partition_metadata
    partition = aws.partition_of_region(md.region)
    assert md.partition == partition
    assert md.identity_document()["region"] == PARTITION_REGIONS[partition]
    assert md.iam_info()["InstanceProfileArn"] == f"arn:{partition}:iam::{ACCOUNT}:instance-profile/{ROLE}"
    creds = md.role_credentials()
    # Signed for the partition's own STS host, the caller is the partition's assumed role.
    info = google.auth.aws.RequestSigner(md.region).get_request_options(
        google.auth.aws.AwsSecurityCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]),
        f"https://{names.sts_hostname(md.region)}?Action=GetCallerIdentity&Version=2011-06-15", "POST")
    caller = aws.verify_signed_request(SECRET, "POST", info["url"], info["headers"], "")
    assert caller.arn == f"arn:{partition}:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE_ID}"


def test_zone_outside_every_partition_is_refused():
    with pytest.raises(ValueError, match="no AWS partition"):
        MetadataServer(SECRET, ACCOUNT, ROLE, INSTANCE_ID, "xx-moon-1a")


# --------------------------------------------------------------------------- google-auth end to end


@pytest.mark.parametrize("partition_metadata", ["aws-cn", "aws-us-gov"], indirect=True)
def test_google_auth_refresh_succeeds_with_the_partitions_verification_url(emulator, sandbox, partition_metadata):
    partition = partition_metadata.partition
    sandbox.full_setup(sa_member=role_member(partition))
    creds = _refresh(partition_info(emulator.base_url, partition_metadata.base_url, partition))
    assert creds.token
    assert emulator.app.stats_snapshot()["counters"]["sts_token_exchanges"] == 1


@pytest.mark.parametrize(
    ("partition_metadata", "verification_url", "words"),
    [
        # google-auth's default (and gcloud's) template in China: sts.cn-north-1.amazonaws.com does not exist.
        ("aws-cn", "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "url must be"),
        ("aws-cn", "https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "SignatureDoesNotMatch"),
        ("aws-us-gov", "https://sts.{region}.amazonaws.com.cn?Action=GetCallerIdentity&Version=2011-06-15", "url must be"),
        ("aws-us-gov", "https://sts.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "SignatureDoesNotMatch"),
        # A host of the aws partition signed for it would still carry the wrong partition's keys.
        ("aws-us-gov", "https://sts.us-east-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "SignatureDoesNotMatch"),
    ],
    indirect=["partition_metadata"],
)
def test_google_auth_refresh_fails_with_another_verification_url(emulator, sandbox, partition_metadata, verification_url, words):
    sandbox.full_setup(sa_member=role_member(partition_metadata.partition))
    info = partition_info(emulator.base_url, partition_metadata.base_url, partition_metadata.partition, verification_url)
    with pytest.raises(google.auth.exceptions.GoogleAuthError) as err:
        _refresh(info)
    assert "invalid_grant" in str(err.value)
    assert words in str(err.value)
    assert emulator.app.stats_snapshot()["counters"]["sts_token_exchanges"] == 0


def test_the_aws_partition_binding_does_not_match_a_china_caller(emulator, sandbox):
    md = start_partition_metadata(PARTITION_ZONES["aws-cn"])
    try:
        sandbox.full_setup(sa_member=role_member("aws"))
        with pytest.raises(google.auth.exceptions.GoogleAuthError) as err:
            _refresh(partition_info(emulator.base_url, md.base_url, "aws-cn"))
    finally:
        md.stop()
    assert "iam.serviceAccounts.getAccessToken" in str(err.value)


def test_google_sts_sees_the_partition_in_the_assertion(emulator, sandbox):
    md = start_partition_metadata(PARTITION_ZONES["aws-us-gov"])
    try:
        sandbox.full_setup(sa_member=role_member("aws-us-gov"),
                           attributeCondition="assertion.arn.startsWith('arn:aws-us-gov:sts::')")
        assert _refresh(partition_info(emulator.base_url, md.base_url, "aws-us-gov")).token
        state = json.dumps(emulator.app.stats_snapshot())
    finally:
        md.stop()
    assert '"sts_token_exchanges": 1' in state


def test_admin_mints_credentials_of_a_partition(emulator):
    def mint(**extra: Any) -> dict[str, Any]:
        body = json.dumps({"account_id": ACCOUNT, "role_name": ROLE, "session_name": INSTANCE_ID, **extra}).encode()
        req = urllib.request.Request(emulator.base_url + "/_emulator/aws/credentials", data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as answer:  # noqa: S310 - loopback emulator
            return json.loads(answer.read())

    creds = mint(partition="aws-us-gov")
    signed = google.auth.aws.RequestSigner("us-gov-west-1").get_request_options(
        google.auth.aws.AwsSecurityCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]),
        "https://sts.us-gov-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "POST")
    caller = aws.verify_signed_request(SECRET, "POST", signed["url"], signed["headers"], "")
    assert caller.arn == f"arn:aws-us-gov:sts::{ACCOUNT}:assumed-role/{ROLE}/{INSTANCE_ID}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        mint(partition="aws-mars")
    assert refused.value.code == 400 and "partition" in json.loads(refused.value.read())["error"]["message"]
