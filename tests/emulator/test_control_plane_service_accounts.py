"""control_plane_service_accounts: the emulator's stand-in for a keyless controller's owner service account."""

from __future__ import annotations

import google.auth.transport.requests
import pytest
import requests
from conftest import PROJECT_ID, SA_EMAIL, Sandbox, aws_credentials, make_config
from wif_emulator.config import ConfigError, parse_config
from wif_emulator.server import EmulatorServer


def _federated_sa_token(base_url, md_url):
    Sandbox(base_url).full_setup()
    creds = aws_credentials(base_url, md_url)
    creds.refresh(google.auth.transport.requests.Request())
    return creds.token


def _project_get(base_url, token):
    return requests.get("%s/v1/projects/%s" % (base_url, PROJECT_ID), headers={"Authorization": "Bearer " + token},
                        timeout=10).status_code


@pytest.mark.parametrize(("listed", "status"), [([SA_EMAIL], 200), ([], 401),
                                                (["someone-else@%s.iam.gserviceaccount.com" % PROJECT_ID], 401)])
def test_only_listed_service_accounts_tokens_reach_the_control_plane(metadata, no_aws_env, listed, status):
    server = EmulatorServer(make_config(control_plane_service_accounts=listed)).start()
    try:
        token = _federated_sa_token(server.base_url, metadata.base_url)
        assert _project_get(server.base_url, token) == status
        # An expired token is refused even for a listed account.
        server.app.state.data["tokens"][token]["expires"] = server.app.now() - 1
        assert _project_get(server.base_url, token) == 401
    finally:
        server.stop()


def test_entries_must_be_service_account_emails():
    with pytest.raises(ConfigError, match="control_plane_service_accounts"):
        parse_config(make_config(control_plane_service_accounts=["user:alice@example.com"]))
