"""Binding of logic.py to the WIT world `renderer` (componentize-py)."""

from wit_world import exports
from wit_world.imports import rendering

from mcp_prompts_plugin import fail
from logic import Failure, render


class TemplateRenderer(exports.TemplateRenderer):
    def render(self, request: rendering.RenderRequest) -> str:
        try:
            return render(request.template, request.variables_json, request.required)
        except Failure as f:
            if f.kind == "syntax":
                message, line, column = f.value
                position = rendering.Position(line, column)
                fail(rendering.RenderError_Syntax(rendering.SyntaxError(message, position, "")))
            if f.kind == "missing-variables":
                fail(rendering.RenderError_MissingVariables(f.value))
            fail(rendering.RenderError_Failed(str(f.value)))
