"""gcp_project_service reads service states with services:batchGet, 30 names a call."""

from __future__ import annotations

from ansible_collections.keyless.wif.plugins.modules.gcp_project_service import READ_BATCH, read_states


class FakeClient:
    """Answers batchGet as Service Usage does: the services asked for, by number, in order."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.calls = []

    def request(self, method, service, path, params=None, **kwargs):
        self.calls.append((method, service, path, list(params["names"])))
        return {"services": [{"name": "projects/123456789012/services/" + name.rsplit("/", 1)[-1],
                              "config": {"name": name.rsplit("/", 1)[-1]},
                              "state": "ENABLED" if name.rsplit("/", 1)[-1] in self.enabled else "DISABLED"}
                             for name in params["names"]]}


def test_one_read_for_up_to_30_services():
    client = FakeClient({"iam.googleapis.com"})
    states = read_states(client, "wif-sandbox", ["iam.googleapis.com", "sts.googleapis.com"])
    assert states == {"iam.googleapis.com": "ENABLED", "sts.googleapis.com": "DISABLED"}
    assert client.calls == [("GET", "serviceusage", "v1/projects/wif-sandbox/services:batchGet",
                             ["projects/wif-sandbox/services/iam.googleapis.com",
                              "projects/wif-sandbox/services/sts.googleapis.com"])]


def test_more_than_30_services_are_read_in_chunks_of_30():
    assert READ_BATCH == 30
    names = ["svc%02d.example.com" % i for i in range(61)]
    client = FakeClient(set(names[::2]))
    states = read_states(client, "wif-sandbox", names)
    assert [len(call[3]) for call in client.calls] == [30, 30, 1]
    assert list(states) == names
    assert all(states[n] == ("ENABLED" if i % 2 == 0 else "DISABLED") for i, n in enumerate(names))


def test_a_service_missing_from_the_answer_is_unspecified():
    class Partial(FakeClient):
        def request(self, *args, **kwargs):
            answer = super().request(*args, **kwargs)
            answer["services"] = answer["services"][:1]
            return answer

    states = read_states(Partial(set()), "wif-sandbox", ["iam.googleapis.com", "sts.googleapis.com"])
    assert states == {"iam.googleapis.com": "DISABLED", "sts.googleapis.com": "STATE_UNSPECIFIED"}
