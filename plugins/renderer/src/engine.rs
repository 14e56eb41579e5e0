//! Rendering with plain Rust types, independent of the component bindings.
//!
//! Order of checks: templates parse (main first, then partials in the order given), the
//! partial graph is sound, variables are a JSON object with every required name, and only
//! then does handlebars render. Template problems come first because no choice of
//! variables can fix them.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::rc::Rc;

use handlebars::template::Template;
use handlebars::{
    Context, Handlebars, Output, RenderContext, RenderError, RenderErrorReason, Renderable,
    TemplateError,
};
use serde_json::{Map, Value};

use crate::nesting::{self, MAX_BLOCK_DEPTH};
use crate::partials::{self, Alias};
use crate::syntax;

/// Output cap when the plugin configuration does not set `max_output_bytes`.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// One render call, borrowing the caller's data.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub template: &'a str,
    pub variables_json: &'a str,
    /// `(name, template)` pairs available to `{{> name}}`.
    pub partials: &'a [(&'a str, &'a str)],
    /// Top-level variable names that must be present and non-null.
    pub required: &'a [&'a str],
}

/// Limits that the plugin configuration may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_output_bytes: usize,
    /// Worst-case template elements a render may take (`budget.rs`); beyond it the
    /// render fails before it starts.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_steps: crate::budget::DEFAULT_MAX_STEPS,
        }
    }
}

impl Limits {
    /// Builds limits from the `max_output_bytes` config value (a positive integer as JSON
    /// text). Returns an error message for a value that is present but unusable, so the
    /// caller can log it; the default then applies.
    pub fn from_config(max_output_bytes: Option<&str>) -> (Limits, Option<String>) {
        let Some(raw) = max_output_bytes else {
            return (Limits::default(), None);
        };
        match serde_json::from_str::<u64>(raw.trim()) {
            Ok(bytes) if bytes > 0 => {
                // On wasm32 a usize is 32 bits; anything larger cannot be allocated anyway.
                let max_output_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
                (
                    Limits {
                        max_output_bytes,
                        ..Limits::default()
                    },
                    None,
                )
            }
            _ => (
                Limits::default(),
                Some(format!(
                    "config max_output_bytes must be a positive integer; using {DEFAULT_MAX_OUTPUT_BYTES}"
                )),
            ),
        }
    }
}

/// Why a render failed; mirrors the WIT `render-error` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderFailure {
    Syntax(SyntaxFailure),
    MissingPartial(String),
    PartialCycle(Vec<String>),
    MissingVariables(Vec<String>),
    Failed(String),
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxFailure {
    pub message: String,
    /// 1-based `(line, column)`, when the parser reports it.
    pub position: Option<(u32, u32)>,
    /// Empty for the main template, else the partial's name.
    pub source_name: String,
}

/// Renders `request`, or says precisely why it cannot be rendered.
pub fn render(request: &Request<'_>, limits: &Limits) -> Result<String, RenderFailure> {
    render_counted(request, limits).map(|r| r.output)
}

/// A successful render and what it cost (the property tests check the cost against the
/// budget's bound).
#[derive(Debug)]
pub(crate) struct Rendered {
    pub output: String,
    #[cfg_attr(any(not(test), target_arch = "wasm32"), allow(dead_code))]
    /// Segments written to the output: at most one per template element rendered.
    pub writes: u64,
    #[cfg_attr(any(not(test), target_arch = "wasm32"), allow(dead_code))]
    /// The budget's worst case for these templates and variables.
    pub worst_case_steps: u64,
}

pub(crate) fn render_counted(
    request: &Request<'_>,
    limits: &Limits,
) -> Result<Rendered, RenderFailure> {
    let main = compile(request.template, None)?;
    let partials = compile_partials(request.partials)?;
    let named: Vec<(&str, &Template)> = partials
        .iter()
        .map(|(name, template)| (*name, &**template))
        .collect();
    let aliases = partials::check(&main, &named)?;
    let variables = parse_variables(request.variables_json)?;
    check_required(&variables, request.required)?;
    let worst_case_steps = check_budget(&main, &named, &variables, limits)?;
    let (output, writes) = crate::cache::with_registry(|registry| {
        let registered = register(registry, &partials, &aliases);
        let rendered = render_checked(&main, registry, variables, limits);
        for name in &registered {
            registry.unregister_template(name);
        }
        rendered
    })?;
    Ok(Rendered {
        output,
        writes,
        worst_case_steps,
    })
}

/// Refuses, before rendering, a template whose loops could run past `limits.max_steps`.
fn check_budget(
    main: &Template,
    partials: &[(&str, &Template)],
    variables: &Map<String, Value>,
    limits: &Limits,
) -> Result<u64, RenderFailure> {
    let widest = crate::budget::widest_collection(variables);
    let steps = crate::budget::worst_case_steps(main, partials, widest);
    if steps > limits.max_steps {
        return Err(RenderFailure::Failed(format!(
            "render budget exceeded: with collections of up to {widest} items the template's \
             loops could take {steps} steps, more than the {} allowed; nest fewer {{{{#each}}}} \
             blocks or pass smaller collections",
            limits.max_steps
        )));
    }
    Ok(steps)
}

/// Parses one template (or finds it parsed by an earlier call: `cache.rs`); `name` is
/// `None` for the main template.
fn compile(source: &str, name: Option<&str>) -> Result<Rc<Template>, RenderFailure> {
    if let Some(template) = crate::cache::compiled(name, source) {
        return Ok(template);
    }
    let source_name = name.unwrap_or_default();
    if nesting::block_depth(source, MAX_BLOCK_DEPTH) > MAX_BLOCK_DEPTH {
        return Err(RenderFailure::Syntax(SyntaxFailure {
            message: format!("blocks nest deeper than {MAX_BLOCK_DEPTH} levels"),
            position: None,
            source_name: source_name.to_owned(),
        }));
    }
    let compiled = match name {
        // Same options as `Handlebars::register_partial`, so a partial behaves as if the
        // registry had parsed it.
        Some(name) => Template::compile_with_name(source, name.to_owned()),
        None => Template::compile(source),
    };
    let template = Rc::new(
        compiled
            .map_err(|error| RenderFailure::Syntax(syntax_failure(&error, source, source_name)))?,
    );
    crate::cache::keep(name, source, &template);
    Ok(template)
}

fn syntax_failure(error: &TemplateError, source: &str, source_name: &str) -> SyntaxFailure {
    let message = syntax::message(error, source);
    SyntaxFailure {
        message: if message.trim().is_empty() {
            "invalid template syntax".to_owned()
        } else {
            message
        },
        position: error
            .pos()
            .map(|(line, column)| (saturating_u32(line), saturating_u32(column))),
        source_name: source_name.to_owned(),
    }
}

fn saturating_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn compile_partials<'a>(
    partials: &[(&'a str, &str)],
) -> Result<Vec<(&'a str, Rc<Template>)>, RenderFailure> {
    let mut seen = HashSet::new();
    let mut compiled = Vec::with_capacity(partials.len());
    for &(name, source) in partials {
        if name.is_empty() {
            return Err(RenderFailure::Failed(
                "partial names must not be empty".to_owned(),
            ));
        }
        // Handlebars would silently keep the last one; an ambiguous request is a bug.
        if !seen.insert(name) {
            return Err(RenderFailure::Failed(format!(
                "partial {name:?} is supplied twice"
            )));
        }
        compiled.push((name, compile(source, Some(name))?));
    }
    Ok(compiled)
}

fn parse_variables(json: &str) -> Result<Map<String, Value>, RenderFailure> {
    let not_object = |detail: String| {
        RenderFailure::Failed(format!("variables must be a JSON object: {detail}"))
    };
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(not_object(format!("got {}", json_kind(&other)))),
        Err(error) => Err(not_object(error.to_string())),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Fails with every required name that is absent or null, sorted and deduplicated.
fn check_required(variables: &Map<String, Value>, required: &[&str]) -> Result<(), RenderFailure> {
    let missing: BTreeSet<&str> = required
        .iter()
        .copied()
        .filter(|name| variables.get(*name).is_none_or(Value::is_null))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RenderFailure::MissingVariables(
            missing.into_iter().map(str::to_owned).collect(),
        ))
    }
}

/// Registers the partials in `registry`, also under the quoted spellings the templates
/// use, and returns every name registered.
fn register(
    registry: &mut Handlebars<'static>,
    partials: &[(&str, Rc<Template>)],
    aliases: &[Alias],
) -> Vec<String> {
    let mut names = Vec::with_capacity(partials.len() + aliases.len());
    for (name, template) in partials {
        for alias in aliases.iter().filter(|alias| alias.name == *name) {
            registry.register_template(&alias.spelling, (**template).clone());
            names.push(alias.spelling.clone());
        }
        registry.register_template(name, (**template).clone());
        names.push((*name).to_owned());
    }
    names
}

/// Renders a main template that passed every static check.
fn render_checked(
    main: &Template,
    registry: &Handlebars<'_>,
    variables: Map<String, Value>,
    limits: &Limits,
) -> Result<(String, u64), RenderFailure> {
    let context = Context::from(Value::Object(variables));
    // Rendering the already parsed main template directly (rather than registering it)
    // avoids parsing it twice and keeps it out of the namespace of partial names.
    let mut render_context = RenderContext::new(None);
    let mut output = CappedOutput::new(limits.max_output_bytes);
    let result = main.render(registry, &context, &mut render_context, &mut output);
    if output.exceeded {
        return Err(RenderFailure::Failed(over_limit_message(
            limits.max_output_bytes,
        )));
    }
    result.map_err(|error| render_failure(&error))?;
    Ok((output.buffer, output.writes))
}

fn over_limit_message(max_output_bytes: usize) -> String {
    if max_output_bytes == DEFAULT_MAX_OUTPUT_BYTES {
        "rendered output exceeds 4 MiB".to_owned()
    } else {
        format!("rendered output exceeds {max_output_bytes} bytes")
    }
}

/// Maps a handlebars render error to the WIT variant.
fn render_failure(error: &RenderError) -> RenderFailure {
    match error.reason() {
        // An inline partial referenced outside the scope that defines it passes the
        // static check but is still missing at render time.
        RenderErrorReason::PartialNotFound(spelling) => {
            RenderFailure::MissingPartial(partials::unquote(spelling).to_owned())
        }
        reason => {
            let mut message = reason.to_string();
            if let (Some(line), Some(column)) = (error.line_no, error.column_no) {
                message.push_str(&format!(" (line {line}, column {column}"));
                if let Some(name) = &error.template_name {
                    message.push_str(&format!(" of partial {name:?}"));
                }
                message.push(')');
            }
            RenderFailure::Failed(message)
        }
    }
}

/// An in-memory output that refuses to grow past a limit.
///
/// Loops over large arrays, nested `{{#each}}` and repeated partials can multiply the
/// input many times over; failing the write stops handlebars as soon as the cap is hit
/// instead of after the memory is spent.
struct CappedOutput {
    buffer: String,
    limit: usize,
    exceeded: bool,
    writes: u64,
}

impl CappedOutput {
    fn new(limit: usize) -> Self {
        CappedOutput {
            buffer: String::new(),
            limit,
            exceeded: false,
            writes: 0,
        }
    }
}

impl Output for CappedOutput {
    fn write(&mut self, segment: &str) -> Result<(), io::Error> {
        self.writes += 1;
        if self.buffer.len().saturating_add(segment.len()) > self.limit {
            // Remembered separately: a helper could swallow the error, and the error's
            // own message would be less clear than ours.
            self.exceeded = true;
            return Err(io::Error::other("rendered output limit reached"));
        }
        self.buffer.push_str(segment);
        Ok(())
    }
}
