"""@NAME@: an access policy. Anyone may list, read and render; creating, updating and
deleting prompts needs a signed-in caller with the configured scope
(`[plugins.@NAME@.config] scope`, default `prompts:write`).

Plain Python over the SDK's helpers, unit-tested natively (test_logic.py)."""

from mcp_prompts_plugin import allow, allow_with, deny, deny_with_scopes

DEFAULT_SCOPE = "prompts:write"
READS = ("read", "list", "render")
WRITES = ("create", "update", "delete")


def decide(action, scopes, scope=DEFAULT_SCOPE):
    """The decision for `action` by a caller with `scopes` (None: anonymous)."""
    if action in READS:
        return allow()
    if action not in WRITES:
        # The host and the policy disagree on the vocabulary: refuse rather than guess.
        return deny(403, f"unknown action '{action}'")
    if scopes is None:
        return deny(401, "sign in to change prompts")
    if scope in scopes:
        return allow_with({"x-policy": "@NAME@"})
    # Naming the scope makes the host answer with an insufficient_scope challenge.
    return deny_with_scopes(403, f"this needs the {scope} scope", [scope])
