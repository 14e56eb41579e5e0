#!/usr/bin/env python3
"""Load driver of scripts/soak.sh (stdlib only): mixed REST and MCP load against two
servers on the same moto data, a ledger of every acknowledged write, and the final
verification against the store.

  soak_load.py run    --urls U1,U2 --token T --seconds N --ledger FILE --epoch-file F
  soak_load.py verify --url U --token T --ledger FILE --epoch-file F

Writes are acknowledged by 201 (create) or 200 (update) with the version in the body.
A write whose outcome is unknown (transport error, 5xx) retires its prompt id: the store
may hold it or not, so the verifier accepts either for that one write. The epoch file
holds the number of moto restarts so far: moto keeps its data in memory, so writes
acknowledged before a restart are gone with it and are reported, not verified.
"""

import argparse
import collections
import http.client
import json
import random
import ssl
import sys
import threading
import time
import urllib.parse

CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


class Client:
    """One keep-alive connection per server, reopened after a transport error."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.tls = u.hostname, u.port, u.scheme == "https"
        self.conn = None

    def request(self, method, path, body=None, headers=None, timeout=15):
        h = {"content-type": "application/json"}
        h.update(headers or {})
        data = None if body is None else json.dumps(body).encode()
        try:
            if self.conn is None:
                if self.tls:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=CTX)
                else:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
            raw = r.read()
            if r.getheader("connection", "").lower() == "close":
                self.close()
            return r.status, raw, dict((k.lower(), v) for k, v in r.getheaders())
        except (OSError, http.client.HTTPException) as e:
            self.close()
            return None, type(e).__name__, {}

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()

    def add(self, op, status, raw=b""):
        """Counts by operation and class: status (with the problem type or JSON-RPC error
        code of an error) or `transport:<exception>`; backs off after a 503."""
        if status is None:
            key = f"{op} transport:{raw}"
        else:
            key = f"{op} {status}"
            body = parse(raw) if status >= 400 or op.startswith("mcp") else None
            if isinstance(body, dict):
                if isinstance(body.get("type"), str):
                    key += " " + body["type"].rsplit("/", 1)[-1]
                elif isinstance(body.get("error"), dict):
                    key += f" rpc:{body['error'].get('code')}"
        with self.lock:
            self.counts[key] += 1
        if status == 503 or status is None:
            time.sleep(0.2)


def read_epoch(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def parse(raw):
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return None


def writer(wid, urls, token, deadline, stats, ledger, lock, epoch_file):
    auth = {"authorization": f"Bearer {token}"}
    clients = [Client(u) for u in urls]
    rnd = random.Random(wid)
    n = 0
    while time.time() < deadline:
        n += 1
        pid = f"soak-{wid}-{n}"
        c = clients[rnd.randrange(len(clients))]
        content = f"create {pid} {{{{name}}}}"
        epoch = read_epoch(epoch_file)
        st, raw, _ = c.request("POST", "/v1/prompts", {
            "id": pid, "name": f"Soak {pid}", "description": "soak", "content": content,
            "isTemplate": True, "tags": ["soak"], "variables": [],
        }, auth)
        stats.add("create", st, raw)
        if st != 201:
            with lock:
                ledger.append({"id": pid, "version": None, "content": content, "acked": False, "epoch": epoch})
            continue
        v = (parse(raw) or {}).get("version", 1)
        with lock:
            ledger.append({"id": pid, "version": v, "content": content, "acked": True, "epoch": epoch})
        for u in range(rnd.randrange(1, 6)):
            if time.time() >= deadline:
                break
            c = clients[rnd.randrange(len(clients))]
            st, raw, _ = c.request("GET", f"/v1/prompts/{pid}", None, auth)
            stats.add("get", st, raw)
            st, raw, _ = c.request("POST", f"/v1/prompts/{pid}/apply", {"variables": {"name": "Ada"}}, auth)
            stats.add("apply", st, raw)
            content = f"update {u} of {pid} {{{{name}}}}"
            epoch = read_epoch(epoch_file)
            st, raw, _ = c.request("PUT", f"/v1/prompts/{pid}", {"content": content}, auth)
            stats.add("update", st, raw)
            if st == 200:
                v = (parse(raw) or {}).get("version")
                with lock:
                    ledger.append({"id": pid, "version": v, "content": content, "acked": True, "epoch": epoch})
            else:
                # Outcome unknown on a transport error or 5xx: retire the id.
                with lock:
                    ledger.append({"id": pid, "version": None, "content": content, "acked": False, "epoch": epoch})
                break


def mcp_headers(method, name=None, version="2026-07-28"):
    h = {"accept": "application/json, text/event-stream", "mcp-protocol-version": version, "mcp-method": method}
    if name:
        h["mcp-name"] = name
    return h


def mcp_reader(rid, urls, token, deadline, stats):
    rnd = random.Random(1000 + rid)
    clients = [Client(u) for u in urls]
    auth = {"authorization": f"Bearer {token}"}
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    sessions = {}
    while time.time() < deadline:
        i = rnd.randrange(len(clients))
        c = clients[i]
        name = f"soak-{rnd.randrange(4)}-{rnd.randrange(1, 20)}"
        if rnd.random() < 0.6:
            # Stateless 2026-07-28 prompts/get.
            body = {"jsonrpc": "2.0", "id": 1, "method": "prompts/get",
                    "params": {"name": name, "arguments": {"name": "Ada"}, "_meta": meta}}
            h = dict(auth, **mcp_headers("prompts/get", name))
            st, raw, _ = c.request("POST", "/mcp", body, h)
            stats.add("mcp-stateless", st, raw)
        else:
            # A 2025-06-18 session: initialize once per server, then prompts/list.
            sid = sessions.get(i)
            if sid is None:
                body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "soak", "version": "1"}}}
                st, raw, hd = c.request("POST", "/mcp", body, dict(auth, accept="application/json, text/event-stream"))
                stats.add("mcp-initialize", st, raw)
                if st == 200 and "mcp-session-id" in hd:
                    sid = hd["mcp-session-id"]
                    sessions[i] = sid
                    c.request("POST", "/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"},
                              dict(auth, **{"accept": "application/json, text/event-stream",
                                            "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}))
                continue
            body = {"jsonrpc": "2.0", "id": 2, "method": "prompts/list", "params": {}}
            h = dict(auth, **{"accept": "application/json, text/event-stream",
                              "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"})
            st, raw, _ = c.request("POST", "/mcp", body, h)
            stats.add("mcp-session", st, raw)
            if st != 200:
                sessions.pop(i, None)


def hostile(urls, deadline, stats):
    rnd = random.Random(7)
    clients = [Client(u) for u in urls]
    while time.time() < deadline:
        what = rnd.choice(["ok", "loop", "trap", "oom", "steal", "scratch"])
        c = clients[rnd.randrange(len(clients))]
        st, raw, _ = c.request("GET", f"/v1/hostile/{what}", timeout=20)
        stats.add(f"hostile-{what}", st, raw)
        # Health stays answered beside the hostile calls.
        st, raw, _ = c.request("GET", "/health", timeout=20)
        stats.add("health", st, raw)
        time.sleep(0.5)


def run(a):
    urls = a.urls.split(",")
    deadline = time.time() + a.seconds
    stats, ledger, lock = Stats(), [], threading.Lock()
    threads = [threading.Thread(target=writer, args=(w, urls, a.token, deadline, stats, ledger, lock, a.epoch_file))
               for w in range(a.writers)]
    threads += [threading.Thread(target=mcp_reader, args=(r, urls, a.token, deadline, stats)) for r in range(a.readers)]
    threads.append(threading.Thread(target=hostile, args=(urls, deadline, stats)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(a.ledger, "w") as f:
        json.dump({"writes": ledger, "counts": stats.counts}, f)
    total = sum(stats.counts.values())
    print(f"requests: {total}")
    for k, v in sorted(stats.counts.items()):
        print(f"  {k}: {v}")


def verify(a):
    with open(a.ledger) as f:
        data = json.load(f)
    final_epoch = read_epoch(a.epoch_file)
    c = Client(a.url)
    auth = {"authorization": f"Bearer {a.token}"}
    by_id = collections.OrderedDict()
    for w in data["writes"]:
        by_id.setdefault(w["id"], []).append(w)
    checked = lost = stale = 0
    skipped_epoch = sum(1 for w in data["writes"] if w["acked"] and w["epoch"] != final_epoch)
    problems = []
    for pid, writes in by_id.items():
        acked = [w for w in writes if w["acked"] and w["epoch"] == final_epoch]
        if not acked:
            continue
        # Every acknowledged version is readable with its content.
        for w in acked:
            checked += 1
            st, raw, _ = c.request("GET", f"/v1/prompts/{pid}?version={w['version']}", None, auth)
            body = parse(raw) or {}
            if st != 200 or body.get("content") != w["content"]:
                lost += 1
                problems.append(f"{pid} v{w['version']}: {st} {str(body.get('content'))[:60]!r}")
        # The current version is the last acknowledged one, or the one unknown write after it.
        last = acked[-1]
        unknown = [w for w in writes if not w["acked"] and writes.index(w) > writes.index(last)]
        st, raw, _ = c.request("GET", f"/v1/prompts/{pid}", None, auth)
        body = parse(raw) or {}
        ok = st == 200 and (
            (body.get("version") == last["version"] and body.get("content") == last["content"])
            or (unknown and body.get("version") == last["version"] + 1 and body.get("content") == unknown[0]["content"]))
        if not ok:
            stale += 1
            problems.append(f"{pid} current: {st} v{body.get('version')} after acked v{last['version']}")
    print(f"acknowledged writes verified: {checked}")
    print(f"acknowledged writes before the last moto restart (moto's memory, not verified): {skipped_epoch}")
    print(f"unknown-outcome writes: {sum(1 for w in data['writes'] if not w['acked'])}")
    print(f"acknowledged writes lost: {lost}")
    print(f"prompts whose current version is not the last acknowledged one: {stale}")
    for p in problems[:20]:
        print(f"  {p}")
    return 0 if lost == 0 and stale == 0 else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--urls", required=True)
    r.add_argument("--token", required=True)
    r.add_argument("--seconds", type=int, default=600)
    r.add_argument("--writers", type=int, default=4)
    r.add_argument("--readers", type=int, default=2)
    r.add_argument("--ledger", required=True)
    r.add_argument("--epoch-file", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--url", required=True)
    v.add_argument("--token", required=True)
    v.add_argument("--ledger", required=True)
    v.add_argument("--epoch-file", required=True)
    a = p.parse_args()
    if a.cmd == "run":
        run(a)
        return 0
    return verify(a)


if __name__ == "__main__":
    sys.exit(main())
