"""AWS STS Query API (GetCallerIdentity) answered by handle_sts_query, driven by boto3.

The emulator's real server belongs to another module; here a tiny loopback http.server routes
``/`` to handle_sts_query so that boto3 talks to it over HTTP exactly as it talks to AWS.
"""

from __future__ import annotations

import datetime as dt
import threading
import xml.etree.ElementTree as ET  # parses the emulator's own answers only
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from wif_emulator.aws import STS_XMLNS, handle_sts_query, mint_credentials

SECRET = "sandbox-credential-secret"
ACCOUNT = "111111111111"
ROLE = "wif-bound-role"
SESSION = "i-0123456789abcdef0"
NS = {"sts": STS_XMLNS}


class _StsHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, content_type, data = handle_sts_query(SECRET, self.command, self.path, self.headers, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture(scope="module")
def sts_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StsHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _xml(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - trusted: the XML under test comes from our own function


def _client(url: str, creds: dict[str, str], secret_access_key: str | None = None, region: str = "us-east-1"):
    return boto3.client(
        "sts",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=secret_access_key or creds["SecretAccessKey"],
        aws_session_token=creds["Token"],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def _creds(secret: str = SECRET, **kwargs) -> dict[str, str]:
    return mint_credentials(secret, ACCOUNT, ROLE, SESSION, kwargs.pop("ttl", 3600), **kwargs)


def _client_error(call) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def test_boto3_get_caller_identity_returns_the_assumed_role(sts_url):
    answer = _client(sts_url, _creds()).get_caller_identity()
    assert answer["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{SESSION}"
    assert answer["Account"] == ACCOUNT
    assert answer["UserId"].startswith("AROA") and answer["UserId"].endswith(f":{SESSION}")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(answer["ResponseMetadata"]["RequestId"]) == 36


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2"])
def test_any_client_region_works_against_the_emulator_address(sts_url, region):
    assert _client(sts_url, _creds(), region=region).get_caller_identity()["Account"] == ACCOUNT


def test_boto3_with_forged_credentials_gets_invalid_client_token_id(sts_url):
    err = _client_error(lambda: _client(sts_url, _creds(secret="forger")).get_caller_identity())
    assert err.response["Error"]["Code"] == "InvalidClientTokenId"
    assert err.response["Error"]["Message"] == "The security token included in the request is invalid."
    assert err.response["Error"]["Type"] == "Sender"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_with_expired_credentials_gets_expired_token(sts_url):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    err = _client_error(lambda: _client(sts_url, _creds(ttl=900, now=past)).get_caller_identity())
    assert err.response["Error"]["Code"] == "ExpiredToken"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_with_wrong_secret_key_gets_signature_does_not_match(sts_url):
    err = _client_error(lambda: _client(sts_url, _creds(), secret_access_key=_creds()["SecretAccessKey"]).get_caller_identity())
    assert err.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_other_actions_are_invalid_actions(sts_url):
    client = _client(sts_url, _creds())
    err = _client_error(client.get_session_token)
    assert err.response["Error"]["Code"] == "InvalidAction"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def _signed(creds: dict[str, str], method: str, url: str, body: bytes) -> tuple[str, dict[str, str]]:
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"} if body else {}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]), "sts", "us-east-1").add_auth(request)
    wire = dict(request.headers.items())
    wire["Host"] = "sts.us-east-1.amazonaws.com"
    return request.url, wire


def test_get_with_query_parameters_answers_the_real_xml():
    url, headers = _signed(_creds(), "GET", "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15", b"")
    status, content_type, body = handle_sts_query(SECRET, "GET", url, headers, b"")
    assert (status, content_type) == (200, "text/xml")
    root = _xml(body)
    assert root.tag == f"{{{STS_XMLNS}}}GetCallerIdentityResponse"
    assert root.findtext("sts:GetCallerIdentityResult/sts:Arn", namespaces=NS) == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{SESSION}"
    assert root.findtext("sts:GetCallerIdentityResult/sts:Account", namespaces=NS) == ACCOUNT
    assert root.findtext("sts:ResponseMetadata/sts:RequestId", namespaces=NS)


def test_unsigned_request_is_missing_authentication_token():
    status, _, body = handle_sts_query(SECRET, "POST", "/", {"Host": "127.0.0.1:1", "Content-Type": "application/x-www-form-urlencoded"},
                                       b"Action=GetCallerIdentity&Version=2011-06-15")
    root = _xml(body)
    assert status == 403
    assert root.tag == f"{{{STS_XMLNS}}}ErrorResponse"
    assert root.findtext("sts:Error/sts:Type", namespaces=NS) == "Sender"
    assert root.findtext("sts:Error/sts:Code", namespaces=NS) == "MissingAuthenticationToken"
    assert root.findtext("sts:RequestId", namespaces=NS)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Version=2011-06-15", "MissingAction"),
        (b"Action=GetCallerIdentity&Version=2010-01-01", "InvalidAction"),
        (b"Action=AssumeRole&Version=2011-06-15", "InvalidAction"),
    ],
)
def test_signed_requests_for_unknown_actions_are_400(body, code):
    url, headers = _signed(_creds(), "POST", "https://sts.us-east-1.amazonaws.com/", body)
    status, _, answer = handle_sts_query(SECRET, "POST", url, headers, body)
    assert status == 400
    assert _xml(answer).findtext("sts:Error/sts:Code", namespaces=NS) == code
