import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as logic from '../src/logic.js';

/** In memory, with the host's version rules and the bindings' value shapes. */
function memKv() {
  const map = new Map();
  return {
    get: (_ns, key) => (map.has(key) ? { key, ...map.get(key) } : undefined),
    put(_ns, key, value, p) {
      const cur = map.get(key)?.version;
      const ok = p.tag === 'none' || (p.tag === 'absent' ? cur === undefined : cur === p.val);
      if (!ok) throw { payload: { tag: 'conflict', val: key } };
      const version = (cur ?? 0n) + 1n;
      map.set(key, { value, version });
      return version;
    },
    delete: (_ns, key) => map.delete(key),
    query: (_ns, prefix) => ({
      entries: [...map.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => ({ key: k, ...map.get(k) })),
      nextCursor: undefined,
    }),
  };
}

test('create, get, update, delete', () => {
  const kv = memKv();
  const doc = JSON.parse(logic.create(kv, 'p', '{"id": "hi", "content": "Hi {{who}}"}'));
  assert.deepEqual([doc.version, doc.name], [1, 'hi']);
  assert.throws(() => logic.create(kv, 'p', '{"id": "hi", "content": "x"}'), (e) => e.tag === 'conflict');
  assert.throws(() => logic.create(kv, 'p', '{"id": "Hi!"}'), (e) => e.tag === 'invalid' && e.val[0].field === 'id');
  assert.equal(JSON.parse(logic.update(kv, 'p', 'hi', '{"id": "hi", "content": "Hello"}', 1n)).version, 2);
  assert.throws(
    () => logic.update(kv, 'p', 'hi', '{"id": "hi", "content": "x"}', 1n),
    (e) => e.tag === 'precondition-failed',
  );
  assert.equal(JSON.parse(logic.update(kv, 'p', 'hi', '{"id": "hi", "content": "Hey"}')).version, 3);
  assert.match(logic.get(kv, 'p', 'hi'), /Hey/);
  assert.equal(JSON.parse(logic.listPage(kv, 'p', undefined, 20).promptsJson).length, 1);
  logic.remove(kv, 'p', 'hi');
  assert.throws(() => logic.remove(kv, 'p', 'hi'), (e) => e.tag === 'not-found');
});
