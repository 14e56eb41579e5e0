"""The official MCP Python SDK server (PyPI `mcp`) that scripts/bench_sdk.sh measures ours
against: `MCPServer` (mcp 2's FastMCP) in its documented stateless Streamable HTTP mode
with JSON responses, serving every prompt file of a catalog folder and rendering it with
Handlebars (PyPI `pybars3`). Plain HTTP on 127.0.0.1, no auth, as the SDK docs show.

    python3 python_server.py CATALOG_DIR [PORT]

Prints `listening on http://127.0.0.1:PORT/mcp` once the socket listens (uvicorn takes
the connections waiting in its backlog when it starts).
"""

import json
import pathlib
import socket
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from pybars import Compiler


def arguments(doc):
    out = []
    for v in doc.get("variables") or []:
        if isinstance(v, str):
            out.append(PromptArgument(name=v, required=False))
        elif isinstance(v, dict) and "name" in v:
            out.append(
                PromptArgument(name=v["name"], description=v.get("description"), required=bool(v.get("required")))
            )
    return out


def load(server, folder):
    compiler = Compiler()
    n = 0
    for path in sorted(pathlib.Path(folder).glob("*.json")):
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict) or "id" not in doc or "content" not in doc:
            continue
        template = compiler.compile(doc["content"])

        # An async function: the SDK would run a plain one in a worker thread per call.
        async def render(_template=template, **kwargs):
            return _template(kwargs)

        server.add_prompt(
            Prompt(
                name=doc["id"],
                title=doc.get("name"),
                description=doc.get("description") or "",
                arguments=arguments(doc),
                fn=render,
            )
        )
        n += 1
    return n


def main():
    folder = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = MCPServer("bench-python-peer", log_level="WARNING")
    count = load(server, folder)
    app = server.streamable_http_app(stateless_http=True, json_response=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    # Listening before uvicorn starts: early connections wait in the backlog.
    sock.listen(2048)
    print(f"python peer: {count} prompts", file=sys.stderr)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
