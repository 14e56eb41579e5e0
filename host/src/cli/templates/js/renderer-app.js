// Binding of logic.js to the WIT world `renderer` (componentize-js).

import { render } from './logic.js';

export const templateRenderer = {
  render(request) {
    return render(request.template, request.variablesJson, request.required);
  },
};
