import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SCOPE, decide } from '../src/logic.js';

test('reads are open', () => {
  for (const action of ['read', 'list', 'render']) assert.equal(decide(action).tag, 'allow');
});

test('writes need the scope', () => {
  assert.equal(decide('create').val.status, 401);
  const refused = decide('update', ['other']);
  assert.equal(refused.val.status, 403);
  assert.deepEqual(refused.val.requiredScopes, [DEFAULT_SCOPE]);
  assert.deepEqual(decide('delete', [DEFAULT_SCOPE]), {
    tag: 'allow-with',
    val: [{ name: 'x-policy', value: '@NAME@' }],
  });
  assert.equal(decide('admin', [DEFAULT_SCOPE]).tag, 'deny');
});
