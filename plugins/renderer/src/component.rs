//! Component glue: converts between the WIT types and [`crate::engine`].

use crate::engine::{self, Limits, RenderFailure};

wit_bindgen::generate!({
    path: "../../wit",
    world: "renderer",
});

use exports::mcp_prompts::plugin::template_renderer::Guest;
use mcp_prompts::plugin::config;
use mcp_prompts::plugin::log::{self, Level};
use mcp_prompts::plugin::rendering::{Position, RenderError, RenderRequest, SyntaxError};

/// Config key overriding the default output cap.
const MAX_OUTPUT_BYTES_KEY: &str = "max_output_bytes";
/// Config key overriding the default work budget (`budget.rs`).
const MAX_RENDER_STEPS_KEY: &str = "max_render_steps";

struct Renderer;

impl Guest for Renderer {
    fn render(request: RenderRequest) -> Result<String, RenderError> {
        let partials: Vec<(&str, &str)> = request
            .partials
            .iter()
            .map(|partial| (partial.name.as_str(), partial.template.as_str()))
            .collect();
        let required: Vec<&str> = request.required.iter().map(String::as_str).collect();
        let borrowed = engine::Request {
            template: &request.template,
            variables_json: &request.variables_json,
            partials: &partials,
            required: &required,
        };
        engine::render(&borrowed, &limits()).map_err(|failure| {
            log_failure(&failure);
            to_wit(failure)
        })
    }
}

thread_local! {
    static LIMITS: std::cell::OnceCell<Limits> = const { std::cell::OnceCell::new() };
}

/// The limits, read from the plugin configuration by an instance's first call: the
/// configuration cannot change under a live instance (a reload replaces the instances).
fn limits() -> Limits {
    LIMITS.with(|l| *l.get_or_init(configured_limits))
}

fn configured_limits() -> Limits {
    let raw = config::get(MAX_OUTPUT_BYTES_KEY);
    let (mut limits, problem) = Limits::from_config(raw.as_deref());
    if let Some(problem) = problem {
        log::log(Level::Warn, &problem);
    }
    if let Some(raw) = config::get(MAX_RENDER_STEPS_KEY) {
        match serde_json::from_str::<u64>(raw.trim()) {
            Ok(steps) if steps > 0 => limits.max_steps = steps,
            _ => log::log(
                Level::Warn,
                "config max_render_steps must be a positive integer; using the default",
            ),
        }
    }
    limits
}

/// Logs which kind of failure occurred. Never the variables: they may hold user data.
fn log_failure(failure: &RenderFailure) {
    let kind = match failure {
        RenderFailure::Syntax(_) => "syntax error",
        RenderFailure::MissingPartial(_) => "missing partial",
        RenderFailure::PartialCycle(_) => "partial cycle",
        RenderFailure::MissingVariables(_) => "missing variables",
        RenderFailure::Failed(_) => "render failed",
    };
    log::log(Level::Debug, &format!("render: {kind}"));
}

fn to_wit(failure: RenderFailure) -> RenderError {
    match failure {
        RenderFailure::Syntax(syntax) => RenderError::Syntax(SyntaxError {
            message: syntax.message,
            position: syntax
                .position
                .map(|(line, column)| Position { line, column }),
            source_name: syntax.source_name,
        }),
        RenderFailure::MissingPartial(name) => RenderError::MissingPartial(name),
        RenderFailure::PartialCycle(chain) => RenderError::PartialCycle(chain),
        RenderFailure::MissingVariables(names) => RenderError::MissingVariables(names),
        RenderFailure::Failed(message) => RenderError::Failed(message),
    }
}

export!(Renderer);
