# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The LiteLLM proxy's health over time: what its systemd timer runs on the host, and the rules of its variables.

The litellm_proxy role installs this file and the module_utils it imports (HOST_MODULES, kept equal
to the import closure by a unit test) on the host as one Python file (program(): their sources and a
loader that serves them to import), and the health unit runs it with the proxy's virtualenv Python (which has google-auth and requests), as the proxy's user
and with the proxy's EnvironmentFile: the credential check is check.run_check, the very code of
wif_credentials_check, and the diagnoses are diagnoses.py's.

``check`` runs the credential check, then one completion of one token through the local proxy with
the master key from the environment (LITELLM_MASTER_KEY, never an argument), prints one line and
exits 1 on failure. ``publish`` (ExecStopPost, as root) turns that run's result, or the unit's own
failure, into a node_exporter textfile, written to a temporary file and renamed.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings

from ansible_collections.keyless.wif.plugins.module_utils import inputs
from ansible_collections.keyless.wif.plugins.module_utils.wif.validate import ValidationError

# The module_utils files (relative to plugins/module_utils) the host needs: this file's import
# closure. tests/unit/plugins/module_utils/wif/test_health.py recomputes it from the sources.
HOST_MODULES = (
    "inputs.py",
    "wif/__init__.py",
    "wif/cel.py",
    "wif/check.py",
    "wif/classify.py",
    "wif/diagnoses.py",
    "wif/external_account.py",
    "wif/health.py",
    "wif/litellm_credentials.py",
    "wif/names.py",
    "wif/systemd.py",
    "wif/transport.py",
    "wif/validate.py",
)
# The package path the modules keep in the one-file program (their imports are absolute).
HOST_PACKAGE = "ansible_collections/keyless/wif/plugins/module_utils"
# The program's code after its SOURCES: a finder and loader that serve SOURCES to import (one
# file on the host is one copy task per run instead of a task per file and directory).
PROGRAM_LOADER = """

class BundledModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    \"\"\"Serves SOURCES to import; tracebacks name <keyless-wif-health>/<package path>.\"\"\"

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in SOURCES:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=SOURCES[fullname][0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        is_package, source = SOURCES[module.__name__]
        filename = "<keyless-wif-health>/%s%s" % (module.__name__.replace(".", "/"), "/__init__.py" if is_package else ".py")
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), module.__dict__)


if __name__ == "__main__":
    sys.meta_path.insert(0, BundledModules())
    sys.exit(importlib.import_module("ansible_collections.keyless.wif.plugins.module_utils.wif.health").main())
"""
ENTRY_POINT = "keyless_wif_health.py"
RESULT_FILE = "result.json"
MASTER_KEY_VARIABLE = "LITELLM_MASTER_KEY"
COMPLETION_PROMPT = "ping"
METRIC_PREFIX = "keyless_wif_health"

# systemd.time(7): a time span is one or more "<number>[unit]" (spaces between allowed), a bare
# number is seconds.
TIMESPAN_UNITS = {
    "usec": 1e-6, "us": 1e-6, "\u00b5s": 1e-6, "msec": 1e-3, "ms": 1e-3,
    "seconds": 1, "second": 1, "sec": 1, "s": 1, "": 1,
    "minutes": 60, "minute": 60, "min": 60, "m": 60,
    "hours": 3600, "hour": 3600, "hr": 3600, "h": 3600,
    "days": 86400, "day": 86400, "d": 86400,
    "weeks": 604800, "week": 604800, "w": 604800,
    "months": 2629800, "month": 2629800, "M": 2629800,
    "years": 31557600, "year": 31557600, "y": 31557600,
}
_TIMESPAN_PART_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(%s)(?![A-Za-z\u00b5])" % "|".join(
    sorted((re.escape(unit) for unit in TIMESPAN_UNITS if unit), key=len, reverse=True) + [""]))
MIN_INTERVAL = 30
MAX_INTERVAL = 86400


def timespan_seconds(value):
    """Seconds in a systemd time span such as "5min", "1h 30min" or "90"; None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not text:
        return None
    total, position = 0.0, 0
    while position < len(text):
        match = _TIMESPAN_PART_RE.match(text, position)
        if not match or match.end() == position:
            return None
        total += float(match.group(1)) * TIMESPAN_UNITS[match.group(2)]
        position = match.end()
    return total


def check_interval(field, value):
    """litellm_proxy_health_check_interval: a systemd time span from MIN_INTERVAL seconds to one day."""
    seconds = timespan_seconds(value)
    if seconds is None:
        raise ValidationError(field, 'must be a systemd time span such as "5min", "1h 30min" or "300" (seconds)', value)
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ValidationError(field, "must be from %ds to 1d (a check makes a token exchange and a completion)" % MIN_INTERVAL, value)
    return seconds


def completion_url(base_url):
    return base_url.rstrip("/") + "/v1/chat/completions"


def completion(url, model, key, timeout, opener=None):
    """One completion of at most one token through the local proxy: (ok, status, error text without the key)."""
    body = json.dumps({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": COMPLETION_PROMPT}]}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    # The proxy listens on this host: never through HTTP(S)_PROXY.
    opener = opener or urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as answer:
            status = answer.status
            payload = json.loads(answer.read().decode("utf-8") or "{}")
    except urllib.error.HTTPError as exc:
        return False, exc.code, "HTTP %d" % exc.code
    except (OSError, ValueError) as exc:
        return False, None, "%s: %s" % (type(exc).__name__, exc)
    if not isinstance(payload, dict) or not payload.get("choices"):
        return False, status, "HTTP %d without choices" % status
    return True, status, None


def run(info, url, model, key, timeout=30.0, metadata_timeout=2.0, clock=time.monotonic, check=None, complete=completion):
    """The credential check, then (when it passed and a model is named) the completion; a result dict without secrets."""
    if check is None:
        from ansible_collections.keyless.wif.plugins.module_utils.wif.check import run_check as check
    start = clock()
    creds = check(info, timeout=timeout, metadata_timeout=metadata_timeout)
    result = {"ok": bool(creds.get("ok")), "stage": "credentials", "diagnosis": "ok", "failed_hop": creds.get("failed_hop"),
              "cause": None, "latency": {"credentials": round(clock() - start, 3)}}
    if not creds.get("ok"):
        diagnosis = creds.get("diagnosis") or {}
        result.update(diagnosis=diagnosis.get("code") or "refresh_failed", cause=diagnosis.get("cause"))
        return result
    if not model:
        return result
    start = clock()
    ok, status, error = complete(completion_url(url), model, key, timeout)
    result["latency"]["completion"] = round(clock() - start, 3)
    result.update(stage="completion", ok=ok, status=status)
    if not ok:
        result.update(diagnosis="completion_failed", cause="the proxy answered %s to a one-token completion of %s" % (error, model))
    return result


def failure(stage, diagnosis, cause):
    return {"ok": False, "stage": stage, "diagnosis": diagnosis, "failed_hop": stage, "cause": cause, "latency": {}}


def journal_line(result):
    """The run's one journal line: ok or the diagnosis, and the latencies."""
    latency = " ".join("%s=%.3fs" % (stage, seconds) for stage, seconds in sorted(result.get("latency", {}).items()))
    if result["ok"]:
        return "ok %s" % latency if latency else "ok"
    text = "FAILED stage=%s diagnosis=%s" % (result["stage"], result["diagnosis"])
    if result.get("failed_hop") and result["failed_hop"] != result["stage"]:
        text += " hop=%s" % result["failed_hop"]
    if latency:
        text += " " + latency
    if result.get("cause"):
        text += " cause=%s" % " ".join(str(result["cause"]).split())
    return text


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels):
    return "{%s}" % ",".join('%s="%s"' % (name, _label(value)) for name, value in sorted(labels.items()))


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return repr(float(value))


def textfile(result, service, timestamp):
    """The Prometheus text exposition of one run, for node_exporter's textfile collector."""
    labels = {"service": service}
    lines = [
        "# HELP %s_ok 1 when the last health run of the LiteLLM proxy passed, else 0." % METRIC_PREFIX,
        "# TYPE %s_ok gauge" % METRIC_PREFIX,
        "%s_ok%s %d" % (METRIC_PREFIX, _labels(**labels), 1 if result.get("ok") else 0),
        "# HELP %s_last_run_timestamp_seconds When the last health run ended (Unix time)." % METRIC_PREFIX,
        "# TYPE %s_last_run_timestamp_seconds gauge" % METRIC_PREFIX,
        "%s_last_run_timestamp_seconds%s %s" % (METRIC_PREFIX, _labels(**labels), _number(timestamp) or "0.0"),
        "# HELP %s_info The last run's stage and diagnosis (ok when it passed)." % METRIC_PREFIX,
        "# TYPE %s_info gauge" % METRIC_PREFIX,
        "%s_info%s 1" % (METRIC_PREFIX, _labels(diagnosis=result.get("diagnosis") or "unknown", stage=result.get("stage") or "unknown", **labels)),
    ]
    latencies = [(stage, _number(seconds)) for stage, seconds in sorted((result.get("latency") or {}).items())]
    latencies = [(stage, seconds) for stage, seconds in latencies if seconds is not None]
    if latencies:
        lines += ["# HELP %s_latency_seconds Duration of each stage of the last health run." % METRIC_PREFIX,
                  "# TYPE %s_latency_seconds gauge" % METRIC_PREFIX]
        lines += ["%s_latency_seconds%s %s" % (METRIC_PREFIX, _labels(stage=stage, **labels), seconds) for stage, seconds in latencies]
    return "\n".join(lines) + "\n"


def write_atomic(path, text, mode=0o644):
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _check(args, environ, out):
    key = environ.get(MASTER_KEY_VARIABLE) or ""
    try:
        with open(args.credentials, encoding="utf-8") as handle:
            info = json.load(handle)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        result = failure("credentials", "credential_file_unreadable", "cannot read %s: %s" % (args.credentials, exc))
    else:
        if args.model and not key:
            result = failure("completion", "master_key_missing", "%s is not in the service's environment" % MASTER_KEY_VARIABLE)
        else:
            result = run(info, args.url, args.model, key, timeout=args.timeout, metadata_timeout=args.metadata_timeout)
    result["invocation"] = environ.get("INVOCATION_ID", "")
    if args.result:
        write_atomic(args.result, json.dumps(result), mode=0o600)
    out.write(journal_line(result) + "\n")
    return 0 if result["ok"] else 1


def _publish(args, environ, clock):
    """ExecStopPost: this invocation's result, or the unit's own failure when there is none or the unit failed."""
    service_result = environ.get("SERVICE_RESULT", "")
    try:
        with open(args.result, encoding="utf-8") as handle:
            result = json.load(handle)
        if not isinstance(result, dict) or result.get("invocation") != environ.get("INVOCATION_ID", ""):
            result = None
    except (OSError, ValueError):
        result = None
    if result is None:
        result = failure("unit", "unit_%s" % (service_result or "unknown").replace("-", "_"),
                         "the check left no result (SERVICE_RESULT=%s EXIT_STATUS=%s)" % (service_result, environ.get("EXIT_STATUS", "")))
    elif service_result and service_result != "success":
        result["ok"] = False
    write_atomic(args.textfile, textfile(result, args.service, clock()))
    return 0


def parser():
    top = argparse.ArgumentParser(prog=ENTRY_POINT, description="Health check of the LiteLLM proxy (keyless.wif.litellm_proxy)")
    commands = top.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="credential check and one-token completion; exit 1 on failure")
    check.add_argument("--credentials", required=True)
    check.add_argument("--url", required=True, help="the proxy's base URL")
    check.add_argument("--model", default="", help="model name for the completion (empty: credential check only)")
    check.add_argument("--timeout", type=float, default=30.0)
    check.add_argument("--metadata-timeout", type=float, default=2.0)
    check.add_argument("--result", default="", help="where to write the run's result (JSON) for publish")
    publish = commands.add_parser("publish", help="write the last result as a node_exporter textfile")
    publish.add_argument("--result", required=True)
    publish.add_argument("--textfile", required=True)
    publish.add_argument("--service", required=True)
    return top


def main(argv=None, environ=None, out=None, clock=time.time):
    """Run ``check`` or ``publish``; the journal gets one line per run: library warnings and log records are dropped."""
    args = parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    root = logging.getLogger()
    quiet = logging.NullHandler()
    root.addHandler(quiet)  # no logging.lastResort lines on stderr
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if args.command == "check":
                return _check(args, environ, out)
            return _publish(args, environ, clock)
    except Exception as exc:  # noqa: BLE001 - one journal line, never a traceback that could span many
        out.write(journal_line(failure(args.command, "health_error", "%s: %s" % (type(exc).__name__, exc))) + "\n")
        return 1
    finally:
        root.removeHandler(quiet)


def check_variables(variables):
    """The health variables of the litellm_proxy role (host_inputs.check_litellm_proxy calls this for state=present).

    The role always passes them (vars/main.yml); a caller that passes none of them checks none.
    """
    if not any(name.startswith("litellm_proxy_health_") for name in variables):
        return {"enabled": False, "interval_seconds": None}
    enabled = inputs.boolean("litellm_proxy_health_check", variables.get("litellm_proxy_health_check"))
    interval = check_interval("litellm_proxy_health_check_interval", variables.get("litellm_proxy_health_check_interval"))
    timeout = inputs.integer("litellm_proxy_health_check_timeout", variables.get("litellm_proxy_health_check_timeout"), 1, 600)
    if enabled and timeout * 3 > interval:
        raise ValidationError("litellm_proxy_health_check_timeout", "must be at most a third of litellm_proxy_health_check_interval "
                              "(%gs), so that one run ends before the next is due" % interval, timeout)
    inputs.boolean("litellm_proxy_health_check_completion", variables.get("litellm_proxy_health_check_completion"))
    model = inputs.text("litellm_proxy_health_check_model", variables.get("litellm_proxy_health_check_model"))
    names = [entry.get("name") for entry in variables.get("litellm_proxy_models") or [] if isinstance(entry, dict)]
    if model and model not in names:
        raise ValidationError("litellm_proxy_health_check_model", "must name one of litellm_proxy_models (%s) or be empty for the first"
                              % ", ".join(map(str, names)), model)
    directory = inputs.text("litellm_proxy_health_textfile_dir", variables.get("litellm_proxy_health_textfile_dir"))
    if directory:
        inputs.absolute_path("litellm_proxy_health_textfile_dir", directory)
        if directory == "/":
            raise ValidationError("litellm_proxy_health_textfile_dir", "must be a directory of node_exporter's, not /", directory)
    return {"enabled": enabled, "interval_seconds": interval}


def settings(variables, base_url, lib_parent, python):
    """What the role installs for the health timer: unit names, files and the two command lines (no secret)."""
    service = variables["litellm_proxy_service_name"]
    name = service + "-health"
    lib = "%s/%s" % (lib_parent.rstrip("/"), name)
    models = variables.get("litellm_proxy_models") or [{}]
    model = ""
    if inputs.boolean("litellm_proxy_health_check_completion", variables.get("litellm_proxy_health_check_completion")):
        model = variables.get("litellm_proxy_health_check_model") or models[0].get("name") or ""
    entry = "%s/%s" % (lib, ENTRY_POINT)
    result = "/run/%s/%s" % (name, RESULT_FILE)
    directory = variables.get("litellm_proxy_health_textfile_dir") or ""
    textfile_path = "%s/%s.prom" % (directory.rstrip("/"), name) if directory else ""

    def command(*words):
        return " ".join(_systemd_quote(word) for word in words)

    words = [python, "-I", "-B", entry, "check", "--credentials", variables["litellm_proxy_vertex_credentials"], "--url", base_url,
             "--timeout", str(variables["litellm_proxy_health_check_timeout"]), "--result", result]
    check = command(*(words + (["--model", model] if model else [])))
    publish = command(python, "-I", "-B", entry, "publish", "--result", result, "--textfile", textfile_path, "--service", service) if directory else ""
    return {
        "name": name,
        "service_unit": name + ".service",
        "timer_unit": name + ".timer",
        "lib_dir": lib,
        "modules": list(HOST_MODULES),
        "entry_point": entry,
        "model": model,
        "interval": str(variables["litellm_proxy_health_check_interval"]).strip(),
        "timeout_start_seconds": int(variables["litellm_proxy_health_check_timeout"]) * 3,
        "check_command": check,
        "publish_command": publish,
        "textfile": textfile_path,
    }


def program(sources):
    """The health check as one Python file: ``sources`` (HOST_MODULES path -> text) as SOURCES, keyed by
    module name, with their parent packages, and PROGRAM_LOADER, which serves them to import."""
    package = HOST_PACKAGE.replace("/", ".")
    modules = {}
    parts = package.split(".")
    for depth in range(1, len(parts) + 1):
        modules[".".join(parts[:depth])] = (True, "")  # ansible_collections ... module_utils: no code of their own
    for relative in sorted(sources):
        path = relative[:-len(".py")]
        is_package = path.endswith("/__init__")
        name = "%s.%s" % (package, (path[:-len("/__init__")] if is_package else path).replace("/", "."))
        modules[name] = (is_package, sources[relative])
    lines = [
        "# Managed by keyless.wif.litellm_proxy: the health timer's check (plugins/module_utils/wif/health.py)",
        "# and the module_utils it imports, in one file, run by the proxy's virtualenv Python.",
        "",
        "import importlib.abc",
        "import importlib.util",
        "import linecache",
        "import sys",
        "",
        "SOURCES = {",
    ]
    lines += ["    %r: (%r, %r)," % (name, is_package, source) for name, (is_package, source) in sorted(modules.items())]
    lines.append("}")
    return "\n".join(lines) + PROGRAM_LOADER


def _systemd_quote(word):
    """A word of an Exec= line: double-quoted when it holds space or quotes; % and $ doubled (systemd.service(5))."""
    word = str(word).replace("%", "%%").replace("$", "$$")
    if word and not re.search(r"[\s\"'\\;]", word):
        return word
    return '"%s"' % word.replace("\\", "\\\\").replace('"', '\\"')
