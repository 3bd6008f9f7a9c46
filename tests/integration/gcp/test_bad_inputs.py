"""Bad inputs fail with an error naming the field and the rule, before any request is sent."""

from __future__ import annotations

import pytest

POOL = "gcp_workload_identity_pool"
PROV = "gcp_workload_identity_pool_provider"
SA = "gcp_service_account"
PIAM = "gcp_project_iam_member"
SAIAM = "gcp_service_account_iam_member"
SVC = "gcp_project_service"
INFO = "gcp_project_info"
CALLER = "aws_caller_info"
CHECK = "wif_credentials_check"
ACCT = "111111111111"
P = {"pool_id": "aws-pool", "provider_id": "aws-provider", "account_id": ACCT}
ROLE = {"role": "roles/aiplatform.user", "members": ["user:alice@example.com"]}
SAM = {"service_account": "litellm-vertex", "role": "roles/iam.workloadIdentityUser"}

# (module, arguments, text the error must contain: the field name, and the rule)
CASES = [
    (POOL, {"pool_id": "abc"}, ["pool_id", "4-32"]),
    (POOL, {"pool_id": "Bad_Pool"}, ["pool_id", "[a-z0-9-]"]),
    (POOL, {"pool_id": "gcp-reserved"}, ["pool_id", "reserved prefix"]),
    (POOL, {"pool_id": "p" * 33}, ["pool_id", "4-32"]),
    (POOL, {"pool_id": "aws-pool", "display_name": "d" * 33}, ["display_name", "at most 32"]),
    (POOL, {"pool_id": "aws-pool", "description": "d" * 257}, ["description", "at most 256"]),
    (PROV, dict(P, account_id="12345"), ["account_id", "12-digit"]),
    (PROV, {"pool_id": "aws-pool", "provider_id": "aws-provider"}, ["account_id", "12-digit"]),
    (PROV, dict(P, attribute_mapping={"attribute.aws_role": "assertion.arn"}), ["attribute_mapping", "google.subject"]),
    (PROV, dict(P, attribute_mapping={"google.subject": "assertion.arn", "Attribute.Role": "x"}),
     ["attribute_mapping[Attribute.Role]", "key must be"]),
    (PROV, dict(P, attribute_condition="a" * 4097), ["attribute_condition", "at most 4096"]),
    (PROV, dict(P, attribute_condition="attribute.aws_role == 'x"), ["attribute_condition", "unterminated"]),
    (PROV, dict(P, provider_id="gcp-aws"), ["provider_id", "reserved prefix"]),
    (PROV, dict(P, display_name="d" * 40), ["display_name", "at most 32"]),
    (PROV, dict(P, pool_id="x"), ["pool_id", "4-32"]),
    (SA, {"account_id": "short"}, ["account_id", "6-30"]),
    (SA, {"account_id": "Has_Upper_Case"}, ["account_id", "[a-z]"]),
    (SA, {"account_id": "1abcdefg"}, ["account_id", "[a-z]"]),
    (SA, {"account_id": "litellm-vertex", "display_name": "d" * 101}, ["display_name", "at most 100"]),
    (SA, {"account_id": "litellm-vertex@nowhere"}, ["account_id", "e-mail"]),
    (SA, {"account_id": "litellm-vertex", "description": "d" * 300}, ["description", "at most 256"]),
    (PIAM, dict(ROLE, role="aiplatform.user"), ["role", "roles/NAME"]),
    (PIAM, dict(ROLE, members=["alice@example.com"]), ["members[0]", "must start with"]),
    (PIAM, dict(ROLE, members=["user:alice"]), ["members[0]", "e-mail"]),
    (PIAM, dict(ROLE, condition={"expression": "true"}), ["title", "condition"]),
    (PIAM, dict(ROLE, condition={"title": "t", "expression": "request.time < timestamp('2030'"}),
     ["condition.expression", "CEL"]),
    (PIAM, {"bindings": [ROLE, {"role": "roles/viewer", "members": ["bob"]}]}, ["bindings[1].members[0]", "must start with"]),
    (PIAM, {"role": "roles/viewer", "members": []}, ["members", "at least one"]),
    (SAIAM, dict(SAM, aws_role_arns=["arn:aws:iam::%s:role/r" % ACCT]), ["pool", "required with aws_role_arns"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:iam::1234:role/r"]), ["aws_role_arns[0]", "ACCOUNT"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:iam::%s:user/bob" % ACCT]), ["aws_role_arns[0]", "IAM user"]),
    (SAIAM, dict(SAM, pool="projects/wif-sandbox/locations/global/workloadIdentityPools/p1234",
                 aws_role_arns=["arn:aws:iam::%s:role/r" % ACCT]), ["pool", "PROJECT_NUMBER"]),
    (SAIAM, dict(SAM, service_account="Bad@example"), ["service_account", "e-mail"]),
    (SAIAM, dict(SAM, members=["principalSet://example.com/x/y/z"]), ["members[0]", "iam.googleapis.com"]),
    (SAIAM, SAM, ["members", "aws_role_arns"]),
    (SVC, {"services": ["iam"]}, ["services[0]", "iam.googleapis.com"]),
    (SVC, {"services": []}, ["services", "at least one"]),
    (INFO, {"project": "Bad_Project"}, ["project", "project ID"]),
    (INFO, {"endpoints": {"iam": "localhost:8080"}}, ["endpoints.iam", "http"]),
    (POOL, {"pool_id": "aws-pool", "retries": -1}, ["retries", "0 or more"]),
    (POOL, {"pool_id": "aws-pool", "wait_timeout": 0}, ["wait_timeout", "positive"]),
    (INFO, {"auth_kind": "serviceaccount"}, ["service_account_file", "auth_kind"]),
    (INFO, {"auth_kind": "external_account"}, ["external_account_file", "auth_kind"]),
    (POOL, {"pool_id": "aws-pool", "state": "deleted"}, ["state", "present, absent"]),
    # Whole-value patterns: a trailing newline or a non-ASCII letter is refused.
    (POOL, {"pool_id": "aws-pool\n"}, ["pool_id", "4-32"]),
    (PROV, dict(P, account_id=ACCT + "\n"), ["account_id", "12-digit"]),
    (PROV, dict(P, provider_id="aws-provider\n"), ["provider_id", "4-32"]),
    (PROV, dict(P, attribute_condition="assertion.arn.startsWith('a') &&"), ["attribute_condition", "CEL"]),
    (PROV, dict(P, attribute_condition="assertoin.arn == 'x'"), ["attribute_condition", "assertoin"]),
    (PROV, dict(P, attribute_mapping={"google.subject": "assertion.arn +"}), ["attribute_mapping[google.subject]", "CEL"]),
    (SA, {"account_id": "litellm-vertex@wif-other.iam.gserviceaccount.com"}, ["account_id", "another project"]),
    (SA, {"account_id": "litellm-vertex", "display_name": "\u00e9" * 51}, ["display_name", "100 UTF-8 bytes"]),
    (SA, {"account_id": "litellm-vertex", "description": "\u00fc" * 129}, ["description", "256 UTF-8 bytes"]),
    (SA, {"account_id": "litellm-vertex\n"}, ["account_id", "[a-z]"]),
    (PIAM, dict(ROLE, role="roles/viewer\n"), ["role", "roles/NAME"]),
    (PIAM, dict(ROLE, members=["user:alice@example.com\n"]), ["members[0]", "e-mail"]),
    (PIAM, dict(ROLE, members=["user:\u00e5lice@example.com"]), ["members[0]", "e-mail"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:iam::%s:root" % ACCT]), ["aws_role_arns[0]", "root user"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:sts::%s:federated-user/bob" % ACCT]),
     ["aws_role_arns[0]", "federated user"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:iam::%s:role/r\u00f4le" % ACCT]),
     ["aws_role_arns[0]", "invalid role name"]),
    (SAIAM, dict(SAM, pool="aws-pool", aws_role_arns=["arn:aws:sts::%s:assumed-role/r/s/x" % ACCT]),
     ["aws_role_arns[0]", "assumed-role/ROLE"]),
    (SVC, {"services": ["iam.googleapis.com\n"]}, ["services[0]", "full service name"]),
    (INFO, {"endpoints": {"iam": "http://"}}, ["endpoints.iam", "must name a host"]),
    (INFO, {"endpoints": {"iam": "https://exa mple.com"}}, ["endpoints.iam", "white space"]),
    (INFO, {"endpoints": {"iam": "ftp://example.com"}}, ["endpoints.iam", "http"]),
    (INFO, {"endpoints": {"iam": "https://example.com:99999"}}, ["endpoints.iam", "port"]),
    (INFO, {"project": "wif-sandbox\n"}, ["project", "project ID"]),
    # The two host-side modules check their inputs before any request too.
    (CALLER, {"region": "us-east-1\n"}, ["region", "AWS region"]),
    (CALLER, {"region": "mars"}, ["region", "AWS region"]),
    (CALLER, {"endpoint_url": "http://"}, ["endpoint_url", "must name a host"]),
    (CALLER, {"pool_id": "Bad", "project_number": "123456789012"}, ["pool_id", "4-32"]),
    (CALLER, {"pool_id": "aws-pool"}, ["pool_id", "project_number"]),
    (CALLER, {"project_number": "wif-sandbox"}, ["project_number", "digits"]),
    (CHECK, {"path": "/nonexistent/gcp.json"}, ["path", "cannot read"]),
    (CHECK, {"timeout": 0}, ["timeout", "positive"]),
    (CHECK, {"metadata_timeout": -1}, ["metadata_timeout", "positive"]),
    (CHECK, {"environment_file": "/nonexistent/litellm.env"}, ["environment_file", "cannot read"]),
]


def test_table_is_big_enough():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == 9


@pytest.fixture(scope="module")
def outcome(emulator, tmp_path_factory):
    from .gcp_harness import run_play

    emulator.reset()
    tasks = [{"name": "case %d" % i, "keyless.wif." + module: args, "ignore_errors": True}
             for i, (module, args, _unused1) in enumerate(CASES)]
    result = run_play(emulator, tmp_path_factory.mktemp("bad"), tasks, lanes=2)
    return result, emulator.stats(), emulator.requests()


@pytest.mark.parametrize("index", range(len(CASES)))
def test_bad_input(outcome, index):
    result, _unused1, _unused2 = outcome
    module, args, needles = CASES[index]
    rec = result["case %d" % index]
    assert rec["status"] == "failed", (module, args, rec["result"])
    msg = rec["result"]["msg"]
    assert "\n" not in msg and "Traceback" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    assert "module_stderr" not in rec["result"]


def test_no_request_reached_the_emulator(outcome):
    _unused1, stats, requests = outcome
    assert requests == []
    assert stats["totals"].get("write", 0) == 0
    assert stats["totals"].get("read", 0) == 0
