// Guest helpers for mcp-prompts plugins written in JavaScript (componentize-js).
//
// WIT values in componentize-js are plain objects: a variant is `{ tag, val }`, a record
// an object with camelCase fields, `u64` a BigInt, `list<u8>` a Uint8Array, `option<T>`
// a value or `undefined`. An export returns a WIT `result` error by throwing the error
// value; an import's error arrives as a thrown object whose `payload` is the value.
// These helpers import nothing from the host, so plugin logic that uses them runs under
// `node --test`; the kv helpers take the imported `kv` module as their first argument.

/** Attempts `kvUpdateWithRetry` makes before giving up. */
export const MAX_ATTEMPTS = 8;

const headerList = (headers) => {
  const pairs = Array.isArray(headers)
    ? headers
    : headers instanceof Map
      ? [...headers]
      : Object.entries(headers);
  return pairs.map(([name, value]) => ({ name: String(name), value: String(value) }));
};

/** Let the request through. */
export const allow = () => ({ tag: 'allow' });

/** Let the request through and add headers (an object, a Map or [name, value] pairs). */
export const allowWith = (headers) => ({ tag: 'allow-with', val: headerList(headers) });

/** Refuse with `status` (401, 403 or 429) and a reason the client sees. */
export const deny = (status, reason, headers = []) => ({
  tag: 'deny',
  val: { status, reason, headers: headerList(headers), requiredScopes: [] },
});

/** Refuse because a scope is missing: the host answers with an RFC 6750
 * insufficient_scope challenge naming `scopes`. */
export const denyWithScopes = (status, reason, scopes) => ({
  tag: 'deny',
  val: { status, reason, headers: [], requiredScopes: [...scopes] },
});

export const isAllowed = (decision) => decision.tag === 'allow' || decision.tag === 'allow-with';

/** The WIT error value inside something an import threw. */
export const errorValue = (thrown) => (thrown && 'payload' in thrown ? thrown.payload : thrown);

/** `{ value, version }` of `key` decoded as JSON, or undefined when it does not exist. */
export function kvGetJson(kv, namespace, key) {
  const entry = kv.get(namespace, key);
  if (entry === undefined) return undefined;
  return { value: JSON.parse(new TextDecoder().decode(entry.value)), version: entry.version };
}

/** Writes `value` as JSON; returns the new version (a BigInt). */
export function kvPutJson(kv, namespace, key, value, precondition = { tag: 'none' }) {
  return kv.put(namespace, key, new TextEncoder().encode(JSON.stringify(value)), precondition);
}

/** Read-modify-write of one JSON entry: `update(old)` (old undefined when the key does
 * not exist) returns the value to store; the write is conditional on the version read.
 * On a conflict the step is redone, at most MAX_ATTEMPTS times, so `update` must not
 * have side effects. Returns `{ value, version }`. */
export function kvUpdateWithRetry(kv, namespace, key, update) {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = kvGetJson(kv, namespace, key);
    const precondition =
      current === undefined ? { tag: 'absent' } : { tag: 'version', val: current.version };
    const value = update(current?.value);
    try {
      return { value, version: kvPutJson(kv, namespace, key, value, precondition) };
    } catch (thrown) {
      if (errorValue(thrown)?.tag === 'conflict') continue;
      throw thrown;
    }
  }
  throw new Error(`'${key}' kept changing under ${MAX_ATTEMPTS} attempts; try again`);
}
