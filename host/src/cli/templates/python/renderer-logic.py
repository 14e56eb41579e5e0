"""@NAME@: a template renderer. `{{name}}` is replaced by the variable `name` (a dotted
path such as `{{user.name}}` reads into objects); strings are inserted as they are,
other values as JSON, and a variable without a value renders as nothing.

Plain Python, unit-tested natively (test_logic.py)."""

import json
import re

TAG = re.compile(r"\{\{(.*?)\}\}", re.S)


class Failure(Exception):
    """`kind`: "syntax" (value: (message, 1-based line, column)), "missing-variables"
    (value: names) or "failed" (value: message)."""

    def __init__(self, kind, value):
        super().__init__(kind, value)
        self.kind = kind
        self.value = value


def lookup(variables, path):
    v = variables
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def render(template, variables_json, required=()):
    try:
        variables = json.loads(variables_json)
    except ValueError as e:
        raise Failure("failed", f"variables are not JSON: {e}")
    missing = [n for n in required if lookup(variables, n) is None]
    if missing:
        raise Failure("missing-variables", missing)

    def one(m):
        v = lookup(variables, m.group(1).strip())
        if v is None:
            return ""
        return v if isinstance(v, str) else json.dumps(v)

    # A `{{` left after blanking every complete tag was never closed.
    at = TAG.sub(lambda m: " " * len(m.group(0)), template).find("{{")
    if at >= 0:
        line = template.count("\n", 0, at) + 1
        column = at - (template.rfind("\n", 0, at) + 1) + 1
        raise Failure("syntax", ("unclosed {{", line, column))
    return TAG.sub(one, template)
