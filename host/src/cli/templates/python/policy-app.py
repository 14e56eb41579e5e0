"""Binding of logic.py to the WIT world `policy` (componentize-py)."""

from wit_world import exports
from wit_world.exports.access_policy import Decision, RequestInfo
from wit_world.imports import config

import mcp_prompts_plugin as sdk
from logic import DEFAULT_SCOPE, decide


class AccessPolicy(exports.AccessPolicy):
    def decide(self, request: RequestInfo) -> Decision:
        # Read per call: an instance lives for one request, and the lookup is cheap.
        scope = config.get("scope") or DEFAULT_SCOPE
        scopes = None if request.principal is None else request.principal.scopes
        decision = decide(request.action, scopes, scope)
        if not sdk.is_allowed(decision):
            sdk.info(f"refused {request.action} on {request.route}")
        return decision
