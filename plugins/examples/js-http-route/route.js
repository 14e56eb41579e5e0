// A standard wasi:http/proxy component in JavaScript: a StarlingMonkey `fetch` event
// handler, built with componentize-js (plugins/examples/build.sh). Nothing here knows
// mcp-prompts; the host tells the handler who is calling through request headers
// (docs/plugins.md, "wasi:http routes"). Paths, relative to the route:
//   /echo            the method, path and request headers as JSON
//   /fetch?url=URL   a GET to URL (outbound, checked against allowed_outbound_hosts)
//   /loop            never returns (the host's deadline ends it)

function json(value, status = 200) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function pathInfo(request) {
  const info = request.headers.get("x-mcp-prompts-path-info");
  return info ?? new URL(request.url).pathname;
}

async function handle(request) {
  const url = new URL(request.url);
  switch (pathInfo(request)) {
    case "/echo": {
      const headers = {};
      for (const [k, v] of request.headers) headers[k] = v;
      return json({
        method: request.method,
        path: url.pathname + url.search,
        headers,
        runtime: "starlingmonkey",
      });
    }
    case "/fetch": {
      try {
        const r = await fetch(url.searchParams.get("url"));
        return json({ status: r.status, body: await r.text() });
      } catch (e) {
        return json({ error: String(e) }, 502);
      }
    }
    case "/loop": {
      let i = 0;
      for (;;) i++;
    }
    default:
      return new Response("no such path\n", { status: 404 });
  }
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
