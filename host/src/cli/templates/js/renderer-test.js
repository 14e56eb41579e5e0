import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from '../src/logic.js';

test('substitutes variables', () => {
  const vars = '{"who": "Ada", "n": 3, "user": {"city": "Lyon"}}';
  assert.equal(render('Hi {{ who }} ({{n}}) from {{user.city}}{{nope}}!', vars), 'Hi Ada (3) from Lyon!');
});

test('errors', () => {
  assert.throws(() => render('{{a}}', '{}', ['a']), (e) => e.tag === 'missing-variables');
  assert.throws(
    () => render('x\n  {{a', '{}'),
    (e) => e.tag === 'syntax' && e.val.position.line === 2 && e.val.position.column === 3,
  );
  assert.throws(() => render('', '['), (e) => e.tag === 'failed');
});
