// node --test sdk/js: the helpers against an in-memory kv with the host's version rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from './mcp-prompts-plugin.js';

function memKv({ interfere = 0 } = {}) {
  const map = new Map();
  const state = { puts: 0, interfere };
  return {
    state,
    get: (_ns, key) => (map.has(key) ? { key, ...map.get(key) } : undefined),
    put(_ns, key, value, p) {
      state.puts++;
      if (state.interfere > 0) {
        state.interfere--;
        const old = map.get(key);
        map.set(key, { value: new TextEncoder().encode('100'), version: (old?.version ?? 0n) + 1n });
      }
      const cur = map.get(key)?.version;
      const ok = p.tag === 'none' || (p.tag === 'absent' ? cur === undefined : cur === p.val);
      if (!ok) throw { payload: { tag: 'conflict', val: key } };
      const version = (cur ?? 0n) + 1n;
      map.set(key, { value, version });
      return version;
    },
  };
}

test('decisions', () => {
  assert.deepEqual(sdk.allow(), { tag: 'allow' });
  assert.deepEqual(sdk.allowWith({ 'x-a': 1 }), { tag: 'allow-with', val: [{ name: 'x-a', value: '1' }] });
  assert.deepEqual(sdk.denyWithScopes(403, 'no', ['w']).val.requiredScopes, ['w']);
  assert.equal(sdk.deny(401, 'sign in').val.status, 401);
  assert.ok(!sdk.isAllowed(sdk.deny(429, 'slow down')));
});

test('update retries lost races', () => {
  const kv = memKv();
  assert.deepEqual(sdk.kvUpdateWithRetry(kv, 'n', 'c', (old) => (old ?? 0) + 1), { value: 1, version: 1n });
  kv.state.interfere = 2;
  const before = kv.state.puts;
  assert.equal(sdk.kvUpdateWithRetry(kv, 'n', 'c', (old) => (old ?? 0) + 1).value, 101);
  assert.equal(kv.state.puts - before, 3);
  kv.state.interfere = Infinity;
  assert.throws(() => sdk.kvUpdateWithRetry(kv, 'n', 'c', (old) => old + 1), /8 attempts/);
});
