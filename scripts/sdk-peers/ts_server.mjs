// The official MCP TypeScript SDK server (npm @modelcontextprotocol/sdk) that
// scripts/bench_sdk.sh measures ours against: the SDK's documented stateless Streamable
// HTTP pattern (a new McpServer and StreamableHTTPServerTransport with
// `sessionIdGenerator: undefined` per request, on express), JSON responses, serving every
// prompt file of a catalog folder rendered with Handlebars (npm handlebars). Plain HTTP on
// 127.0.0.1, no auth, as the SDK docs show.
//
//   node ts_server.mjs CATALOG_DIR [PORT]
//
// Prints `listening on http://127.0.0.1:PORT/mcp` once it accepts connections.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import express from "express";
import Handlebars from "handlebars";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

const [folder, portArg] = process.argv.slice(2);
if (!folder) {
  console.error("usage: node ts_server.mjs CATALOG_DIR [PORT]");
  process.exit(2);
}

// Parsed and compiled once at start; each request's server only registers them.
const prompts = [];
for (const file of readdirSync(folder).filter((f) => f.endsWith(".json")).sort()) {
  const doc = JSON.parse(readFileSync(join(folder, file), "utf8"));
  if (!doc || typeof doc.id !== "string" || typeof doc.content !== "string") continue;
  const args = {};
  for (const v of doc.variables ?? []) {
    const name = typeof v === "string" ? v : v?.name;
    if (!name) continue;
    const required = typeof v === "object" && v.required;
    args[name] = required ? z.string() : z.string().optional();
  }
  prompts.push({ doc, args, template: Handlebars.compile(doc.content) });
}

function getServer() {
  const server = new McpServer({ name: "bench-ts-peer", version: "1.0.0" });
  for (const { doc, args, template } of prompts) {
    server.registerPrompt(
      doc.id,
      { title: doc.name, description: doc.description ?? "", argsSchema: args },
      (values) => ({
        messages: [{ role: "user", content: { type: "text", text: template(values) } }],
      }),
    );
  }
  return server;
}

const app = express();
app.use(express.json({ limit: "1mb" }));
app.post("/mcp", async (req, res) => {
  const server = getServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (e) {
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: "2.0", error: { code: -32603, message: String(e) }, id: null });
    }
  }
});

const listener = app.listen(Number(portArg ?? 0), "127.0.0.1", () => {
  console.error(`ts peer: ${prompts.length} prompts`);
  console.log(`listening on http://127.0.0.1:${listener.address().port}/mcp`);
});
