// Drives /mcp with the official MCP TypeScript SDK client, as tests/mcp_node_client.rs
// asks: node client.mjs URL TOKEN PROMPT_ID. Trusts the test CA via NODE_EXTRA_CA_CERTS.
// Prints one `READY {...}` line once it has listed, read and subscribed, then waits for
// the list_changed and resources/updated notifications a change made elsewhere causes,
// prints `NOTIFIED {...}` and exits 0 (exit 1 on any failure or after 30 s).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  PromptListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const [url, token, promptId] = process.argv.slice(2);
const fail = (e) => {
  console.error(`FAILED ${e && e.stack ? e.stack : e}`);
  process.exit(1);
};
setTimeout(() => fail("timed out waiting for notifications"), 30000).unref();

const client = new Client({ name: "node-sdk-test", version: "1.0.0" });
const got = { listChanged: false, updated: null };
let done;
const notified = new Promise((r) => (done = r));
const check = () => got.listChanged && got.updated && done();
client.setNotificationHandler(PromptListChangedNotificationSchema, () => {
  got.listChanged = true;
  check();
});
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  got.updated = n.params.uri;
  check();
});

try {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const version = transport.protocolVersion;
  const prompts = await client.listPrompts();
  const prompt = await client.getPrompt({ name: promptId, arguments: {} });
  const tools = await client.listTools();
  const called = await client.callTool({ name: "get_prompt", arguments: { id: promptId } });
  const resources = await client.listResources();
  const read = await client.readResource({ uri: `prompt://${promptId}` });
  await client.subscribeResource({ uri: `prompt://${promptId}` });
  // The GET stream is opened by the transport after initialisation; give it a moment.
  await new Promise((r) => setTimeout(r, 500));
  console.log(
    "READY " +
      JSON.stringify({
        version,
        prompts: prompts.prompts.map((p) => p.name),
        messages: prompt.messages.length,
        tools: tools.tools.map((t) => t.name),
        toolError: called.isError ?? false,
        resources: resources.resources.map((r) => r.uri),
        read: read.contents[0].uri,
      }),
  );
  await notified;
  console.log("NOTIFIED " + JSON.stringify(got));
  await client.close();
  process.exit(0);
} catch (e) {
  fail(e);
}
