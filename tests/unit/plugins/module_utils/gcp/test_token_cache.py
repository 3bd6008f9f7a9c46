"""The per-user token cache: who may read it, when an entry is used, and what names an entry."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time

import pytest
import requests
from ansible_collections.keyless.wif.plugins.module_utils.gcp import token_cache
from ansible_collections.keyless.wif.plugins.module_utils.gcp.auth import (
    DEFAULT_ENDPOINTS,
    CachedTokenSession,
    build_session,
    identity_key,
)
from ansible_collections.keyless.wif.plugins.module_utils.gcp.token_cache import (
    MARGIN_SECONDS,
    CacheRefused,
    TokenCache,
    open_cache,
)
from ansible_collections.keyless.wif.tests.unit.plugins.module_utils.gcp.gcp_fakes import EXTERNAL_ACCOUNT_INFO

KEY = "a" * 64


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# ---- the directory and its entries: nobody else can read them -------------------------------

def test_directory_is_created_0700_and_entries_0600_named_by_key(tmp_path):
    directory = tmp_path / "parent" / "tokens"
    cache = TokenCache(str(directory))
    assert cache.put(KEY, "ya29.secret-token", time.time() + 3600)
    assert mode(directory) == 0o700 and mode(directory.parent) == 0o700
    assert os.listdir(directory) == [KEY + ".json"]
    assert mode(directory / (KEY + ".json")) == 0o600
    assert cache.get(KEY)[0] == "ya29.secret-token"


def test_entries_are_0600_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        cache = TokenCache(str(tmp_path / "tokens"))
        cache.put(KEY, "tok", time.time() + 3600)
    finally:
        os.umask(old)
    assert mode(tmp_path / "tokens") == 0o700
    assert mode(tmp_path / "tokens" / (KEY + ".json")) == 0o600


def test_a_symlinked_directory_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(CacheRefused, match="is a symlink"):
        TokenCache(str(tmp_path / "link"))


@pytest.mark.parametrize("wide", [0o750, 0o705, 0o777])
def test_a_directory_open_to_others_is_refused(tmp_path, wide):
    directory = tmp_path / "tokens"
    directory.mkdir()
    directory.chmod(wide)
    with pytest.raises(CacheRefused, match="has mode %04o" % wide):
        TokenCache(str(directory))


def test_a_directory_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    directory = tmp_path / "tokens"
    directory.mkdir(mode=0o700)
    real_uid = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real_uid + 1)
    with pytest.raises(CacheRefused, match="owned by uid %d" % real_uid):
        TokenCache(str(directory))


def test_open_cache_warns_and_falls_back_to_no_cache(tmp_path):
    directory = tmp_path / "tokens"
    directory.mkdir(mode=0o755)
    warnings = []
    assert open_cache(str(directory), warnings.append) is None
    assert len(warnings) == 1 and "token cache not used" in warnings[0] and "0755" in warnings[0]


def test_entries_others_could_read_or_links_are_never_used(tmp_path):
    cache = TokenCache(str(tmp_path / "tokens"))
    cache.put(KEY, "tok", time.time() + 3600)
    entry = tmp_path / "tokens" / (KEY + ".json")
    entry.chmod(0o644)
    assert cache.get(KEY) is None
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"format": 1, "token": "planted", "expiry": time.time() + 3600}))
    planted.chmod(0o600)
    entry.unlink()
    entry.symlink_to(planted)
    assert cache.get(KEY) is None
    # Writing replaces the link itself and never writes through it.
    cache.put(KEY, "mine", time.time() + 3600)
    assert json.loads(planted.read_text())["token"] == "planted"
    assert not entry.is_symlink() and cache.get(KEY)[0] == "mine"


def _writer(directory, index, rounds):
    cache = TokenCache(directory)
    for n in range(rounds):
        cache.put(KEY, "token-%d-%d" % (index, n), time.time() + 3600)


def test_concurrent_writers_never_leave_a_torn_or_temporary_entry(tmp_path):
    directory = str(tmp_path / "tokens")
    TokenCache(directory)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(directory, i, 50)) for i in range(4)]
    for worker in workers:
        worker.start()
    reader = TokenCache(directory)
    seen = set()
    deadline = time.monotonic() + 20
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        found = reader.get(KEY)
        if found is not None:
            seen.add(found[0])
    for worker in workers:
        worker.join(10)
        assert worker.exitcode == 0
    assert all(token.startswith("token-") for token in seen)
    assert os.listdir(directory) == [KEY + ".json"]
    assert reader.get(KEY)[0].startswith("token-")


def _exchange_once(directory, counter, barrier):
    def fetch():
        with open(counter, "a") as handle:
            handle.write("x")
        time.sleep(0.3)  # a slow exchange: the others must wait for it, not make their own
        return "shared-token", time.time() + 3600

    session = CachedTokenSession(fetch, cache=TokenCache(directory), key=KEY)
    barrier.wait(10)
    token, _unused = session._current()
    assert token == "shared-token"


def test_concurrent_misses_make_one_exchange(tmp_path):
    directory = str(tmp_path / "tokens")
    counter = tmp_path / "exchanges"
    counter.write_text("")
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(5)
    workers = [context.Process(target=_exchange_once, args=(directory, str(counter), barrier)) for _unused in range(5)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(20)
        assert worker.exitcode == 0
    assert counter.read_text() == "x"


# ---- expiry margin --------------------------------------------------------------------------

def test_an_entry_is_used_only_while_the_margin_remains(tmp_path):
    now = [1_000_000.0]
    cache = TokenCache(str(tmp_path / "tokens"), clock=lambda: now[0])
    cache.put(KEY, "tok", now[0] + MARGIN_SECONDS + 60)
    assert cache.get(KEY) == ("tok", now[0] + MARGIN_SECONDS + 60)
    now[0] += 59
    assert cache.get(KEY) is not None
    now[0] += 2
    assert cache.get(KEY) is None


def test_margin_outlives_google_auth_refresh_threshold():
    import google.auth._helpers

    assert google.auth._helpers.REFRESH_THRESHOLD.total_seconds() < MARGIN_SECONDS


def test_stale_entries_are_pruned_on_write(tmp_path):
    cache = TokenCache(str(tmp_path / "tokens"))
    old = tmp_path / "tokens" / ("b" * 64 + ".json")
    old.write_text("{}")
    past = time.time() - token_cache.STALE_SECONDS - 10
    os.utime(old, (past, past))
    cache.put(KEY, "tok", time.time() + 3600)
    assert sorted(os.listdir(tmp_path / "tokens")) == [KEY + ".json"]


# ---- the key: one per identity, never the token ---------------------------------------------

def _external_key(tmp_path, environ, info=None, scopes=None, name="ext.json"):
    path = tmp_path / name
    path.write_text(json.dumps(info or EXTERNAL_ACCOUNT_INFO))
    params = {"auth_kind": "external_account", "external_account_file": str(path), "scopes": scopes}
    return identity_key(params, dict(DEFAULT_ENDPOINTS), environ=environ)


def test_keys_separate_identities(tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE1"}
    base = _external_key(tmp_path, env)
    assert len(base) == 64 and base == _external_key(tmp_path, dict(env), name="same-content-elsewhere.json")
    other_target = dict(EXTERNAL_ACCOUNT_INFO, service_account_impersonation_url=EXTERNAL_ACCOUNT_INFO["service_account_impersonation_url"]
                        .replace("sa@", "other@"))
    others = {
        "impersonation target": _external_key(tmp_path, env, info=other_target),
        "audience": _external_key(tmp_path, env, info=dict(EXTERNAL_ACCOUNT_INFO, audience=EXTERNAL_ACCOUNT_INFO["audience"] + "2")),
        "scopes": _external_key(tmp_path, env, scopes=["https://www.googleapis.com/auth/iam"]),
        "AWS key": _external_key(tmp_path, {"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE2"}),
        "endpoints": identity_key({"auth_kind": "external_account", "external_account_file": str(tmp_path / "ext.json")},
                                  dict(DEFAULT_ENDPOINTS, sts="http://127.0.0.1:9"), environ=env),
    }
    sa_key = {"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", "private_key": "k"}
    others["service account"] = identity_key({"auth_kind": "serviceaccount", "service_account_contents": sa_key},
                                             dict(DEFAULT_ENDPOINTS), environ=env)
    assert len({base, *others.values()}) == len(others) + 1, others


def test_no_key_without_a_known_credential(tmp_path):
    endpoints = dict(DEFAULT_ENDPOINTS)
    assert identity_key({"auth_kind": "accesstoken", "access_token": "t"}, endpoints, environ={}) is None
    assert identity_key({"auth_kind": "external_account", "external_account_file": str(tmp_path / "missing")},
                        endpoints, environ={}) is None
    # ADC on a metadata server: nothing on disk names the identity.
    assert identity_key({"auth_kind": "application"}, endpoints, environ={"CLOUDSDK_CONFIG": str(tmp_path)}) is None
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "refresh_token": "r"}))
    assert identity_key({"auth_kind": "application"}, endpoints, environ={"GOOGLE_APPLICATION_CREDENTIALS": str(adc)})


def test_token_cache_false_builds_no_cache(tmp_path):
    path = tmp_path / "ext.json"
    path.write_text(json.dumps(EXTERNAL_ACCOUNT_INFO))
    params = {"auth_kind": "external_account", "external_account_file": str(path),
              "token_cache": False, "token_cache_dir": str(tmp_path / "tokens")}
    session = build_session(params, dict(DEFAULT_ENDPOINTS))
    assert session._cache is None and not (tmp_path / "tokens").exists()
    session = build_session(dict(params, token_cache=True), dict(DEFAULT_ENDPOINTS))
    assert session._cache is not None and (tmp_path / "tokens").is_dir()


# ---- 401 on a cached token: drop it, retry once with a fresh one ----------------------------

class _Answer:
    def __init__(self, status_code):
        self.status_code = status_code


@pytest.fixture
def google(monkeypatch):
    """requests.Session.request replaced: 401 unless the bearer token is one of ``valid``."""
    state = {"valid": set(), "sent": []}

    def fake_request(self, method, url, *args, headers=None, **kwargs):
        token = headers["Authorization"].split(" ", 1)[1]
        state["sent"].append(token)
        return _Answer(200 if token in state["valid"] else 401)

    monkeypatch.setattr(requests.Session, "request", fake_request)
    return state


def _counting_fetch(tokens):
    made = []

    def fetch():
        made.append(tokens[len(made)])
        return made[-1], time.time() + 3600
    return fetch, made


def test_a_cached_token_answered_401_is_dropped_and_replaced_once(tmp_path, google):
    cache = TokenCache(str(tmp_path / "tokens"))
    cache.put(KEY, "revoked", time.time() + 3600)
    google["valid"].add("fresh")
    fetch, made = _counting_fetch(["fresh"])
    session = CachedTokenSession(fetch, cache=cache, key=KEY)
    assert session.request("GET", "http://127.0.0.1:9/x").status_code == 200
    assert google["sent"] == ["revoked", "fresh"] and made == ["fresh"]
    assert cache.get(KEY)[0] == "fresh"
    # The next request (and the next task) reuses the fresh token without an exchange.
    assert session.request("GET", "http://127.0.0.1:9/y").status_code == 200
    assert CachedTokenSession(fetch, cache=cache, key=KEY).request("GET", "http://127.0.0.1:9/z").status_code == 200
    assert made == ["fresh"] and google["sent"][-2:] == ["fresh", "fresh"]


def test_a_fresh_token_answered_401_is_not_retried(tmp_path, google):
    cache = TokenCache(str(tmp_path / "tokens"))
    fetch, made = _counting_fetch(["refused", "never"])
    session = CachedTokenSession(fetch, cache=cache, key=KEY)
    assert session.request("GET", "http://127.0.0.1:9/x").status_code == 401
    assert google["sent"] == ["refused"] and made == ["refused"]


def test_a_retry_that_is_refused_again_answers_401(tmp_path, google):
    cache = TokenCache(str(tmp_path / "tokens"))
    cache.put(KEY, "revoked", time.time() + 3600)
    fetch, made = _counting_fetch(["also-refused", "never"])
    session = CachedTokenSession(fetch, cache=cache, key=KEY)
    assert session.request("GET", "http://127.0.0.1:9/x").status_code == 401
    assert google["sent"] == ["revoked", "also-refused"] and made == ["also-refused"]


def test_without_cache_each_session_exchanges(google):
    google["valid"].update({"t1", "t2"})
    fetch, made = _counting_fetch(["t1", "t2"])
    for _unused in range(2):
        session = CachedTokenSession(fetch)
        session.request("GET", "http://127.0.0.1:9/x")
        session.request("GET", "http://127.0.0.1:9/y")
    assert made == ["t1", "t2"] and google["sent"] == ["t1", "t1", "t2", "t2"]
