#!/usr/bin/env python3
"""Lists the requirements a wheelhouse lacks for the instances' exact interpreter.

`pip download --python-version X` picks wheels for X but evaluates environment markers with
the running interpreter, so a dependency such as `async-timeout; python_full_version < "3.11.3"`
is missed when the controller runs 3.11.7 and the instances run Debian 12's 3.11.2. This walks
the requirement graph from the wheels' own metadata with the instances' marker environment and
prints one missing requirement per line (exit 0 either way; empty output = complete).

Usage: wheelcheck.py WHEELHOUSE REQUIREMENTS_FILE [--python-full-version 3.11.2]
"""

from __future__ import annotations

import argparse
import email.parser
import sys
import zipfile
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename


def target_env(full_version: str) -> dict[str, str]:
    major_minor = ".".join(full_version.split(".")[:2])
    return {
        "implementation_name": "cpython", "implementation_version": full_version, "os_name": "posix",
        "platform_machine": "x86_64", "platform_release": "", "platform_system": "Linux",
        "platform_version": "", "python_full_version": full_version, "python_version": major_minor,
        "platform_python_implementation": "CPython", "sys_platform": "linux", "extra": "",
    }


def wheel_requires(path: Path) -> list[Requirement]:
    with zipfile.ZipFile(path) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.HeaderParser().parsestr(zf.read(meta_name).decode("utf-8", "replace"))
    return [Requirement(r) for r in msg.get_all("Requires-Dist") or []]


def read_requirements(path: Path) -> list[Requirement]:
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith(("#", "-")):
            try:
                out.append(Requirement(line))
            except InvalidRequirement as exc:
                sys.exit(f"wheelcheck: {path}: {line!r}: {exc}")
    return out


def missing(house: Path, roots: list[Requirement], env: dict[str, str]) -> list[str]:
    wheels: dict[str, list[tuple[object, Path]]] = {}
    for whl in house.glob("*.whl"):
        name, version, _build, _tags = parse_wheel_filename(whl.name)
        wheels.setdefault(name, []).append((version, whl))
    lacking: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    queue: list[tuple[Requirement, tuple[str, ...]]] = [(r, ("",)) for r in roots]
    while queue:
        req, parent_extras = queue.pop()
        if req.marker and not any(req.marker.evaluate(env | {"extra": e}) for e in parent_extras):
            continue
        name = canonicalize_name(req.name)
        fits = [p for v, p in wheels.get(name, []) if req.specifier.contains(v, prereleases=True)]
        if not fits:
            req_str = f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}{req.specifier}"
            if req_str not in lacking:
                lacking.append(req_str)
            continue
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        extras = ("", *sorted(req.extras))
        for path in fits:
            queue.extend((dep, extras) for dep in wheel_requires(path))
    return lacking


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheelhouse", type=Path)
    ap.add_argument("requirements", type=Path)
    ap.add_argument("--python-full-version", default="3.11.2")
    args = ap.parse_args()
    for line in missing(args.wheelhouse, read_requirements(args.requirements), target_env(args.python_full_version)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
