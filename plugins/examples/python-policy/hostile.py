"""A deliberately hostile Python policy, for tests only (tests/lang_python.rs).

The prompt id of the request picks the misbehaviour: `loop` spins forever, `oom` allocates
until memory runs out, `raise` raises; any other request is allowed. The host must fail
only that request (timeout, plugin-limit, plugin-trap) and keep serving the others.
With `[plugins.NAME.config] fail = "always"` it raises on every call, which
`mcp-prompts check` must report (tests/cli.rs).
"""

from wit_world import exports
from wit_world.exports.access_policy import Decision, Decision_Allow, RequestInfo
from wit_world.imports import config


class AccessPolicy(exports.AccessPolicy):
    def decide(self, request: RequestInfo) -> Decision:
        if config.get("fail") == "always":
            raise RuntimeError("configured to fail every call")
        if request.resource == "loop":
            n = 0
            while True:
                n += 1
        if request.resource == "oom":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if request.resource == "raise":
            raise RuntimeError("hostile policy raised on purpose")
        return Decision_Allow()
