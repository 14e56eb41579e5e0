"""Drives /mcp with the official MCP Python SDK (PyPI `mcp`), for tests/mcp_http.rs.

Usage: mcp_python_client.py URL TOKEN CA_FILE MODE [PROMPT [ARGS_JSON]]
MODE: "legacy" (initialize handshake, the SDK's newest handshake revision),
"legacy@REVISION" (the handshake offering an older revision, as older SDK releases do:
the SDK's offered version is pinned for this process) or "2026-07-28" (server/discover,
stateless).
With PROMPT (for tests/multimodal.rs), only `prompts/get` of it with ARGS_JSON, printing
the messages as the SDK parsed them (its pydantic models, dumped by alias).
Prints one JSON object with what the client saw; exits non-zero on any failure.
"""

import asyncio
import json
import ssl
import sys

import httpx2
import mcp.client.session
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, cafile: str, mode: str, prompt=None, args="{}") -> None:
    if mode.startswith("legacy@"):
        mode, offered = mode.split("@", 1)
        mcp.client.session.LATEST_HANDSHAKE_VERSION = offered
    ctx = ssl.create_default_context(cafile=cafile)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, verify=ctx, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            out = {"protocol": c.protocol_version}
            if prompt is not None:
                got = await c.get_prompt(prompt, json.loads(args))
                out["messages"] = [
                    m.model_dump(mode="json", by_alias=True, exclude_none=True) for m in got.messages
                ]
                print(json.dumps(out))
                return
            names, cursor = [], None
            while True:
                page = await c.list_prompts(cursor=cursor) if cursor else await c.list_prompts()
                names += [p.name for p in page.prompts]
                cursor = page.next_cursor
                if not cursor:
                    break
            out["prompts"] = sorted(names)
            got = await c.get_prompt("greet", {"name": "Py"})
            out["get"] = {"role": got.messages[0].role, "text": got.messages[0].content.text}
            try:
                await c.get_prompt("greet", {})
                out["missing"] = None
            except Exception as e:  # the SDK raises MCPError
                out["missing"] = str(e)
            tools = await c.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            r = await c.call_tool("apply_template", {"id": "greet", "variables": {"name": "Z"}})
            out["apply"] = {"isError": r.is_error, "structured": r.structured_content}
            r = await c.call_tool("get_prompt", {"id": "absent"})
            out["absent"] = {"isError": r.is_error, "text": r.content[0].text}
            uris, cursor = [], None
            while True:
                res = await c.list_resources(cursor=cursor) if cursor else await c.list_resources()
                uris += [str(x.uri) for x in res.resources]
                cursor = res.next_cursor
                if not cursor:
                    break
            out["resources"] = sorted(uris)
            read = await c.read_resource("prompt://greet")
            out["read"] = json.loads(read.contents[0].text)["id"]
            print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
