"""A small OData ``$filter`` parser and evaluator for the emulator's event lists.

Supports what calendar clients send: comparisons (``eq ne gt ge lt le``) on plain and
nested properties (``start/dateTime``, ``lastModifiedDateTime``, ``iCalUId``, ``type``),
``and``/``or``/``not``, parentheses, ``contains``/``startswith``/``endswith`` and lambda
``any`` over collections (``categories/any(c: c eq 'Red')``,
``singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')``).
"""

import re
from datetime import datetime

from .timeutil import parse_instant

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<str>'(?:[^']|'')*')"
    r"|(?P<dt>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<punct>[(),:])"
    r"|(?P<name>[A-Za-z_@$][A-Za-z0-9_./@$]*)"
    r")"
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith"}


class FilterError(ValueError):
    """An unsupported or malformed filter clause."""


def _tokens(text):
    pos = 0
    out = []
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError("unexpected text at %d: %r" % (pos, text[pos : pos + 20]))
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "str":
            out.append(("lit", value[1:-1].replace("''", "'")))
        elif kind == "dt":
            out.append(("lit", parse_instant(value)))
        elif kind == "num":
            out.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "punct":
            out.append((value, value))
        else:
            low = value.lower()
            if low in ("true", "false"):
                out.append(("lit", low == "true"))
            elif low == "null":
                out.append(("lit", None))
            elif low in _COMPARE or low in ("and", "or", "not"):
                out.append(("op", low))
            else:
                out.append(("name", value))
    return out


class _Parser:
    def __init__(self, text):
        self.toks = _tokens(text)
        self.pos = 0

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else (None, None)

    def take(self, kind=None, value=None):
        tok = self.peek()
        if tok[0] is None or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise FilterError("expected %s %s, found %r" % (kind or "", value or "", tok[1]))
        self.pos += 1
        return tok

    def parse(self):
        node = self.or_expr()
        if self.pos != len(self.toks):
            raise FilterError("unexpected %r" % (self.peek()[1],))
        return node

    def or_expr(self):
        node = self.and_expr()
        while self.peek() == ("op", "or"):
            self.take()
            node = ("or", node, self.and_expr())
        return node

    def and_expr(self):
        node = self.unary()
        while self.peek() == ("op", "and"):
            self.take()
            node = ("and", node, self.unary())
        return node

    def unary(self):
        if self.peek() == ("op", "not"):
            self.take()
            return ("not", self.unary())
        return self.comparison()

    def comparison(self):
        left = self.operand()
        kind, value = self.peek()
        if kind == "op" and value in _COMPARE:
            self.take()
            return ("cmp", value, left, self.operand())
        return ("truthy", left)

    def operand(self):
        kind, value = self.peek()
        if kind == "(":
            self.take("(")
            node = self.or_expr()
            self.take(")")
            return node
        if kind == "lit":
            self.take()
            return ("lit", value)
        if kind == "name":
            self.take()
            low = value.lower()
            if low in _FUNCS and self.peek()[0] == "(":
                self.take("(")
                first = self.operand()
                self.take(",")
                second = self.operand()
                self.take(")")
                return ("func", low, first, second)
            if low.endswith("/any") and self.peek()[0] == "(":
                self.take("(")
                var = self.take("name")[1]
                self.take(":")
                body = self.or_expr()
                self.take(")")
                return ("any", value[: -len("/any")], var, body)
            return ("path", value)
        raise FilterError("unexpected %r" % (value,))


def parse_filter(text):
    """Parse a ``$filter`` string into an evaluable tree (raises FilterError)."""
    return _Parser(text).parse()


def _lookup(obj, path):
    value = obj
    for part in path.split("/"):
        if isinstance(value, dict):
            match = next((k for k in value if k.lower() == part.lower()), None)
            value = value.get(match) if match else None
        else:
            return None
    return value


def _coerce(left, right):
    if isinstance(left, datetime) and isinstance(right, str):
        right = parse_instant(right)
    elif isinstance(right, datetime) and isinstance(left, str):
        left = parse_instant(left)
    if isinstance(left, str) and isinstance(right, str):
        return left.lower(), right.lower()
    return left, right


def _value(node, obj, scope):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        head, _, rest = node[1].partition("/")
        if head in scope:
            return _lookup(scope[head], rest) if rest else scope[head]
        return _lookup(obj, node[1])
    return evaluate(node, obj, scope)


def evaluate(node, obj, scope=None):
    """Evaluate a parsed filter against ``obj`` (a dict); returns a bool."""
    scope = scope or {}
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], obj, scope) or evaluate(node[2], obj, scope)
    if kind == "and":
        return evaluate(node[1], obj, scope) and evaluate(node[2], obj, scope)
    if kind == "not":
        return not evaluate(node[1], obj, scope)
    if kind == "truthy":
        return bool(_value(node[1], obj, scope))
    if kind == "cmp":
        left, right = _coerce(_value(node[2], obj, scope), _value(node[3], obj, scope))
        op = node[1]
        if op == "eq":
            return left == right
        if op == "ne":
            return left != right
        if left is None or right is None:
            return False
        try:
            return {
                "gt": left > right,
                "ge": left >= right,
                "lt": left < right,
                "le": left <= right,
            }[op]
        except TypeError as exc:
            raise FilterError("cannot compare %r and %r" % (left, right)) from exc
    if kind == "func":
        hay = _value(node[2], obj, scope)
        needle = _value(node[3], obj, scope)
        if not isinstance(hay, str) or not isinstance(needle, str):
            return False
        hay, needle = hay.lower(), needle.lower()
        if node[1] == "contains":
            return needle in hay
        if node[1] == "startswith":
            return hay.startswith(needle)
        return hay.endswith(needle)
    if kind == "any":
        items = _lookup(obj, node[1]) or []
        for item in items:
            inner = dict(scope)
            inner[node[2]] = item
            if evaluate(node[3], obj, inner):
                return True
        return False
    if kind in ("lit", "path"):
        return bool(_value(node, obj, scope))
    raise FilterError("unsupported node %r" % (kind,))
