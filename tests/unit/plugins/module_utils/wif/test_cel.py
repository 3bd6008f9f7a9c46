"""CEL syntax checking: every valid expression passes, every invalid one says where and why."""

from __future__ import annotations

import random

import pytest
from ansible_collections.keyless.wif.plugins.module_utils.wif import cel

WIF_VARIABLES = {"assertion", "attribute", "google"}

GOOGLE_AWS_MAPPING = (
    "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/'"
    " + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn"
)

VALID = [
    GOOGLE_AWS_MAPPING,
    'attribute.aws_role in ["arn:aws:sts::111111111111:assumed-role/r"]',
    "request.time < timestamp('2030-01-01T00:00:00Z')",
    "resource.name.startsWith('projects/_/buckets/x')",
    "'a' in ['a','b'] && !(1 > 2)",
    "{'a': 1}.a == 1",
    "size(assertion.arn) > 3",
    "google.subject.endsWith('/i-0aaa')",
    "assertion.arn.matches('^arn:aws:sts::[0-9]{12}:')",
    "assertion.arns.exists(a, a.startsWith('x'))",
    "assertion.arns.all(a, a != '') && assertion.arns.exists_one(a, a == 'x')",
    "assertion.arns.map(a, a + '!').filter(b, size(b) > 1)",
    "assertion.arns.map(a, a != '', a + '!')",
    "{'k': 1}.all(k, v, v > 0)",
    "has(assertion.arn) && has(assertion.tags.team)",
    "int(assertion.n) + 1u == uint(2) || double(assertion.d) > 1.5",
    "0x1F == 31 && 0x1Fu == 31u && 1U == 1u",
    "1.5 + 1e3 + .5 + 1.5e-3 + 2E+2 + 10e-1 == 0.0",
    "-9223372036854775808 < 9223372036854775807 && 18446744073709551615u > 0u",
    "1.e3 == 1",  # `1.e3` is the member `e3` of 1, as in Google's lexer
    "'''multi\nline''' + \"\"\"a \"quoted\" b\"\"\"",
    "r'\\d+\\.' + R\"\\w\" + '\\\\'",
    "b'abc' == b\"\\x61\\142c\" && br'\\x' != B'' && bR\"\" == BR''",
    "'\\a\\b\\f\\n\\r\\t\\v\\\\\\?\\\"\\'\\`\\x41\\X41\\101\\u00e9\\U0001F600'",
    "'caf\u00e9 \u6f22\u5b57 \U0001F600' == \"\u00e9\"",
    "''",
    "true && !false || null == null",
    "!!true && --1 == 1",
    "a ? b : c ? d : e",
    "(a ? b : c) ? d : e",
    "a ? (b ? c : d) : e",
    "a < b < c",
    "1 + 2 * 3 - 4 / 5 % 6",
    "a.b.c[0]['k'].d()[1].e",
    "f(1, 'x', [2], {3: 4})",
    "[] == [] && {} == {} && [1, 2,] == [1, 2] && {'a': 1,} == {'a': 1}",
    "[,] == []",  # `[ExprList] [","]`: the spec grammar admits a lone comma
    ".root.name == 'x'",
    "google.protobuf.Timestamp{seconds: 1}.seconds == 1",
    "Msg{if: 1, as: 2,}",  # reserved words are fine as field names
    "{'if': 1}.if + {'while': 2}.while + a.namespace()",
    "a.`b-c` + a.`d.e/f g`",
    "x.size() == size(x) && type(x) == string",
    "a\n&&\tb\r||\fc",
    "a // a comment\n&& b // and another at the end",
    "in_list in [in_list] && inx == null",
    "1in[1]",
    "has(a.b.c) && has((a.b))",
    "x.exists(e, e.exists(f, f == e))",
    "-(1) - -1",
]

INVALID = [
    ("", "empty"),
    ("   \n\t", "empty"),
    ("// just a comment", "empty"),
    ("a &&", "expected an operand after '&&'"),
    ("|| b", "expected an operand before '||'"),
    ("a == ", "expected an operand after '=='"),
    ("a && || b", "expected an operand after '&&'"),
    ("(|| b)", "expected an operand before '||'"),
    ("!", "expected an operand after '!'"),
    ("a b", "two operands in a row"),
    ("(a b)", "two operands in a row"),
    ("f(a) (b)", "two operands in a row"),
    ("'x' 'y'", "two operands in a row"),
    ("a ? b", "no matching ':'"),
    ("a ? b ? c : d : e", "needs parentheses"),
    ("a : b", "without a matching '?'"),
    ("f(a", "'(' at position 1 is not closed"),
    ("[1, 2", "'[' at position 0 is not closed"),
    ("{'a': 1", "'{' at position 0 is not closed"),
    ("a)", "')' has no matching opener"),
    (")", "')' has no matching opener"),
    ("[1)", "expected ']' to close '['"),
    ("(a]", "expected ')' to close '('"),
    ("'abc", "unterminated string"),
    ('"abc\'', "unterminated string"),
    ("'a\nb'", "unterminated string"),
    ("'''abc''", "unterminated string"),
    ("r'abc", "unterminated string"),
    ("'\\s'", "bad escape '\\s'"),
    ("'\\x4'", "needs 2 hex digits"),
    ("'\\u00e'", "needs 4 hex digits"),
    ("'\\U0001F60'", "needs 8 hex digits"),
    ("'\\400'", "bad escape '\\4'"),
    ("'\\18'", "bad escape"),
    ("'\\uD83D\\uDE03'", "not a valid unicode code point"),
    ("'\\U00110000'", "not a valid unicode code point"),
    ("'abc\\", "bad escape"),
    ("rb'x'", "string prefix 'rb' is not CEL"),
    ("a = b", "unexpected character '='"),
    ("a & b", "use '&&'"),
    ("a | b", "use '||'"),
    ("a # b", "unexpected character '#'"),
    ("a.`b$c`", "unexpected character '`'"),
    ("`a`", "can only follow '.'"),
    ("a.`b`()", "quoted field name cannot be called"),
    ("caf\u00e9 == 1", "unexpected character"),
    ("if.x", "'if' is a reserved word"),
    ("while(x)", "'while' is a reserved word"),
    ("x.exists(let, let > 1)", "'let' is a reserved word"),
    ("{package: 1}", "'package' is a reserved word"),
    ("in", "'in' is an operator"),
    ("a.in", "expected a field name after '.'"),
    ("a.true", "expected a field name after '.'"),
    ("a.", "expected a field name after '.'"),
    ("a..b", "expected a field name after '.'"),
    (". 1", "expected a name after the leading '.'"),
    ("!-a", "mixing '!' and '-'"),
    ("-!a", "mixing '!' and '-'"),
    ("f(a,)", "expected an operand after ','"),
    ("x.exists(e,)", "expected an operand after ','"),
    ("has(a)", "has() takes one field selection"),
    ("has(a.b())", "has() takes one field selection"),
    ("has(a.b, c)", "has() takes one field selection"),
    ("x.exists(e.f, true)", "first argument of exists() must be a loop variable"),
    ("x.map(1, 2)", "first argument of map() must be a loop variable"),
    ("{'a' 1}", "two operands in a row"),
    ("{'a': 1, 'b'}", "expected ':' after a map key"),
    ("Msg{a 1}", "two operands in a row"),
    ("Msg{'a': 1}", "expected a field name"),
    ("9223372036854775808", "out of range"),
    ("1 - 9223372036854775808", "out of range"),
    ("18446744073709551616u", "out of range"),
    ("0x10000000000000000u", "out of range"),
    ("1e309", "out of range"),
    ("0X1F", "two operands in a row"),
    ("1.5u", "two operands in a row"),
    ("1e", "two operands in a row"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_pass(text):
    assert cel.check_syntax(text) is None


@pytest.mark.parametrize(("text", "fragment"), INVALID)
def test_invalid_expressions_say_why(text, fragment):
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.check_syntax(text)
    err = info.value
    assert fragment in err.reason
    assert isinstance(err, ValueError)
    assert "\n" not in str(err) and str(err)[0].islower()
    if err.position is not None:
        assert str(err) == "at position %d: %s" % (err.position, err.reason)
        assert 0 <= err.position <= len(text)


def test_message_and_position():
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.check_syntax("assertion.a &&")
    assert str(info.value) == "at position 14: expected an operand after '&&'"
    assert (info.value.position, info.value.reason) == (14, "expected an operand after '&&'")
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.check_syntax("a == 'b")
    assert info.value.position == 5 and "unterminated" in str(info.value)
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.check_syntax("")
    assert info.value.position is None and str(info.value) == "expression is empty"


def test_non_string_is_refused():
    with pytest.raises(cel.CelSyntaxError, match="must be a string"):
        cel.check_syntax(None)


def test_deep_nesting_is_refused_cleanly():
    inner = cel.MAX_DEPTH - 1  # the whole expression is the first level
    cel.check_syntax("(" * inner + "1" + ")" * inner)
    cel.check_syntax("f(" * inner + "x.y" + ")" * inner)
    cel.check_syntax("[" * cel.MAX_DEPTH + "]" * cel.MAX_DEPTH)
    with pytest.raises(cel.CelSyntaxError, match="nests too deeply"):
        cel.check_syntax("(" * 2000 + "1" + ")" * 2000)
    cel.check_syntax(" || ".join(["a"] * 1000))  # long flat chains do not recurse


@pytest.mark.parametrize(
    "text",
    [
        GOOGLE_AWS_MAPPING,
        "assertion.arns.exists(a, a.startsWith('x'))",
        "attribute.aws_role == 'x' && google.subject != ''",
        "size(assertion.arn) > 3 && timestamp(assertion.t) > timestamp('2030-01-01T00:00:00Z')",
        "assertion.tags.all(k, v, k != v) && assertion.tags.map(t, t != '', t + '!').size() > 0",
        "assertion.x.exists(e, e.exists(f, f == e))",
        "type(assertion.n) == int && true && null == null",
        "pkg.Duration{seconds: 1} == duration(assertion.d)",  # a message type name is not a variable
        "{'a': assertion.a}.a == [assertion][0]",
    ],
)
def test_known_variables_pass(text):
    cel.check_syntax(text, variables=WIF_VARIABLES)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("assertoin.arn == 'x'", "assertoin"),
        ("assertion.arn == arn", "arn"),
        ("attribute.x && size(atribute.y) > 1", "atribute"),
        ("assertion.arns.exists(a, a == b)", "b"),
        ("assertion.arns.exists(a, true) && a", "a"),  # a loop variable is scoped to its macro
        ("assertion.arns.map(a, a)[a]", "a"),
        ("[request][0]", "request"),
        (".request.time", "request"),
        ("f(x)", "x"),
    ],
)
def test_unknown_variables_are_refused(text, name):
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.check_syntax(text, variables=WIF_VARIABLES)
    assert info.value.reason == "unknown variable '%s' (known: assertion, attribute, google)" % name
    assert text[info.value.position:].startswith(name)


def test_variables_accepts_any_collection():
    cel.check_syntax("assertion.arn", variables=["assertion"])
    cel.check_syntax("assertion.arn", variables="assertion")
    cel.check_syntax("anything.goes")  # without variables nothing is checked
    with pytest.raises(cel.CelSyntaxError, match="unknown variable 'a'"):
        cel.check_syntax("a", variables=())


def test_conjoin_parenthesizes_each_part():
    assert cel.conjoin(["a || b", "c"]) == "(a || b) && (c)"
    naive = " && ".join(["x || y", "z"])
    assert cel.conjoin(["x || y", "z"]) != naive
    assert cel.conjoin(["x || y", "z"]) == "(x || y) && (z)"
    assert cel.conjoin(["  a  "]) == "(a)"
    assert cel.conjoin(["", "   ", None, "a", "b"]) == "(a) && (b)"
    assert cel.conjoin([]) == ""
    assert cel.conjoin(["", " "]) == ""
    cel.check_syntax(cel.conjoin(["a || b", "c ? d : e", "f"]))


def test_conjoin_refuses_parts_that_escape_their_parentheses():
    with pytest.raises(cel.CelSyntaxError, match="no matching opener"):
        cel.conjoin(["a) || (b", "c"])


def test_conjoin_keeps_a_trailing_comment_inside_its_part():
    joined = cel.conjoin(["a // note", "b"])
    cel.check_syntax(joined)
    assert joined.endswith("&& (b)")
    assert cel.conjoin(["'https://x' == a"]) == "('https://x' == a\n)"


@pytest.mark.parametrize(
    "value",
    ["", "plain", 'say "hi"', "it's", "back\\slash", "\\\\", "line\nbreak", "tab\tcr\r", "\u00e9", "caf\u00e9",
     "\x00\x01\x1f\x7f", "\u200b\u2028", "\U0001F600", "arn:aws:sts::111111111111:assumed-role/r", "'''", '"""', "\\x41"],
)
def test_string_literal_round_trip(value):
    literal = cel.string_literal(value)
    assert literal.startswith('"') and literal.endswith('"')
    cel.check_syntax(literal)
    assert cel.string_literals(literal) == [value]


def test_string_literal_escapes():
    assert cel.string_literal('a"b\\c') == '"a\\"b\\\\c"'
    assert cel.string_literal("\n\t\r\x01") == '"\\n\\t\\r\\x01"'
    assert cel.string_literal("\u00e9") == '"\u00e9"'
    assert cel.string_literal("\u200b") == '"\\u200b"'
    with pytest.raises(ValueError, match="surrogate"):
        cel.string_literal("\ud800")


def test_string_literal_round_trip_random():
    rng = random.Random(20240601)
    pool = [chr(c) for c in range(0x20, 0x7F)] + list("\t\n\r\\\"'`\u00e9\u00fc\u6f22\u200b\U0001F600")
    for _unused_round in range(200):
        value = "".join(rng.choice(pool) for _unused_char in range(rng.randrange(0, 40)))
        literal = cel.string_literal(value)
        cel.check_syntax(literal)
        assert cel.string_literals(literal) == [value]


def test_string_literals_in_order():
    text = (
        "assertion.arn == 'arn:aws:sts::111111111111:assumed-role/a' || "
        "attribute.aws_role in [\"arn:aws:sts::222222222222:assumed-role/b\", r'\\d', '''x\ny''', b'skipped']"
    )
    assert cel.string_literals(text) == [
        "arn:aws:sts::111111111111:assumed-role/a",
        "arn:aws:sts::222222222222:assumed-role/b",
        "\\d",
        "x\ny",
    ]
    assert cel.string_literals("'\\u00e9\\x41\\101\\n' + \"\\\"\"") == ["\u00e9AA\n", '"']
    assert cel.string_literals("a == b") == []
    assert cel.string_literals("'a' // 'not a literal'\n") == ["a"]


def test_string_literals_refuses_unterminated():
    with pytest.raises(cel.CelSyntaxError, match="unterminated"):
        cel.string_literals("a == 'arn:aws")
