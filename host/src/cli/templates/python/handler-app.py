"""Binding of logic.py to the WIT world `prompt-handler` (componentize-py)."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import prompts as p
from wit_world.imports import config, kv, rendering, render, types

import logic
from mcp_prompts_plugin import fail

ERRORS = {
    "not-found": p.HandlerError_NotFound,
    "conflict": p.HandlerError_Conflict,
    "precondition-failed": p.HandlerError_PreconditionFailed,
    "unavailable": p.HandlerError_Unavailable,
    "internal": p.HandlerError_Internal,
}


def ns():
    return config.get("namespace") or "@NAME@"


def call(f, *args):
    """Runs a logic function, turning its Failure into the WIT handler-error."""
    try:
        return f(*args)
    except logic.Failure as e:
        if e.kind == "invalid":
            fail(p.HandlerError_Invalid([types.FieldError(e.field, e.message)]))
        fail(ERRORS.get(e.kind, p.HandlerError_Internal)(e.message))


def version_of(at):
    if isinstance(at, p.Selector_Version):
        return at.value
    if isinstance(at, p.Selector_Labels) and "latest" not in at.value:
        fail(p.HandlerError_NotFound(f"none of the labels {at.value} exists (only `latest`)"))
    return None


def unsupported(what):
    fail(p.HandlerError_Forbidden(f"@NAME@ does not support {what}"))


class Prompts(exports.Prompts):
    def list(self, ctx, query):
        docs, cursor = call(logic.list_page, kv, ns(), query.cursor, query.limit)
        return p.PromptPage(docs, cursor)

    def get(self, ctx, id, at):
        label = "latest" if isinstance(at, p.Selector_Labels) else None
        return p.Resolved(call(logic.get, kv, ns(), id, version_of(at)), label)

    def create(self, ctx, prompt_json):
        return call(logic.create, kv, ns(), prompt_json)

    def update(self, ctx, id, prompt_json, expected_version):
        return call(logic.update, kv, ns(), id, prompt_json, expected_version)

    def delete(self, ctx, id):
        call(logic.delete, kv, ns(), id)

    def upsert(self, ctx, prompt_json):
        unsupported("imports (upsert)")

    def versions(self, ctx, id):
        # Only the newest version is kept.
        return "[" + call(logic.get, kv, ns(), id) + "]"

    def apply(self, ctx, id, at, variables_json):
        doc = json.loads(call(logic.get, kv, ns(), id, version_of(at)))
        try:
            variables = json.loads(variables_json)
        except ValueError:
            variables = None
        if not isinstance(variables, dict):
            fail(p.HandlerError_Invalid([types.FieldError("variables", "must be a JSON object")]))
        try:
            content = render.render(rendering.RenderRequest(doc["content"], variables_json, [], []))
        except Err as e:
            if isinstance(e.value, rendering.RenderError_MissingVariables):
                fail(p.HandlerError_MissingVariables(e.value.value))
            fail(p.HandlerError_RenderFailed(str(e.value)))
        description = doc.get("description")
        description = description if isinstance(description, str) else None
        return p.Applied(content, list(variables), [], None, None, description)

    def delete_version(self, ctx, id, version):
        unsupported("deleting past versions (only the newest is kept)")

    def labels(self, ctx, id):
        unsupported("labels")

    def set_label(self, ctx, id, label, version, expected):
        unsupported("labels")

    def delete_label(self, ctx, id, label, expected):
        unsupported("labels")

    def label_history(self, ctx, id, label, cursor, limit):
        unsupported("labels")
