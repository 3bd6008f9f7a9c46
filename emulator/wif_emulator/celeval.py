"""CEL for attribute mappings, attribute conditions and IAM conditions (cel-python).

Google adds string `extract(template)` to CEL for workload identity federation: it returns
the part of the string matched by the one `{name}` placeholder in the template, given the
literal text around it ("" when the text is not there).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import celpy
from celpy import celtypes

DEFAULT_AWS_MAPPING = {
    "google.subject": "assertion.arn",
    "attribute.aws_role": (
        "assertion.arn.contains('assumed-role') ? "
        "assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + "
        "assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
    ),
}

# The variables Google declares (IAM v1 API reference, WorkloadIdentityPoolProvider): a mapping
# reads `assertion`; of a condition, "The following keywords may be referenced in the
# expressions": assertion, google (mapped google.*) and attribute (mapped attribute.*).
MAPPING_VARIABLES = ("assertion",)
CONDITION_VARIABLES = ("assertion", "google", "attribute")

# celpy folds the protobuf well-known types (google.protobuf.Int32Value, ...) into every
# Environment. They make `google` a package name, and `google.subject` then resolves as a type
# `subject` in that package instead of the field `subject` of the variable `google`. Neither
# workload identity federation nor IAM Conditions name protobuf types: drop them.
_ENV = celpy.Environment()
_ENV.annotations = {k: v for k, v in _ENV.annotations.items() if not k.startswith("google.")}
_LOCK = threading.Lock()
# Names an expression may use without declaring them: CEL's type names, and the loop variable of
# a comprehension macro (`list.exists(x, x == 'a')`).
_TYPE_NAMES = {"bool", "bytes", "double", "duration", "dyn", "int", "list", "map", "null_type",
               "string", "timestamp", "type", "uint"}
_MACROS = {"all", "exists", "exists_one", "filter", "map"}


class CelError(ValueError):
    """An expression did not compile or did not evaluate."""


def _extract(value: Any, template: Any) -> celtypes.StringType:
    text, tmpl = str(value), str(template)
    start, end = tmpl.find("{"), tmpl.find("}")
    if start < 0 or end < start:
        raise ValueError("extract() template needs one {placeholder}")
    prefix, suffix = tmpl[:start], tmpl[end + 1:]
    at = text.find(prefix)
    if at < 0:
        return celtypes.StringType("")
    begin = at + len(prefix)
    if suffix:
        stop = text.find(suffix, begin)
        if stop < 0:
            return celtypes.StringType("")
    else:
        stop = len(text)
    return celtypes.StringType(text[begin:stop])


_FUNCTIONS = {"extract": _extract}


@functools.lru_cache(maxsize=512)
def _program(expression: str) -> Any:
    try:
        ast = _ENV.compile(expression)
    except Exception as exc:  # celpy raises CELParseError (and lark errors)
        raise CelError(f"invalid CEL expression: {str(exc).splitlines()[0]}") from exc
    return _ENV.program(ast, functions=_FUNCTIONS)


def _undeclared(expression: str, variables: tuple[str, ...]) -> list[str]:
    """The variables the expression names that are neither in ``variables`` nor bound by it."""
    names: list[str] = []
    bound = set(_TYPE_NAMES)
    for node in _ENV.compile(expression).iter_subtrees_topdown():
        if node.data in ("ident", "dot_ident"):
            names.append(str(node.children[0]))
        elif node.data == "member_dot_arg" and str(node.children[1]) in _MACROS and node.children[2]:
            loop_var = next(node.children[2].children[0].find_data("ident"), None)
            if loop_var is not None:
                bound.add(str(loop_var.children[0]))
    return [n for n in dict.fromkeys(names) if n not in bound and n not in variables]


def check(expression: str, variables: tuple[str, ...] | None = None) -> None:
    """Raise CelError when the expression does not parse, or, given ``variables``, names another.

    Google checks expressions when a provider is written: an undeclared name is a 400 there,
    not a failed evaluation at token exchange time.
    """
    with _LOCK:
        _program(expression)
        unknown = _undeclared(expression, variables) if variables is not None else []
    if unknown:
        raise CelError(f"invalid CEL expression: undeclared reference to '{unknown[0]}'; the "
                       f"expression may reference {', '.join(variables or ())}")


def _to_python(value: Any) -> Any:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.StringType, str)):
        return str(value)
    if isinstance(value, celtypes.IntType):
        return int(value)
    if isinstance(value, (celtypes.ListType, list)):
        return [_to_python(v) for v in value]
    if isinstance(value, (celtypes.MapType, dict)):
        return {str(k): _to_python(v) for k, v in value.items()}
    return value


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """Evaluate and return a plain Python value; CelError on any failure."""
    # Values already in CEL types (e.g. a map holding a timestamp) pass through as they are.
    activation = {k: (v if isinstance(v, (celtypes.TimestampType, celtypes.MapType))
                      else celpy.json_to_cel(v))
                  for k, v in variables.items()}
    with _LOCK:
        prog = _program(expression)
        try:
            result = prog.evaluate(activation)
        except Exception as exc:
            raise CelError(f"evaluation failed: {exc}") from exc
    if isinstance(result, (celpy.CELEvalError, Exception)):
        raise CelError(f"evaluation failed: {result}")
    return _to_python(result)


def timestamp(dt: Any) -> celtypes.TimestampType:
    return celtypes.TimestampType(dt)
