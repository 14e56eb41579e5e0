//! Binding to the WIT world `renderer`. Only the export is generated here; the imports
//! are the SDK's.

wit_bindgen::generate!({
    path: "wit",
    world: "renderer",
    with: {
        "mcp-prompts:plugin/rendering@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::rendering,
        "mcp-prompts:plugin/log@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::log,
        "mcp-prompts:plugin/config@@WIT_VERSION@": mcp_prompts_plugin_sdk::wit::config,
    },
});

use crate::Failure;
use exports::mcp_prompts::plugin::template_renderer as wit;
use mcp_prompts_plugin_sdk::wit::rendering::{Position, RenderError, RenderRequest, SyntaxError};

struct Component;

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

impl wit::Guest for Component {
    fn render(request: RenderRequest) -> Result<String, RenderError> {
        crate::render(&request.template, &request.variables_json, &request.required).map_err(
            |f| match f {
                Failure::Syntax { message, offset } => RenderError::Syntax(SyntaxError {
                    message,
                    position: Some(position(&request.template, offset)),
                    source_name: String::new(),
                }),
                Failure::MissingVariables(names) => RenderError::MissingVariables(names),
                Failure::Failed(m) => RenderError::Failed(m),
            },
        )
    }
}

export!(Component);
