"""Eight gcp_service_account_iam_member tasks in parallel on one service account: no lost update."""

from __future__ import annotations

from .gcp_harness import PROJECT_ID

SA = "parallel-sa@%s.iam.gserviceaccount.com" % PROJECT_ID


def test_eight_parallel_bindings_all_land(play, emu):
    # Slow policy reads widen the read-modify-write window; forced etag conflicts make sure the
    # re-read loop runs even if the tasks happen not to overlap.
    emu.fault(route="iam.projects.serviceAccounts.getIamPolicy", latency_ms=150, count=1000)
    emu.fault(route="iam.projects.serviceAccounts.setIamPolicy", etag_conflict=True, count=4)
    result = play([
        {"name": "service account", "keyless.wif.gcp_service_account": {"account_id": "parallel-sa"}},
        {"name": "parallel", "keyless.wif.gcp_service_account_iam_member": {
            "service_account": SA, "role": "roles/iam.workloadIdentityUser",
            "members": ["user:worker{{ item }}@example.com"], "retries": 20},
         "loop": "{{ range(8) | list }}", "async": 120, "poll": 0, "register": "jobs"},
        {"name": "wait", "ansible.builtin.async_status": {"jid": "{{ item.ansible_job_id }}"},
         "loop": "{{ jobs.results }}", "register": "done", "until": "done.finished", "retries": 240, "delay": 0.5},
        {"name": "again", "keyless.wif.gcp_service_account_iam_member": {
            "service_account": SA, "role": "roles/iam.workloadIdentityUser",
            "members": ["user:worker%d@example.com" % i for i in range(8)]}},
    ], timeout=300)
    assert result.rc == 0, result.output[-4000:]
    done = result["wait"]["result"]["results"]
    assert len(done) == 8
    assert all(r["changed"] and not r.get("failed") for r in done), done
    state = emu.state()
    sa = next(s for s in state["service_accounts"].values() if s["email"] == SA)
    members = [m for b in sa["iam_policy"]["bindings"] for m in b["members"]]
    assert sorted(members) == sorted("user:worker%d@example.com" % i for i in range(8))
    assert result["again"]["status"] == "ok"
    conflicts = emu.stats()["routes"]["POST iam.projects.serviceAccounts.setIamPolicy"]["status"].get("409", 0)
    assert conflicts >= 4
    assert sum(len(r.get("retries_used", [])) for r in done) >= conflicts
