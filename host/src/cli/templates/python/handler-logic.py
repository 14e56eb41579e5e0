"""@NAME@: a small prompt handler. Prompts are JSON documents in one kv namespace
(`[plugins.@NAME@.config] namespace`), one entry per prompt, keeping only the newest
version. Labels other than `latest`, past versions and imports are not supported.

Plain Python over the SDK's kv helpers; `kv` is the imported module (or, in the tests,
anything with the same functions)."""

import json
import re

from componentize_py_types import Err
from mcp_prompts_plugin import kv_get_json, kv_put_json, kv_update_with_retry

PREFIX = "prompt/"
ID = re.compile(r"[a-z0-9-]{1,64}\Z")


class Failure(Exception):
    """`kind`: a WIT handler-error case (not-found, invalid, conflict,
    precondition-failed, unavailable, internal); `field` for invalid."""

    def __init__(self, kind, message, field=""):
        super().__init__(kind, message)
        self.kind, self.message, self.field = kind, message, field


def _kv_call(f, *args):
    try:
        return f(*args)
    except Err as e:
        if type(e.value).__name__ == "KvError_Unavailable":
            raise Failure("unavailable", e.value.value)
        raise


def fields(text):
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise Failure("invalid", "the prompt must be a JSON object")
    pid, content = doc.get("id"), doc.get("content")
    if not isinstance(pid, str) or not ID.match(pid):
        raise Failure("invalid", "1-64 of a-z, 0-9 and '-'", "id")
    if not isinstance(content, str):
        raise Failure("invalid", "required, a string", "content")
    return {
        "name": doc.get("name") if isinstance(doc.get("name"), str) else pid,
        "id": pid,
        "description": doc.get("description") if isinstance(doc.get("description"), str) else "",
        "content": content,
    }


def _with_version(doc, version):
    return json.dumps({**doc, "version": version})


def create(kv, ns, text):
    doc = fields(text)
    try:
        version = _kv_call(kv_put_json, ns, PREFIX + doc["id"], doc, kv.Precondition_Absent(), kv)
    except Err as e:
        if type(e.value).__name__ == "KvError_Conflict":
            raise Failure("conflict", f"prompt '{doc['id']}' already exists")
        raise
    return _with_version(doc, version)


def get(kv, ns, pid, version=None):
    found = _kv_call(kv_get_json, ns, PREFIX + pid, kv)
    if found is None:
        raise Failure("not-found", f"prompt '{pid}' not found")
    if version is not None and version != found[1]:
        raise Failure("not-found", f"prompt '{pid}' has no version {version} (only the newest is kept)")
    return _with_version(found[0], found[1])


def update(kv, ns, pid, text, expected=None):
    doc = {**fields(text), "id": pid}
    if expected is None:

        def replace(old):
            if old is None:
                raise Failure("not-found", f"prompt '{pid}' not found")
            return doc

        value, version = _kv_call(kv_update_with_retry, ns, PREFIX + pid, replace, kv)
        return _with_version(value, version)
    # One conditional write: the caller's expected version is the precondition.
    get(kv, ns, pid)
    try:
        version = _kv_call(kv_put_json, ns, PREFIX + pid, doc, kv.Precondition_Version(expected), kv)
    except Err as e:
        if type(e.value).__name__ == "KvError_Conflict":
            raise Failure("precondition-failed", f"prompt '{pid}' is not at version {expected}")
        raise
    return _with_version(doc, version)


def delete(kv, ns, pid):
    if not _kv_call(kv.delete, ns, PREFIX + pid, kv.Precondition_None_()):
        raise Failure("not-found", f"prompt '{pid}' not found")


def list_page(kv, ns, cursor, limit):
    page = _kv_call(kv.query, ns, PREFIX, cursor, max(1, min(limit, 100)))
    docs = [{**json.loads(bytes(e.value)), "version": e.version} for e in page.entries]
    return json.dumps(docs), page.next_cursor
