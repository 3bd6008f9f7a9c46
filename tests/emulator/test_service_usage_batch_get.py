"""Service Usage v1 services.batchGet through googleapiclient: one read for many services, Google's limits."""

from __future__ import annotations

import json

import googleapiclient.errors
import pytest
from conftest import PROJECT_ID, PROJECT_NUMBER


def _names(parent, services):
    return ["%s/services/%s" % (parent, s) for s in services]


@pytest.mark.parametrize("parent", ["projects/%s" % PROJECT_ID, "projects/%s" % PROJECT_NUMBER])
def test_batch_get_answers_every_service_in_order(gapi, parent):
    su = gapi("serviceusage")
    services = ["sts.googleapis.com", "iam.googleapis.com", "aiplatform.googleapis.com"]
    answer = su.services().batchGet(parent=parent, names=_names(parent, services)).execute()
    assert [s["config"]["name"] for s in answer["services"]] == services
    assert [s["state"] for s in answer["services"]] == ["DISABLED", "ENABLED", "DISABLED"]
    assert all(s["name"] == "projects/%s/services/%s" % (PROJECT_NUMBER, s["config"]["name"]) for s in answer["services"])


def _error(call):
    with pytest.raises(googleapiclient.errors.HttpError) as info:
        call.execute()
    return info.value.status_code, json.loads(info.value.content)["error"]


def test_more_than_30_names_is_invalid_argument(gapi):
    parent = "projects/%s" % PROJECT_ID
    su = gapi("serviceusage")
    ok = su.services().batchGet(parent=parent, names=_names(parent, ["iam.googleapis.com"] * 30)).execute()
    assert len(ok["services"]) == 30
    status, error = _error(su.services().batchGet(parent=parent, names=_names(parent, ["iam.googleapis.com"] * 31)))
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"][0]["field"] == "names"


@pytest.mark.parametrize("name", ["projects/%s/services/iam.googleapis.com" % PROJECT_NUMBER,  # the other form
                                  "projects/wif-other-project/services/iam.googleapis.com",
                                  "iam.googleapis.com"])
def test_names_outside_the_parent_are_invalid_argument(gapi, name):
    status, error = _error(gapi("serviceusage").services().batchGet(parent="projects/%s" % PROJECT_ID, names=[name]))
    assert status == 400 and error["status"] == "INVALID_ARGUMENT" and "parent" in error["message"]


def test_no_names_and_unknown_services_are_refused(gapi):
    parent = "projects/%s" % PROJECT_ID
    su = gapi("serviceusage")
    status, error = _error(su.services().batchGet(parent=parent))
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    status, error = _error(su.services().batchGet(parent=parent, names=_names(parent, ["nope.example.com"])))
    assert status == 403 and error["status"] == "PERMISSION_DENIED"


def test_batch_get_needs_a_control_plane_token(emulator):
    import requests

    url = "%s/v1/projects/%s/services:batchGet" % (emulator.base_url, PROJECT_ID)
    names = _names("projects/%s" % PROJECT_ID, ["iam.googleapis.com"])
    answer = requests.get(url, params={"names": names}, headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert answer.status_code == 401
