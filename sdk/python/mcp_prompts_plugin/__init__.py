"""Guest helpers for mcp-prompts plugins written in Python (componentize-py).

The WIT types are the ones componentize-py generates into the `wit_world` package for
the world being built; these helpers import them when called, so one module serves
every world. Results: a WIT `result` error is raised as `componentize_py_types.Err`,
and an export returns an error by raising `Err(value)` (see `fail`).

    from mcp_prompts_plugin import allow, allow_with, deny, deny_with_scopes
    from mcp_prompts_plugin import kv_get_json, kv_put_json, kv_update_with_retry
"""

import json

# Attempts `kv_update_with_retry` makes before giving up.
MAX_ATTEMPTS = 8


class Contended(Exception):
    """Every attempt of `kv_update_with_retry` lost the race to another writer."""


def _policy():
    from wit_world.exports import access_policy

    return access_policy


def _header_list(headers):
    p = _policy()
    items = headers.items() if isinstance(headers, dict) else headers
    return [p.Header(str(n), str(v)) for n, v in items]


def allow():
    """Let the request through."""
    return _policy().Decision_Allow()


def allow_with(headers):
    """Let the request through and add `headers` (a dict or (name, value) pairs)."""
    return _policy().Decision_AllowWith(_header_list(headers))


def deny(status, reason, headers=()):
    """Refuse with `status` (401, 403 or 429) and a reason the client sees."""
    p = _policy()
    return p.Decision_Deny(p.Denial(status, reason, _header_list(headers), []))


def deny_with_scopes(status, reason, scopes):
    """Refuse because a scope is missing: the host answers with an RFC 6750
    insufficient_scope challenge naming `scopes`."""
    p = _policy()
    return p.Decision_Deny(p.Denial(status, reason, [], list(scopes)))


def is_allowed(decision):
    p = _policy()
    return isinstance(decision, (p.Decision_Allow, p.Decision_AllowWith))


def fail(error):
    """Return `error` from an export whose WIT result type is `result<_, E>`."""
    from componentize_py_types import Err

    raise Err(error)


def _kv():
    from wit_world.imports import kv

    return kv


def kv_get_json(namespace, key, kv=None):
    """(value, version) of `key` decoded as JSON, or None when it does not exist."""
    kv = kv or _kv()
    entry = kv.get(namespace, key)
    if entry is None:
        return None
    return json.loads(bytes(entry.value)), entry.version


def kv_put_json(namespace, key, value, precondition=None, kv=None):
    """Writes `value` as JSON; returns the new version. `precondition` defaults to
    an unconditional write."""
    kv = kv or _kv()
    if precondition is None:
        precondition = kv.Precondition_None_()
    return kv.put(namespace, key, json.dumps(value).encode(), precondition)


def kv_update_with_retry(namespace, key, update, kv=None):
    """Read-modify-write of one JSON entry: `update(old)` (old is None when the key
    does not exist) returns the value to store, and the write is conditional on the
    version read. On a conflict the whole step is redone, at most MAX_ATTEMPTS times;
    `update` may therefore run more than once and must not have side effects.
    Returns (value, version)."""
    from componentize_py_types import Err

    kv = kv or _kv()
    for _ in range(MAX_ATTEMPTS):
        current = kv_get_json(namespace, key, kv)
        if current is None:
            old, precondition = None, kv.Precondition_Absent()
        else:
            old, precondition = current[0], kv.Precondition_Version(current[1])
        new = update(old)
        try:
            return new, kv_put_json(namespace, key, new, precondition, kv)
        except Err as e:
            if isinstance(e.value, kv.KvError_Conflict):
                continue
            raise
    raise Contended(f"{key!r} kept changing under {MAX_ATTEMPTS} attempts; try again")


def _log(level, message):
    from wit_world.imports import log

    log.log(getattr(log.Level, level), message)


def debug(message):
    _log("DEBUG", message)


def info(message):
    _log("INFO", message)


def warn(message):
    _log("WARN", message)


def error(message):
    _log("ERROR", message)
