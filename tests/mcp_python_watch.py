"""Subscribes with the official MCP Python SDK (PyPI `mcp`) and waits for notifications,
for tests/mcp_sdk_cross_host.rs.

Usage: mcp_python_watch.py URL TOKEN CA_FILE PROMPT_ID
Initialises a session (the SDK's handshake revision), gets the prompt, subscribes to
prompt://PROMPT_ID, prints `READY {...}`, then waits for notifications/prompts/list_changed
and notifications/resources/updated (which arrive over the session's GET stream when the
prompt changes anywhere), prints `NOTIFIED {...}` and exits 0; exits 1 after 30 s.
"""

import asyncio
import json
import ssl
import sys

import httpx2
from mcp import types
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, cafile: str, prompt_id: str) -> None:
    got = {"listChanged": False, "updated": None}
    done = asyncio.Event()

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.PromptListChangedNotification):
            got["listChanged"] = True
        elif isinstance(root, types.ResourceUpdatedNotification):
            got["updated"] = str(root.params.uri)
        if got["listChanged"] and got["updated"]:
            done.set()

    ctx = ssl.create_default_context(cafile=cafile)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, verify=ctx, timeout=60) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", message_handler=on_message) as c:
            got_prompt = await c.get_prompt(prompt_id, {})
            await c.subscribe_resource(f"prompt://{prompt_id}")
            # The transport opens the GET stream after initialisation; give it a moment.
            await asyncio.sleep(0.5)
            ready = {"protocol": c.protocol_version, "messages": len(got_prompt.messages)}
            print("READY " + json.dumps(ready), flush=True)
            await asyncio.wait_for(done.wait(), timeout=30)
            print("NOTIFIED " + json.dumps(got), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
