// @NAME@: an access policy. Anyone may list, read and render; creating, updating and
// deleting prompts needs a signed-in caller with the configured scope
// ([plugins.@NAME@.config] scope, default prompts:write).
//
// Plain JavaScript over the SDK's helpers (no host imports), so `node --test` runs it.

import { allow, allowWith, deny, denyWithScopes } from './mcp-prompts-plugin.js';

export const DEFAULT_SCOPE = 'prompts:write';
const READS = ['read', 'list', 'render'];
const WRITES = ['create', 'update', 'delete'];

/** The decision for `action` by a caller with `scopes` (undefined: anonymous). */
export function decide(action, scopes, scope = DEFAULT_SCOPE) {
  if (READS.includes(action)) return allow();
  // The host and the policy disagree on the vocabulary: refuse rather than guess.
  if (!WRITES.includes(action)) return deny(403, `unknown action '${action}'`);
  if (scopes === undefined) return deny(401, 'sign in to change prompts');
  if (scopes.includes(scope)) return allowWith({ 'x-policy': '@NAME@' });
  // Naming the scope makes the host answer with an insufficient_scope challenge.
  return denyWithScopes(403, `this needs the ${scope} scope`, [scope]);
}
