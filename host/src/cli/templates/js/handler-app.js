// Binding of logic.js to the WIT world `prompt-handler` (componentize-js).

import { get as configGet } from 'mcp-prompts:plugin/config@@WIT_VERSION@';
import * as kv from 'mcp-prompts:plugin/kv@@WIT_VERSION@';
import { render } from 'mcp-prompts:plugin/render@@WIT_VERSION@';
import { errorValue } from './mcp-prompts-plugin.js';
import * as logic from './logic.js';

const ns = () => configGet('namespace') ?? '@NAME@';
const unsupported = (what) => {
  throw { tag: 'forbidden', val: `@NAME@ does not support ${what}` };
};

function versionOf(at) {
  if (at.tag === 'version') return at.val;
  if (at.tag === 'labels' && !at.val.includes('latest')) {
    throw { tag: 'not-found', val: `none of the labels ${at.val.join(', ')} exists (only \`latest\`)` };
  }
  return undefined;
}

export const prompts = {
  list: (ctx, query) => logic.listPage(kv, ns(), query.cursor, query.limit),
  get: (ctx, id, at) => ({
    promptJson: logic.get(kv, ns(), id, versionOf(at)),
    label: at.tag === 'labels' ? 'latest' : undefined,
  }),
  create: (ctx, promptJson) => logic.create(kv, ns(), promptJson),
  update: (ctx, id, promptJson, expected) => logic.update(kv, ns(), id, promptJson, expected),
  delete: (ctx, id) => logic.remove(kv, ns(), id),
  upsert: () => unsupported('imports (upsert)'),
  // Only the newest version is kept.
  versions: (ctx, id) => `[${logic.get(kv, ns(), id)}]`,
  apply(ctx, id, at, variablesJson) {
    const doc = JSON.parse(logic.get(kv, ns(), id, versionOf(at)));
    let vars;
    try {
      vars = JSON.parse(variablesJson);
    } catch {
      vars = undefined;
    }
    if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
      throw { tag: 'invalid', val: [{ field: 'variables', message: 'must be a JSON object' }] };
    }
    let content;
    try {
      content = render({ template: doc.content, variablesJson, partials: [], required: [] });
    } catch (thrown) {
      const e = errorValue(thrown);
      if (e?.tag === 'missing-variables') throw { tag: 'missing-variables', val: e.val };
      throw { tag: 'render-failed', val: `${e?.tag}: ${JSON.stringify(e?.val)}` };
    }
    return {
      content,
      appliedVariables: Object.keys(vars),
      missingVariables: [],
      messagesJson: undefined,
      configJson: undefined,
      description: typeof doc.description === 'string' ? doc.description : undefined,
    };
  },
  deleteVersion: () => unsupported('deleting past versions (only the newest is kept)'),
  labels: () => unsupported('labels'),
  setLabel: () => unsupported('labels'),
  deleteLabel: () => unsupported('labels'),
  labelHistory: () => unsupported('labels'),
};
