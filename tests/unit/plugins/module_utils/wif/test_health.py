"""The LiteLLM proxy's health timer: module_utils/wif/health.py and the litellm_proxy_health filter."""

from __future__ import annotations

import ast
import http.server
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.keyless.wif.plugins.filter import litellm_proxy_health, litellm_proxy_health_program, role_inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif import health, proxy_config
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import KEY, MODEL
from ansible_collections.keyless.wif.tests.unit.plugins.filter.proxy_settings import SETTINGS as BASE_SETTINGS

REPO = Path(__file__).resolve().parents[5]
MODULE_UTILS = REPO / "plugins" / "module_utils"
PACKAGE = "ansible_collections.keyless.wif.plugins.module_utils."
FILTER = litellm_proxy_health.FilterModule().filters()["litellm_proxy_health"]
PROGRAM = litellm_proxy_health_program.FilterModule().filters()["litellm_proxy_health_program"]
ROLE_INPUTS = role_inputs.FilterModule().filters()["role_inputs"]
HEALTH = {
    "litellm_proxy_health_check": True, "litellm_proxy_health_check_interval": "5min", "litellm_proxy_health_check_timeout": 30,
    "litellm_proxy_health_check_completion": True, "litellm_proxy_health_check_model": "", "litellm_proxy_health_textfile_dir": "",
}
SETTINGS = dict(BASE_SETTINGS, **HEALTH)


def _imports(relative):
    """module_utils files (relative paths) that ``relative`` imports, also inside functions."""
    found = set()
    for node in ast.walk(ast.parse((MODULE_UTILS / relative).read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and (node.module + ".").startswith(PACKAGE):
            module = (node.module + ".")[len(PACKAGE):]
            names = [module + alias.name for alias in node.names] + ([module[:-1]] if module else [])
        elif isinstance(node, ast.Import):
            names = [alias.name[len(PACKAGE):] for alias in node.names if alias.name.startswith(PACKAGE)]
        for name in names:
            path = name.replace(".", "/")
            if (MODULE_UTILS / (path + ".py")).is_file():
                found.add(path + ".py")
            if (MODULE_UTILS / path / "__init__.py").is_file():
                found.add(path + "/__init__.py")
    return found


def test_host_modules_are_the_import_closure_of_health():
    closure, todo = set(), ["wif/health.py"]
    while todo:
        relative = todo.pop()
        if relative not in closure:
            closure.add(relative)
            todo.extend(_imports(relative))
    # Python needs every package's __init__.py that exists on the way.
    closure |= {"wif/__init__.py"}
    assert set(health.HOST_MODULES) == closure
    assert "wif/check.py" in closure and "wif/diagnoses.py" in closure


@pytest.mark.parametrize(("span", "seconds"), [
    ("5min", 300), ("300", 300), (300, 300), ("1h 30min", 5400), ("1h30min", 5400), ("2 min", 120), ("90s", 90),
    ("1d", 86400), ("0.5h", 1800), ("30sec", 30), ("1m 1s", 61), ("1hr", 3600), ("1w", 604800),
])
def test_systemd_time_spans(span, seconds):
    assert health.timespan_seconds(span) == seconds


@pytest.mark.parametrize("span", ["", "5 mins", "five", "5min;", "-5min", "5mo", "infinity", True, None, 5.5, "1h,30min", "min"])
def test_not_systemd_time_spans(span):
    assert health.timespan_seconds(span) is None


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"litellm_proxy_health_check_interval": "5 mins"}, "litellm_proxy_health_check_interval", "systemd time span"),
    ({"litellm_proxy_health_check_interval": "10s"}, "litellm_proxy_health_check_interval", "from 30s to 1d"),
    ({"litellm_proxy_health_check_interval": "2d"}, "litellm_proxy_health_check_interval", "from 30s to 1d"),
    ({"litellm_proxy_health_check": "maybe"}, "litellm_proxy_health_check", "boolean"),
    ({"litellm_proxy_health_check_completion": "maybe"}, "litellm_proxy_health_check_completion", "boolean"),
    ({"litellm_proxy_health_check_timeout": 0}, "litellm_proxy_health_check_timeout", "at least 1"),
    ({"litellm_proxy_health_check_timeout": 120}, "litellm_proxy_health_check_timeout", "third of"),
    ({"litellm_proxy_health_check_model": "gpt"}, "litellm_proxy_health_check_model", "litellm_proxy_models (gemini)"),
    ({"litellm_proxy_health_textfile_dir": "var/lib/node_exporter"}, "litellm_proxy_health_textfile_dir", "absolute"),
    ({"litellm_proxy_health_textfile_dir": "/var/lib/node_exporter/"}, "litellm_proxy_health_textfile_dir", "normalised"),
    ({"litellm_proxy_health_textfile_dir": "/"}, "litellm_proxy_health_textfile_dir", "not /"),
])
def test_bad_health_variables_name_the_field_through_the_role_check(change, field, rule):
    with pytest.raises(AnsibleFilterError) as caught:
        ROLE_INPUTS(dict(SETTINGS, **change), "litellm_proxy")
    assert field in str(caught.value) and rule in str(caught.value)


def test_good_health_variables_pass_and_a_long_timeout_is_fine_when_off():
    assert ROLE_INPUTS(dict(SETTINGS, litellm_proxy_health_textfile_dir="/var/lib/node_exporter/textfile_collector"), "litellm_proxy")
    assert health.check_variables(dict(SETTINGS, litellm_proxy_health_check="false", litellm_proxy_health_check_timeout=200))["enabled"] is False
    assert health.check_variables(dict(SETTINGS, litellm_proxy_health_check_model="gemini"))["interval_seconds"] == 300


def test_filter_derives_units_and_command_lines_without_the_key():
    values = FILTER(dict(SETTINGS, litellm_proxy_health_textfile_dir="/var/lib/node_exporter/textfile_collector"))
    assert values["service_unit"] == "litellm-proxy-health.service" and values["timer_unit"] == "litellm-proxy-health.timer"
    assert values["lib_dir"] == "/usr/local/lib/litellm-proxy-health"
    assert values["check_command"] == (
        "/opt/litellm/current/bin/python -I -B /usr/local/lib/litellm-proxy-health/keyless_wif_health.py check --credentials /etc/litellm/gcp.json "
        "--url http://127.0.0.1:4000 --timeout 30 --result /run/litellm-proxy-health/result.json --model gemini")
    assert values["publish_command"].endswith(
        "publish --result /run/litellm-proxy-health/result.json --textfile /var/lib/node_exporter/textfile_collector/litellm-proxy-health.prom "
        "--service litellm-proxy")
    assert values["textfile"] == "/var/lib/node_exporter/textfile_collector/litellm-proxy-health.prom"
    assert values["timeout_start_seconds"] == 90
    assert KEY not in json.dumps(values)
    assert values["entry_point"] == values["lib_dir"] + "/keyless_wif_health.py"
    assert values["modules"] == list(health.HOST_MODULES)


def test_filter_without_completion_or_textfile_and_with_a_wildcard_listener():
    values = FILTER(dict(SETTINGS, litellm_proxy_health_check_completion=False, litellm_proxy_listen_address="::"))
    assert "--model" not in values["check_command"] and values["model"] == ""
    # The readiness probe's address (proxy_config.probe_host): loopback for a wildcard listener.
    assert "--url %s " % proxy_config.readiness_url("::", 4000)[:-len(proxy_config.READINESS_PATH)] in values["check_command"]
    assert "--url http://127.0.0.1:4000 " in values["check_command"]
    assert values["publish_command"] == "" and values["textfile"] == ""


def test_exec_words_are_quoted_for_systemd():
    values = FILTER(dict(SETTINGS, litellm_proxy_vertex_credentials="/etc/lite llm/100%$x.json",
                         litellm_proxy_models=[dict(MODEL, name='my "model"')]))
    assert '--credentials "/etc/lite llm/100%%$$x.json"' in values["check_command"]
    assert '--model "my \\"model\\""' in values["check_command"]


def test_filter_refuses_a_non_dict():
    with pytest.raises(AnsibleFilterError):
        FILTER(["litellm_proxy_venv"])


def test_run_checks_credentials_then_completes_one_token():
    calls = []
    ticks = iter([0.0, 0.25, 1.0, 1.5])

    def complete(url, model, key, timeout):
        calls.append((url, model, key, timeout))
        return True, 200, None

    result = health.run({"x": 1}, "http://127.0.0.1:4000", "gemini", KEY, timeout=7, clock=lambda: next(ticks),
                        check=lambda info, timeout, metadata_timeout: {"ok": True}, complete=complete)
    assert result["ok"] and result["stage"] == "completion" and result["latency"] == {"credentials": 0.25, "completion": 0.5}
    assert calls == [("http://127.0.0.1:4000/v1/chat/completions", "gemini", KEY, 7)]
    assert health.journal_line(result) == "ok completion=0.500s credentials=0.250s"


def test_a_failed_credential_check_skips_the_completion_and_names_the_diagnosis():
    diagnosis = {"code": "binding_missing", "cause": "The service account has no\nroles/iam.workloadIdentityUser binding."}
    result = health.run({}, "http://127.0.0.1:4000", "gemini", KEY, clock=iter([0.0, 2.0]).__next__,
                        check=lambda info, timeout, metadata_timeout: {"ok": False, "failed_hop": "impersonation", "diagnosis": diagnosis},
                        complete=lambda *args: pytest.fail("no completion after a failed check"))
    line = health.journal_line(result)
    assert not result["ok"] and "\n" not in line
    assert line == ("FAILED stage=credentials diagnosis=binding_missing hop=impersonation credentials=2.000s "
                    "cause=The service account has no roles/iam.workloadIdentityUser binding.")


class _Proxy(http.server.BaseHTTPRequestHandler):
    answers = []
    seen = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Proxy.seen.append((self.path, self.headers["Authorization"], body))
        status, payload = _Proxy.answers.pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A proxy variable the completion must ignore: the LiteLLM proxy is on this host.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    _Proxy.seen.clear()
    yield "http://127.0.0.1:%d" % server.server_port
    server.shutdown()
    server.server_close()


def test_completion_asks_for_one_token_with_the_key_and_no_http_proxy(proxy):
    _Proxy.answers[:] = [(200, {"choices": [{"message": {"content": "p"}}]}), (401, {"error": "bad key"}), (200, {"choices": []})]
    assert health.completion(health.completion_url(proxy), "gemini", KEY, 5) == (True, 200, None)
    assert _Proxy.seen[0][0] == "/v1/chat/completions" and _Proxy.seen[0][1] == "Bearer " + KEY
    assert _Proxy.seen[0][2]["max_tokens"] == 1 and _Proxy.seen[0][2]["model"] == "gemini"
    assert health.completion(health.completion_url(proxy), "gemini", KEY, 5) == (False, 401, "HTTP 401")
    assert health.completion(health.completion_url(proxy), "gemini", KEY, 5) == (False, 200, "HTTP 200 without choices")


def test_completion_unreachable_is_a_failure_not_an_exception():
    ok, status, error = health.completion("http://127.0.0.1:9/v1/chat/completions", "gemini", KEY, 2)
    assert not ok and status is None and "refused" in error.lower()


def test_textfile_metrics_and_label_escaping():
    text = health.textfile({"ok": False, "stage": "completion", "diagnosis": 'odd"\\\nname',
                            "latency": {"credentials": 0.25, "completion": float("nan")}}, "litellm-proxy", 1700000000.5)
    lines = text.splitlines()
    assert 'keyless_wif_health_ok{service="litellm-proxy"} 0' in lines
    assert 'keyless_wif_health_last_run_timestamp_seconds{service="litellm-proxy"} 1700000000.5' in lines
    assert 'keyless_wif_health_latency_seconds{service="litellm-proxy",stage="credentials"} 0.25' in lines
    assert 'keyless_wif_health_info{diagnosis="odd\\"\\\\\\nname",service="litellm-proxy",stage="completion"} 1' in lines
    assert not any("completion" in line and "latency" in line for line in lines)  # NaN is left out
    assert text.endswith("\n") and "# TYPE keyless_wif_health_ok gauge" in lines


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "x.prom"
    target.write_text("old")
    health.write_atomic(str(target), "new\n")
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]


def _check_args(tmp_path, credentials, model="gemini", url="http://127.0.0.1:9"):
    return ["check", "--credentials", str(credentials), "--url", url, "--model", model, "--timeout", "2",
            "--result", str(tmp_path / "result.json")]


def test_main_check_with_an_unreadable_credential_file_fails_in_one_line(tmp_path):
    out = io.StringIO()
    code = health.main(_check_args(tmp_path, tmp_path / "missing.json"), environ={"LITELLM_MASTER_KEY": KEY, "INVOCATION_ID": "abc"}, out=out)
    assert code == 1 and out.getvalue().count("\n") == 1
    assert out.getvalue().startswith("FAILED stage=credentials diagnosis=credential_file_unreadable")
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["invocation"] == "abc" and stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == 0o600
    assert KEY not in out.getvalue() + (tmp_path / "result.json").read_text()


def test_main_check_without_the_master_key_says_so(tmp_path):
    credentials = tmp_path / "c.json"
    credentials.write_text("{}")
    out = io.StringIO()
    assert health.main(_check_args(tmp_path, credentials), environ={}, out=out) == 1
    assert "diagnosis=master_key_missing" in out.getvalue()


@pytest.mark.parametrize(("written", "environ", "ok", "diagnosis"), [
    ({"ok": True, "stage": "completion", "diagnosis": "ok", "latency": {"completion": 0.1}, "invocation": "i1"},
     {"SERVICE_RESULT": "success", "INVOCATION_ID": "i1"}, 1, "ok"),
    ({"ok": False, "stage": "credentials", "diagnosis": "binding_missing", "latency": {}, "invocation": "i1"},
     {"SERVICE_RESULT": "exit-code", "EXIT_STATUS": "1", "INVOCATION_ID": "i1"}, 0, "binding_missing"),
    # A result of an earlier run is not this run's.
    ({"ok": True, "stage": "completion", "diagnosis": "ok", "latency": {}, "invocation": "old"},
     {"SERVICE_RESULT": "timeout", "INVOCATION_ID": "i2"}, 0, "unit_timeout"),
    # The unit failed although the check wrote ok (killed after writing, for instance).
    ({"ok": True, "stage": "completion", "diagnosis": "ok", "latency": {}, "invocation": "i1"},
     {"SERVICE_RESULT": "signal", "INVOCATION_ID": "i1"}, 0, "ok"),
    (None, {"SERVICE_RESULT": "exit-code", "INVOCATION_ID": "i1"}, 0, "unit_exit_code"),
])
def test_publish_reports_this_runs_result_or_the_units_failure(tmp_path, written, environ, ok, diagnosis):
    if written is not None:
        (tmp_path / "result.json").write_text(json.dumps(written))
    prom = tmp_path / "out" / "h.prom"
    prom.parent.mkdir()
    code = health.main(["publish", "--result", str(tmp_path / "result.json"), "--textfile", str(prom), "--service", "litellm-proxy"],
                       environ=environ, out=io.StringIO(), clock=lambda: 42.0)
    text = prom.read_text()
    assert code == 0
    assert 'keyless_wif_health_ok{service="litellm-proxy"} %d' % ok in text.splitlines()
    assert 'diagnosis="%s"' % diagnosis in text and 'keyless_wif_health_last_run_timestamp_seconds{service="litellm-proxy"} 42.0' in text


def test_an_unexpected_error_is_still_one_line(tmp_path):
    out = io.StringIO()
    code = health.main(["publish", "--result", str(tmp_path / "r.json"), "--textfile", str(tmp_path / "no" / "dir" / "h.prom"),
                        "--service", "s"], environ={}, out=out)
    assert code == 1 and out.getvalue().count("\n") == 1 and out.getvalue().startswith("FAILED stage=publish diagnosis=health_error")


def test_the_program_is_every_host_module_verbatim_and_the_same_each_time():
    text = PROGRAM(FILTER(SETTINGS))
    assert text == PROGRAM(FILTER(SETTINGS))  # the copy task changes nothing on a re-run
    namespace = {}
    exec(compile(text.partition("\n\nclass BundledModules")[0], "program", "exec"), namespace)  # noqa: S102 - the SOURCES literal only
    sources = namespace["SOURCES"]
    for relative in health.HOST_MODULES:
        name = PACKAGE + relative[:-3].replace("/", ".").removesuffix(".__init__")
        assert sources[name] == (relative.endswith("__init__.py"), (MODULE_UTILS / relative).read_text(encoding="utf-8"))
    assert sources["ansible_collections"] == (True, "") and sources[PACKAGE[:-1]] == (True, "")
    assert KEY not in text


def test_the_program_filter_bundles_only_the_health_modules():
    with pytest.raises(AnsibleFilterError, match=re.escape("'../../etc/passwd' is not one of the health check's module_utils")):
        PROGRAM({"modules": ["../../etc/passwd"]})
    with pytest.raises(AnsibleFilterError, match=re.escape("expects the values of keyless.wif.litellm_proxy_health")):
        PROGRAM({})


def test_the_one_file_program_runs_on_its_own_as_the_host_runs_it(tmp_path):
    """The role's one file (keyless.wif.litellm_proxy_health_program), run with python -I, does the real check."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / health.ENTRY_POINT).write_text(PROGRAM(FILTER(SETTINGS)), encoding="utf-8")
    # An EC2 credential whose metadata service is a closed loopback port: the check runs and diagnoses it.
    info = {
        "type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request", "token_url": "https://127.0.0.1:9/v1/token",
        "credential_source": {"environment_id": "aws1", "url": "http://127.0.0.1:9/latest/meta-data/iam/security-credentials",
                              "region_url": "http://127.0.0.1:9/latest/meta-data/placement/availability-zone",
                              "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"},
    }
    credentials = tmp_path / "cred.json"
    credentials.write_text(json.dumps(info))
    environ = {"PATH": os.environ.get("PATH", "/usr/bin"), "LITELLM_MASTER_KEY": KEY, "INVOCATION_ID": "e2e", "AWS_REGION": "us-east-1"}
    answer = subprocess.run([sys.executable, "-I", "-B", str(lib / health.ENTRY_POINT), *_check_args(tmp_path, credentials)],
                            env=environ, capture_output=True, text=True, timeout=60, check=False, cwd=str(tmp_path))
    assert answer.returncode == 1, answer.stderr
    assert answer.stderr == "" and answer.stdout.count("\n") == 1
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["stage"] == "credentials" and result["diagnosis"] not in ("health_error", "ok")
    assert answer.stdout.startswith("FAILED stage=credentials diagnosis=%s" % result["diagnosis"])
    assert result["diagnosis"] == "metadata_unreachable"
    assert [p.name for p in lib.iterdir()] == [health.ENTRY_POINT]  # no __pycache__, nothing unpacked


def test_health_validation_error_is_a_validation_error():
    with pytest.raises(ValidationError):
        health.check_interval("litellm_proxy_health_check_interval", "soon")


def test_a_missing_health_variable_is_named_when_the_others_are_passed():
    variables = dict(SETTINGS)
    del variables["litellm_proxy_health_check_interval"]
    with pytest.raises(ValidationError, match="litellm_proxy_health_check_interval"):
        health.check_variables(variables)


NOISY = """
import io, logging, sys, warnings
from ansible_collections.keyless.wif.plugins.module_utils.wif import health

def noisy(info, timeout, metadata_timeout):
    warnings.warn("deprecated", FutureWarning, stacklevel=1)
    logging.getLogger("google.auth").warning("metadata server unavailable")
    return {"ok": True}

original = health.run
health.run = lambda info, url, model, key, **kw: original(info, url, model, key, check=noisy, complete=lambda *a: (True, 200, None))
sys.exit(health.main(sys.argv[1:], environ={"LITELLM_MASTER_KEY": "sk-x"}))
"""


# The directory that holds ansible_collections/ as this test imported it.
COLLECTIONS_ROOT = Path(health.__file__).parents[6]


def test_library_warnings_and_log_records_do_not_add_journal_lines(tmp_path):
    """A clean interpreter (no pytest handlers): google-auth's warnings would otherwise reach stderr, a second journal line."""
    credentials = tmp_path / "c.json"
    credentials.write_text("{}")
    answer = subprocess.run([sys.executable, "-c", NOISY, *_check_args(tmp_path, credentials)], capture_output=True, text=True, timeout=60,
                            check=False, env={"PYTHONPATH": str(COLLECTIONS_ROOT)})
    assert answer.returncode == 0, answer.stderr
    assert answer.stderr == "" and answer.stdout.count("\n") == 1 and answer.stdout.startswith("ok ")
