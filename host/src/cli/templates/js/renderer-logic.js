// @NAME@: a template renderer. `{{name}}` is replaced by the variable `name` (a dotted
// path such as `{{user.name}}` reads into objects); strings are inserted as they are,
// other values as JSON, and a variable without a value renders as nothing.
//
// Plain JavaScript (no host imports), so `node --test` runs it. Errors are thrown as
// the WIT `render-error` variant, which is how an export returns a result error.

const TAG = /\{\{([\s\S]*?)\}\}/g;

export function lookup(vars, path) {
  let v = vars;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(part in v)) return undefined;
    v = v[part];
  }
  return v ?? undefined;
}

export function render(template, variablesJson, required = []) {
  let vars;
  try {
    vars = JSON.parse(variablesJson);
  } catch (e) {
    throw { tag: 'failed', val: `variables are not JSON: ${e.message}` };
  }
  const missing = required.filter((n) => lookup(vars, n) === undefined);
  if (missing.length > 0) throw { tag: 'missing-variables', val: missing };
  // A `{{` left after blanking every complete tag was never closed.
  const at = template.replace(TAG, (m) => ' '.repeat(m.length)).indexOf('{{');
  if (at >= 0) {
    const before = template.slice(0, at);
    const line = before.split('\n').length;
    const column = at - (before.lastIndexOf('\n') + 1) + 1;
    throw { tag: 'syntax', val: { message: 'unclosed {{', position: { line, column }, sourceName: '' } };
  }
  return template.replace(TAG, (_, name) => {
    const v = lookup(vars, name.trim());
    if (v === undefined) return '';
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}
