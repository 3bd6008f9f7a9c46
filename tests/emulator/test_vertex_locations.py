"""Vertex AI locations: regions, global and the multi-regions us and eu, and the host that serves each.

docs/emulator.md, "Vertex AI locations": generateContent is served from a region
({region}-aiplatform.googleapis.com), the global endpoint (aiplatform.googleapis.com, location
global) and the multi-regions (aiplatform.{us,eu}.rep.googleapis.com, locations us, eu), the hosts
LiteLLM 1.108.14 builds (litellm/llms/vertex_ai/common_utils.py get_vertex_base_url).
"""

from __future__ import annotations

import pytest
from conftest import PROJECT_ID, aws_credentials
from google.auth.transport.requests import AuthorizedSession

BODY = {"contents": [{"role": "user", "parts": [{"text": "where are you?"}]}]}


@pytest.fixture
def call(emulator, sandbox, metadata):
    sandbox.full_setup()
    session = AuthorizedSession(aws_credentials(emulator.base_url, metadata.base_url))

    def _call(location, host=None):
        url = (f"{emulator.base_url}/v1/projects/{PROJECT_ID}/locations/{location}/publishers/google/models/"
               f"gemini-2.5-flash:generateContent")
        return session.post(url, json=BODY, headers={"Host": host} if host else {}, timeout=30)
    return _call


def _refused(resp, text):
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert text in error["message"]


def test_a_region_is_served_by_its_regional_endpoint(call):
    resp = call("us-central1", "us-central1-aiplatform.googleapis.com")
    assert resp.status_code == 200, resp.text
    assert "Emulated gemini-2.5-flash answer" in resp.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_a_long_region_name_is_served(call):
    assert call("northamerica-northeast1", "northamerica-northeast1-aiplatform.googleapis.com").status_code == 200


def test_a_middle_east_region_is_served(call):
    assert call("me-central2").status_code == 200


def test_global_is_served_by_the_global_endpoint(call):
    assert call("global", "aiplatform.googleapis.com").status_code == 200


def test_the_us_multi_region_is_served_by_its_rep_endpoint(call):
    assert call("us", "aiplatform.us.rep.googleapis.com:443").status_code == 200


def test_the_eu_multi_region_is_served_by_its_rep_endpoint(call):
    assert call("eu", "aiplatform.eu.rep.googleapis.com").status_code == 200


def test_upper_case_us_is_refused(call):
    _refused(call("US"), "Unsupported location 'US'")


def test_a_region_without_its_number_is_refused(call):
    _refused(call("us-central"), "Unsupported location 'us-central'")


def test_a_continent_is_refused(call):
    _refused(call("europe"), "Unsupported location 'europe'")


def test_global_with_a_number_is_refused(call):
    _refused(call("global1"), "Unsupported location 'global1'")


def test_a_zone_is_refused(call):
    _refused(call("us-central1-a"), "Unsupported location 'us-central1-a'")


def test_global_on_a_regional_endpoint_is_refused(call):
    _refused(call("global", "us-central1-aiplatform.googleapis.com"), "use aiplatform.googleapis.com")


def test_a_multi_region_on_the_global_endpoint_is_refused(call):
    _refused(call("us", "aiplatform.googleapis.com"), "use aiplatform.us.rep.googleapis.com")


def test_a_region_on_another_region_s_endpoint_is_refused(call):
    _refused(call("europe-west4", "us-central1-aiplatform.googleapis.com"), "use europe-west4-aiplatform.googleapis.com")


def test_a_multi_region_written_like_a_region_endpoint_is_an_invalid_hostname(call):
    # Google's answer for the host older LiteLLM built for "us" (LiteLLM #25926).
    resp = call("us", "us-aiplatform.googleapis.com")
    assert resp.status_code == 400
    assert resp.json()["error"] == {"code": 400, "message": "Invalid hostname: us-aiplatform.googleapis.com",
                                    "status": "INVALID_ARGUMENT"}


def test_a_rep_endpoint_of_no_multi_region_is_an_invalid_hostname(call):
    _refused(call("europe-west4", "aiplatform.europe-west4.rep.googleapis.com"),
             "Invalid hostname: aiplatform.europe-west4.rep.googleapis.com")
