"""gcp_project_service against the emulator: one services:batchGet per task, whatever the number of services."""

from __future__ import annotations

from .gcp_harness import PROJECT_ID

SERVICES = ["iam.googleapis.com", "sts.googleapis.com", "iamcredentials.googleapis.com", "aiplatform.googleapis.com"]


def test_states_of_all_services_are_one_read(play, emu):
    args = {"services": SERVICES}
    result = play([
        {"name": "check", "keyless.wif.gcp_project_service": args, "check_mode": True, "diff": True},
        {"name": "apply", "keyless.wif.gcp_project_service": args},
        {"name": "check again", "keyless.wif.gcp_project_service": args, "check_mode": True},
        {"name": "apply again", "keyless.wif.gcp_project_service": args},
    ])
    assert result.rc == 0, result.output[-3000:]
    assert [result[n]["status"] for n in ("check", "apply", "check again", "apply again")] == ["changed", "changed", "ok", "ok"]
    assert result["check"]["result"]["diff"]["before"]["sts.googleapis.com"] == "DISABLED"
    assert sorted(result["apply"]["result"]["changed_services"]) == sorted(SERVICES[1:])
    for name in ("check", "check again", "apply again"):
        seen = [(r["method"], r["path"]) for r in emu.during(result[name])]
        assert seen == [("GET", "/v1/projects/%s/services:batchGet" % PROJECT_ID)], seen
        names = emu.during(result[name])[0]["query"]["names"]
        assert names == ["projects/%s/services/%s" % (PROJECT_ID, s) for s in SERVICES]
