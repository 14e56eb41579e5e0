// @NAME@: a small prompt handler. Prompts are JSON documents in one kv namespace
// ([plugins.@NAME@.config] namespace), one entry per prompt, keeping only the newest
// version. Labels other than `latest`, past versions and imports are not supported.
//
// Plain JavaScript over the SDK's kv helpers; `kv` is the imported module (or, in the
// tests, anything with the same functions). Errors are thrown as the WIT
// `handler-error` variant, which is how an export returns a result error.

import { errorValue, kvGetJson, kvPutJson, kvUpdateWithRetry } from './mcp-prompts-plugin.js';

const PREFIX = 'prompt/';
const ID = /^[a-z0-9-]{1,64}$/;

const fail = (tag, val) => ({ tag, val });
const invalid = (field, message) => fail('invalid', [{ field, message }]);

/** Runs a kv call; a backend outage becomes `unavailable`, a conflict `onConflict()`. */
function kvCall(f, onConflict) {
  try {
    return f();
  } catch (thrown) {
    const e = errorValue(thrown);
    if (e?.tag === 'unavailable') throw fail('unavailable', e.val);
    if (e?.tag === 'conflict' && onConflict) throw onConflict();
    throw thrown;
  }
}

export function fields(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid('', 'the prompt must be a JSON object');
  }
  if (typeof doc.id !== 'string' || !ID.test(doc.id)) throw invalid('id', "1-64 of a-z, 0-9 and '-'");
  if (typeof doc.content !== 'string') throw invalid('content', 'required, a string');
  return {
    name: typeof doc.name === 'string' ? doc.name : doc.id,
    id: doc.id,
    description: typeof doc.description === 'string' ? doc.description : '',
    content: doc.content,
  };
}

// Versions are BigInts in WIT bindings and plain numbers in prompt JSON.
const withVersion = (doc, version) => JSON.stringify({ ...doc, version: Number(version) });

export function create(kv, ns, text) {
  const doc = fields(text);
  const version = kvCall(
    () => kvPutJson(kv, ns, PREFIX + doc.id, doc, { tag: 'absent' }),
    () => fail('conflict', `prompt '${doc.id}' already exists`),
  );
  return withVersion(doc, version);
}

export function get(kv, ns, id, version) {
  const found = kvCall(() => kvGetJson(kv, ns, PREFIX + id));
  if (found === undefined) throw fail('not-found', `prompt '${id}' not found`);
  if (version !== undefined && BigInt(version) !== BigInt(found.version)) {
    throw fail('not-found', `prompt '${id}' has no version ${version} (only the newest is kept)`);
  }
  return withVersion(found.value, found.version);
}

export function update(kv, ns, id, text, expected) {
  const doc = { ...fields(text), id };
  if (expected === undefined) {
    const r = kvCall(() =>
      kvUpdateWithRetry(kv, ns, PREFIX + id, (old) => {
        if (old === undefined) throw fail('not-found', `prompt '${id}' not found`);
        return doc;
      }),
    );
    return withVersion(r.value, r.version);
  }
  // One conditional write: the caller's expected version is the precondition.
  get(kv, ns, id);
  const version = kvCall(
    () => kvPutJson(kv, ns, PREFIX + id, doc, { tag: 'version', val: BigInt(expected) }),
    () => fail('precondition-failed', `prompt '${id}' is not at version ${expected}`),
  );
  return withVersion(doc, version);
}

export function remove(kv, ns, id) {
  if (!kvCall(() => kv.delete(ns, PREFIX + id, { tag: 'none' }))) {
    throw fail('not-found', `prompt '${id}' not found`);
  }
}

export function listPage(kv, ns, cursor, limit) {
  const page = kvCall(() => kv.query(ns, PREFIX, cursor, Math.max(1, Math.min(limit, 100))));
  const docs = page.entries.map((e) => ({
    ...JSON.parse(new TextDecoder().decode(e.value)),
    version: Number(e.version),
  }));
  return { promptsJson: JSON.stringify(docs), nextCursor: page.nextCursor };
}
