# -*- coding: utf-8 -*-
# Copyright: keyless.wif contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Syntax checking for Google CEL expressions, run before any API call.

Follows the grammar and lexis of the CEL language definition
(https://github.com/google/cel-spec/blob/master/doc/langdef.md), so attribute conditions,
attribute mappings and IAM condition expressions are refused here with a position and a
reason instead of an opaque 400 from Google. Types and function names are not checked.
"""

from __future__ import annotations

import re
from collections import namedtuple

RESERVED = frozenset(("as", "break", "const", "continue", "else", "for", "function", "if", "import", "let",
                      "loop", "package", "namespace", "return", "var", "void", "while"))
# Comprehension macros and how many loop variables each may bind (two: the comprehensions extension).
MACROS = {"all": 2, "exists": 2, "exists_one": 2, "existsOne": 2, "filter": 1, "map": 1,
          "transformList": 2, "transformMap": 2, "transformMapEntry": 2}
# Type names of the standard environment are values too (`type(x) == string`).
TYPE_NAMES = frozenset(("bool", "bytes", "double", "int", "list", "map", "null_type", "string", "type", "uint"))
MAX_DEPTH = 64  # nesting guard: far beyond what CEL requires, well within Python's recursion limit

_LEVELS = (("||",), ("&&",), ("<", "<=", ">=", ">", "==", "!=", "in"), ("+", "-"), ("*", "/", "%"))
_PRECEDENCE = {op: n for n, level in enumerate(_LEVELS) for op in level}
_BINARY = frozenset(_PRECEDENCE) | {"?", ":"}
_OPERANDS = ("ident", "literal", "number", "string", "bytes")
_HINTS = {"=": " (use '==' to compare)", "&": " (use '&&')", "|": " (use '||')",
          "`": " (a quoted field name holds letters, digits, _ . - / and spaces)"}
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`"}
_LITERAL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_HEX_WIDTH = {"x": 2, "X": 2, "u": 4, "U": 8}
_HEX_RE = re.compile(r"[0-9a-fA-F]*")
# Alternatives are tried in order; the number forms give the spec's longest match, so `1.e3`
# is `1` `.` `e3`. A string token matches only its opening (prefix and quotes) here.
_TOKEN_RE = re.compile(
    r"""(?P<skip>[ \t\n\r\f]+ | //[^\n]*)
      | (?P<string>(?:[bB]?[rR]?|[rR][bB])(?:'''|\"\"\"|'|\"))
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>0x[0-9a-fA-F]+[uU]? | (?:[0-9]+\.[0-9]+|\.[0-9]+)(?:[eE][+-]?[0-9]+)? | [0-9]+[eE][+-]?[0-9]+ | [0-9]+[uU]?)
      | (?P<quoted>`[A-Za-z0-9_./ -]+`)
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+*/%?:.,()\[\]{}-])""",
    re.VERBOSE,
)

_Token = namedtuple("_Token", "kind value pos end")


class CelSyntaxError(ValueError):
    """A CEL expression Google's parser would refuse; position is a 0-based offset or None."""

    def __init__(self, reason, position=None):
        self.reason = reason
        self.position = position
        super().__init__(reason if position is None else "at position %d: %s" % (position, reason))


def _escape(text, i, is_bytes):
    """Decode the escape sequence at text[i] (a backslash); return (character, next index)."""
    code = text[i + 1:i + 2]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code], i + 2
    if code in _HEX_WIDTH:
        end = i + 2 + _HEX_WIDTH[code]
        digits = text[i + 2:end]
        if len(digits) != _HEX_WIDTH[code] or not _HEX_RE.fullmatch(digits):
            raise CelSyntaxError("bad escape '\\%s': needs %d hex digits" % (code, _HEX_WIDTH[code]), i)
        value = int(digits, 16)
    elif code and code in "0123" and re.match(r"[0-7]{2}", text[i + 2:i + 4]):
        end = i + 4
        value = int(text[i + 1:end], 8)
    else:
        raise CelSyntaxError("bad escape '%s' (write '\\\\' for a backslash)" % text[i:i + 2], i)
    # The spec forbids surrogates, even in pairs; bytes literals are not decoded further.
    if not is_bytes and (0xD800 <= value <= 0xDFFF or value > 0x10FFFF):
        raise CelSyntaxError("bad escape '%s': not a valid unicode code point" % text[i:end], i)
    return chr(min(value, 0x10FFFF)), end


def _lex_string(text, start, prefix, quote):
    raw, is_bytes = "r" in prefix.lower(), "b" in prefix.lower()
    i = start + len(prefix) + len(quote)
    chars = []
    while not text.startswith(quote, i):
        if i >= len(text):
            raise CelSyntaxError("unterminated string literal", start)
        if len(quote) == 1 and text[i] in "\r\n":
            raise CelSyntaxError("unterminated string literal (use ''' quotes or \\n for a newline)", start)
        if text[i] == "\\" and not raw:
            char, i = _escape(text, i, is_bytes)
        else:
            char, i = text[i], i + 1
        chars.append(char)
    return _Token("bytes" if is_bytes else "string", None if is_bytes else "".join(chars), start, i + len(quote))


def _tokenize(text):
    tokens, i = [], 0
    while i < len(text):
        match = _TOKEN_RE.match(text, i)
        if match is None:
            raise CelSyntaxError("unexpected character %r%s" % (text[i], _HINTS.get(text[i], "")), i)
        kind, word, i = match.lastgroup, match.group(), match.end()
        if kind == "string":
            prefix = word.rstrip("'\"")
            if prefix.lower() == "rb":
                raise CelSyntaxError("string prefix '%s' is not CEL (write br'...')" % prefix, match.start())
            tokens.append(_lex_string(text, match.start(), prefix, word[len(prefix):]))
            i = tokens[-1].end
        elif kind != "skip":
            if word in ("in", "true", "false", "null"):
                kind = "op" if word == "in" else "literal"
            tokens.append(_Token(kind, word, match.start(), i))
    tokens.append(_Token("end", None, len(text), len(text)))
    return tokens


class _Parser:
    """Recursive descent over the spec's grammar; parse methods return the kind of node parsed."""

    def __init__(self, text, tokens, variables):
        self.text, self.tokens, self.i, self.depth = text, tokens, 0, 0
        self.variables = None if variables is None else frozenset(variables)
        self.scopes = []  # loop variables of the enclosing comprehension macros
        self.negated = False  # the operand being parsed follows a unary '-'

    @property
    def cur(self):
        return self.tokens[self.i]

    def at(self, *ops):
        return self.cur.kind == "op" and self.cur.value in ops

    def advance(self):
        self.i += 1
        return self.tokens[self.i - 1]

    def show(self, tok):
        return "end of expression" if tok.kind == "end" else "'%s'" % self.text[tok.pos:tok.end][:30]

    def stray(self, tok, wanted):
        if tok.kind in _OPERANDS or (tok.kind == "op" and tok.value in ("(", "[", "{", "!")):
            return CelSyntaxError("two operands in a row: expected an operator before %s" % self.show(tok), tok.pos)
        return CelSyntaxError("expected %s, found %s" % (wanted, self.show(tok)), tok.pos)

    def expect(self, op, opener=None, wanted=None):
        """Consume op, which closes opener if given; otherwise say what went wrong."""
        if self.at(op):
            return self.advance()
        if opener is not None and self.cur.kind == "end":
            raise CelSyntaxError("unbalanced parentheses/brackets: '%s' at position %d is not closed"
                                 % (opener.value, opener.pos), self.cur.pos)
        raise self.stray(self.cur, wanted or "'%s' to close '%s' at position %d" % (op, opener.value, opener.pos))

    def parse(self):
        self.expr()
        tok = self.cur
        if tok.kind == "end":
            return
        if tok.value in (")", "]", "}"):
            raise CelSyntaxError("unbalanced parentheses/brackets: '%s' has no matching opener" % tok.value, tok.pos)
        if tok.value == ":":
            raise CelSyntaxError("':' without a matching '?'", tok.pos)
        raise self.stray(tok, "end of expression")

    def expr(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CelSyntaxError("expression nests too deeply (more than %d levels)" % MAX_DEPTH, self.cur.pos)
        kind = self.binary(0)
        if self.at("?"):
            question = self.advance()
            self.binary(0)
            if self.at("?"):
                raise CelSyntaxError("a conditional between '?' and ':' needs parentheses", self.cur.pos)
            if not self.at(":"):
                raise CelSyntaxError("'?' at position %d has no matching ':'" % question.pos, self.cur.pos)
            self.advance()
            self.expr()
            kind = "other"
        self.depth -= 1
        return kind

    def binary(self, lowest):
        """Precedence climbing over _LEVELS; operators of one level associate to the left."""
        kind = self.unary()
        while self.cur.kind == "op" and _PRECEDENCE.get(self.cur.value, -1) >= lowest:
            self.binary(_PRECEDENCE[self.advance().value] + 1)
            kind = "other"
        return kind

    def unary(self):
        if not self.at("!", "-"):
            return self.member()
        op = self.cur.value
        while self.at(op):
            self.advance()
        if self.at("!", "-"):  # the grammar has `!!x` and `--x` but not `!-x`
            raise CelSyntaxError("mixing '!' and '-' needs parentheses", self.cur.pos)
        self.negated = op == "-"
        self.member()
        return "other"

    def member(self):
        # root: the leading identifier while the chain is still a dotted name, which may
        # yet turn out to name a message type (`a.b.T{...}`) rather than a variable.
        kind, root = self.primary()
        while True:
            if self.at("."):
                self.advance()
                name = self.cur
                if name.kind not in ("ident", "quoted"):
                    raise CelSyntaxError("expected a field name after '.', found %s" % self.show(name), name.pos)
                self.advance()
                kind = "select"
                if self.at("(") and name.kind == "quoted":
                    raise CelSyntaxError("a quoted field name cannot be called", self.cur.pos)
                if self.at("("):
                    self.value(root)
                    root = None
                    self.call(name.value, receiver=True)
                    kind = "call"
            elif self.at("["):
                self.value(root)
                root = None
                opener = self.advance()
                self.expr()
                self.expect("]", opener)
                kind = "index"
            elif self.at("{") and root is not None:
                root = None
                self.sequence(self.advance(), "}", self.field_init)
                kind = "message"
            else:
                self.value(root)
                return kind

    def name(self, tok):
        if tok.value in RESERVED:
            raise CelSyntaxError("'%s' is a reserved word and cannot be used as an identifier" % tok.value, tok.pos)

    def value(self, tok):
        """Check the root identifier of a member chain that is used as a value."""
        if tok is not None:
            self.name(tok)
            known = self.variables
            if known is not None and tok.value not in known and tok.value not in self.scopes and tok.value not in TYPE_NAMES:
                raise CelSyntaxError("unknown variable '%s' (known: %s)" % (tok.value, ", ".join(sorted(known))), tok.pos)

    def primary(self):
        tok, negated, self.negated = self.cur, self.negated, False
        if tok.kind == "number":
            self.number(tok, negated)
        if tok.kind in _OPERANDS[1:]:
            self.advance()
            return "literal", None
        if tok.value == "in":
            raise CelSyntaxError("'in' is an operator and cannot be used as an identifier", tok.pos)
        if tok.kind == "quoted":
            raise CelSyntaxError("a quoted name like %s can only follow '.' or name a message field" % self.show(tok), tok.pos)
        if self.at("."):
            self.advance()
            tok = self.cur
            if tok.kind != "ident":
                raise CelSyntaxError("expected a name after the leading '.', found %s" % self.show(tok), tok.pos)
        if tok.kind == "ident":
            self.advance()
            if not self.at("("):
                return "ident", tok
            self.name(tok)
            self.call(tok.value, receiver=False)
            return "call", None
        if self.at("("):
            opener = self.advance()
            kind = self.expr()
            self.expect(")", opener)
            return kind, None
        if self.at("["):
            self.sequence(self.advance(), "]", self.expr)
            return "list", None
        if self.at("{"):
            self.sequence(self.advance(), "}", self.map_init)
            return "map", None
        prev = self.tokens[self.i - 1] if self.i else None
        if prev is not None and not (tok.value in _BINARY and prev.value in ("(", "[", "{", ",")):
            raise CelSyntaxError("expected an operand after '%s'" % prev.value, tok.pos)
        if tok.value in (")", "]", "}"):
            raise CelSyntaxError("unbalanced parentheses/brackets: '%s' has no matching opener" % tok.value, tok.pos)
        raise CelSyntaxError("expected an operand before %s" % self.show(tok), tok.pos)

    def number(self, tok, negated):
        """Google's parser refuses out-of-range literals; only -9223372036854775808 reaches 2**63."""
        word = tok.value.rstrip("uU")
        if word.startswith("0x") or word.isdigit():
            limit = 2 ** 64 if word != tok.value else 2 ** 63 + negated
            if int(word, 16 if word.startswith("0x") else 10) >= limit:
                raise CelSyntaxError("integer literal %s is out of range" % tok.value, tok.pos)
        elif float(word) == float("inf"):
            raise CelSyntaxError("number %s is out of range for a double" % tok.value, tok.pos)

    def sequence(self, opener, closer, item):
        """List, map or message entries: `[ExprList] [","]` in the grammar, so even `[,]` parses."""
        if not self.at(closer, ","):
            item()
            while self.at(",") and self.tokens[self.i + 1].value != closer:
                self.advance()
                item()
        if self.at(","):
            self.advance()
        self.expect(closer, opener)

    def map_init(self):
        self.expr()
        self.expect(":", wanted="':' after a map key")
        self.expr()

    def field_init(self):
        if self.cur.kind not in ("ident", "quoted"):
            raise CelSyntaxError("expected a field name, found %s" % self.show(self.cur), self.cur.pos)
        self.advance()
        self.expect(":", wanted="':' after a field name")
        self.expr()

    def call(self, name, receiver):
        opener = self.advance()
        first, bound = self.cur, 0
        # Macro loop variables (`x.all(e, p)`, two-variable `m.all(k, v, p)`) are bound in the later arguments.
        while receiver and bound < MACROS.get(name, 0) and self.cur.kind == "ident" and self.tokens[self.i + 1].value == ",":
            self.name(self.cur)
            self.scopes.append(self.advance().value)
            self.advance()
            bound += 1
        kinds = []
        if bound or not self.at(")"):
            kinds.append(self.expr())
            while self.at(","):
                self.advance()
                kinds.append(self.expr())
        self.expect(")", opener)
        del self.scopes[len(self.scopes) - bound:]
        if receiver and name in MACROS and not bound and len(kinds) > 1:
            raise CelSyntaxError("the first argument of %s() must be a loop variable name" % name, first.pos)
        if not receiver and name == "has" and kinds != ["select"]:
            raise CelSyntaxError("has() takes one field selection such as has(a.b)", first.pos)


def check_syntax(text, variables=None):
    """Raise CelSyntaxError unless text is one syntactically valid CEL expression.

    With variables (a collection of names), every free identifier must be one of them,
    a macro's loop variable or a standard type name; function names are not checked.
    """
    if not isinstance(text, str):
        raise CelSyntaxError("expression must be a string, got %s" % type(text).__name__)
    if isinstance(variables, str):
        variables = (variables,)
    tokens = _tokenize(text)
    if tokens[0].kind == "end":
        raise CelSyntaxError("expression is empty")
    _Parser(text, tokens, variables).parse()


def string_literals(text):
    """The decoded values of the string literals in text, in order (bytes literals are skipped).

    Raises CelSyntaxError when text does not even tokenize, e.g. on an unterminated string.
    """
    return [tok.value for tok in _tokenize(text) if tok.kind == "string"]


def string_literal(value):
    """A double-quoted CEL string literal denoting value."""
    out = []
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError("lone surrogate %r cannot appear in a CEL string" % char)
        if char in _LITERAL_ESCAPES:
            out.append(_LITERAL_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:  # other control and invisible characters, spelled out so they stay visible
            out.append("\\x%02x" % code if code < 0x100 else "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code)
    return '"%s"' % "".join(out)


def conjoin(parts):
    """AND the non-blank expressions together, each in parentheses.

    `&&` binds tighter than `||`, so a naive join turns `a || b` and `c` into `a || (b && c)`.
    Each part is syntax-checked first: an unbalanced part such as `a) || (b` could otherwise
    break out of its parentheses.
    """
    wrapped = []
    for part in [parts] if isinstance(parts, str) else parts:
        if part is None or not part.strip():
            continue
        check_syntax(part)
        # A line comment at the end of a part would swallow the closing parenthesis.
        wrapped.append("(%s%s)" % (part.strip(), "\n" if "//" in part else ""))
    return " && ".join(wrapped)
