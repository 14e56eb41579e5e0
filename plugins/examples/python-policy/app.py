"""A policy plugin in Python: anyone may list, read and render; changes need a scope.

Built with componentize-py against the `policy` world of wit/plugin.wit (see build.sh and
docs/plugins.md#python). The same policy as the Rust example in docs/plugins.md.
"""

from wit_world import exports
from wit_world.exports.access_policy import (
    Decision,
    Decision_Allow,
    Decision_AllowWith,
    Decision_Deny,
    Denial,
    Header,
    RequestInfo,
)
from wit_world.imports import config, log

READ_ACTIONS = ("list", "read", "render")


class AccessPolicy(exports.AccessPolicy):
    def decide(self, request: RequestInfo) -> Decision:
        if request.action in READ_ACTIONS:
            return Decision_Allow()
        if request.principal is None:
            return Decision_Deny(Denial(401, "sign in to change prompts", [], []))
        # [plugins.NAME.config] scope = "..."; strings come back as they are.
        needed = config.get("scope") or "prompts:admin"
        if needed in request.principal.scopes:
            return Decision_AllowWith([Header("x-write-scope", needed), Header("x-policy-lang", "python")])
        log.log(
            log.Level.INFO,
            f"{request.principal.subject} may not {request.action} on {request.route}",
        )
        # Naming the scope makes the host answer with an insufficient_scope challenge.
        return Decision_Deny(Denial(403, f"this needs the {needed} scope", [], [needed]))
