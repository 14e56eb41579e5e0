// A renderer plugin in JavaScript: `{{name}}` variables (dotted paths into the JSON
// variables), `{{> partial}}` includes, and the renderer world's error contract
// (docs/plugins.md#template-renderer-renderer-world). Built with componentize-js
// against the `renderer` world of wit/plugin.wit (see package.json and build.sh).

import { log } from 'mcp-prompts:plugin/log@0.2.0';

const MAX_DEPTH = 32;
const MAX_OUTPUT = 4 * 1024 * 1024;
const TAG = /\{\{\s*(>?)\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

function lookup(vars, path) {
  let v = vars;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(part in v)) return undefined;
    v = v[part];
  }
  return v;
}

function expand(source, vars, partials, chain) {
  if (chain.length > MAX_DEPTH) {
    throw { tag: 'failed', val: `partials nest deeper than ${MAX_DEPTH}` };
  }
  return source.replace(TAG, (_, isPartial, name) => {
    if (isPartial) {
      if (chain.includes(name)) {
        throw { tag: 'partial-cycle', val: [...chain.slice(chain.indexOf(name)), name] };
      }
      if (!partials.has(name)) throw { tag: 'missing-partial', val: name };
      return expand(partials.get(name), vars, partials, [...chain, name]);
    }
    const v = lookup(vars, name);
    if (v === undefined || v === null) return '';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

export const templateRenderer = {
  render(request) {
    let vars;
    try {
      vars = JSON.parse(request.variablesJson);
    } catch (e) {
      throw { tag: 'failed', val: `variables are not JSON: ${e.message}` };
    }
    const missing = request.required.filter((n) => lookup(vars, n) == null);
    if (missing.length > 0) throw { tag: 'missing-variables', val: missing };
    const partials = new Map(request.partials.map((p) => [p.name, p.template]));
    const out = expand(request.template, vars, partials, []);
    if (out.length > MAX_OUTPUT) throw { tag: 'failed', val: 'output too large' };
    log('debug', `rendered ${out.length} characters`);
    return out;
  },
};
