// Binding of logic.js to the WIT world `policy` (componentize-js).

import { get } from 'mcp-prompts:plugin/config@@WIT_VERSION@';
import { log } from 'mcp-prompts:plugin/log@@WIT_VERSION@';
import { isAllowed } from './mcp-prompts-plugin.js';
import { DEFAULT_SCOPE, decide } from './logic.js';

export const accessPolicy = {
  decide(request) {
    // Read per call: an instance lives for one request, and the lookup is cheap.
    const scope = get('scope') ?? DEFAULT_SCOPE;
    const decision = decide(request.action, request.principal?.scopes, scope);
    if (!isAllowed(decision)) log('info', `refused ${request.action} on ${request.route}`);
    return decision;
  },
};
