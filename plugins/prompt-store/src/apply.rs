//! Rendering a stored prompt with caller-supplied variables.

use crate::access::{self, Viewer, Visibility};
use crate::backend::{Backend, Error, RenderError, RenderRequest};
use crate::chat::{self, FillError};
use crate::model::{Block, ChatItem, Content, Message, PromptType};
use crate::refs::referenced_names;
use crate::store::{Selector, load_head, select};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Upper bound on partials fetched for one render: each costs a kv read and another
/// render call, and a legitimate prompt needs a handful.
pub const MAX_PARTIALS: usize = 32;

/// Mirrors WIT `prompts.applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// A text prompt's rendering; for a chat prompt the rendered messages' contents
    /// joined by blank lines (for clients that only read text).
    pub content: String,
    pub applied_variables: Vec<String>,
    pub missing_variables: Vec<String>,
    /// A chat prompt's rendered messages, placeholders replaced by their fill; `None`
    /// for a text prompt.
    pub messages: Option<Vec<Message>>,
    /// The rendered version's `config`.
    pub config: Option<Map<String, Value>>,
    /// The rendered version's description.
    pub description: Option<String>,
}

/// Separates the messages' contents in [`Applied::content`] of a chat prompt.
pub const CHAT_CONTENT_SEPARATOR: &str = "\n\n";
/// Separates the texts of one message's blocks in [`Applied::content`].
pub const BLOCK_TEXT_SEPARATOR: &str = "\n";

fn has_value(vars: &Map<String, Value>, name: &str) -> bool {
    vars.get(name).is_some_and(|v| !v.is_null())
}

pub fn apply(
    b: &dyn Backend,
    viewer: Viewer,
    id: &str,
    at: &Selector,
    variables_json: &str,
) -> Result<Applied, Error> {
    let (_, prompt) = select(b, viewer, id, at)?;
    // An empty body means "no variables" (a client applying a prompt without any).
    let mut vars = match serde_json::from_str::<Value>(variables_json) {
        Ok(Value::Object(map)) => map,
        _ if variables_json.trim().is_empty() => Map::new(),
        _ => return Err(Error::invalid("variables", "must be a JSON object")),
    };

    // Defaults fill gaps (absent or null); what is still missing is either an error
    // (required) or reported back (optional).
    let mut missing_required = Vec::new();
    let mut missing_optional = Vec::new();
    for var in &prompt.variables {
        if has_value(&vars, &var.name) {
            continue;
        }
        match &var.default {
            Some(default) => {
                vars.insert(var.name.clone(), default.clone());
            }
            None if var.required => missing_required.push(var.name.clone()),
            None => missing_optional.push(var.name.clone()),
        }
    }
    // A placeholder without a fill is as missing as a required variable: both are
    // reported in one answer, by name.
    let items: &[ChatItem] = match prompt.kind {
        PromptType::Chat => prompt.messages.as_deref().unwrap_or_default(),
        PromptType::Text => &[],
    };
    let mut fills = Vec::new();
    for name in chat::placeholder_names(items) {
        match chat::fill(name, vars.get(name)) {
            Ok(messages) => fills.push(messages),
            Err(FillError::Missing) => missing_required.push(name.to_owned()),
            Err(FillError::Invalid(e)) => return Err(Error::Invalid(vec![e])),
        }
    }
    if !missing_required.is_empty() {
        missing_required.sort();
        missing_required.dedup();
        return Err(Error::MissingVariables(missing_required));
    }

    let variables_json = serde_json::to_string(&vars)
        .map_err(|e| Error::Internal(format!("cannot serialise variables: {e}")))?;
    let required: Vec<String> = prompt
        .variables
        .iter()
        .filter(|v| v.required)
        .map(|v| v.name.clone())
        .collect();
    let mut names: BTreeSet<String> = prompt.variables.iter().map(|v| v.name.clone()).collect();
    let mut request = RenderRequest {
        template: String::new(),
        variables_json,
        partials: Vec::new(),
        required,
    };

    let (content, messages) = match prompt.kind {
        PromptType::Text => {
            request.template = prompt.content.clone();
            referenced_names(&request.template, &mut names);
            (render_with_partials(b, viewer, &mut request)?, None)
        }
        PromptType::Chat => {
            // One request travels through the messages so that a partial fetched for
            // one message is not fetched again for the next.
            let mut fills = fills.into_iter();
            let mut out = Vec::new();
            for item in items {
                match item {
                    ChatItem::Message(m) => {
                        let mut render = |template: &str| -> Result<String, Error> {
                            request.template = template.to_string();
                            referenced_names(&request.template, &mut names);
                            render_with_partials(b, viewer, &mut request)
                        };
                        let content = match &m.content {
                            Content::Text(t) => Content::Text(render(t)?),
                            // Text blocks are templates; every other block is data and
                            // passes through as stored (an image stays a reference).
                            Content::Blocks(blocks) => Content::Blocks(
                                blocks
                                    .iter()
                                    .map(|block| match block {
                                        Block::Text { text } => Ok(Block::Text {
                                            text: render(text)?,
                                        }),
                                        other => Ok(other.clone()),
                                    })
                                    .collect::<Result<_, Error>>()?,
                            ),
                        };
                        out.push(Message {
                            role: m.role,
                            content,
                        });
                    }
                    ChatItem::Placeholder(_) => out.extend(fills.next().unwrap_or_default()),
                }
            }
            let joined: Vec<String> = out
                .iter()
                .map(|m| m.content.texts().join(BLOCK_TEXT_SEPARATOR))
                .collect();
            (joined.join(CHAT_CONTENT_SEPARATOR), Some(out))
        }
    };

    for (_, template) in &request.partials {
        referenced_names(template, &mut names);
    }
    // A placeholder's value is a list, not a template variable.
    for name in chat::placeholder_names(items) {
        names.remove(name);
    }
    missing_optional.sort();
    Ok(Applied {
        content,
        applied_variables: names.into_iter().filter(|n| has_value(&vars, n)).collect(),
        missing_variables: missing_optional,
        messages,
        config: prompt.config.clone(),
        description: prompt.description.clone(),
    })
}

/// Renders, fetching partials (other prompts, by id) one at a time as the renderer
/// asks for them. The renderer detects cycles; this loop only bounds the fetching.
/// Partials obey access levels like any read: a public template cannot pull in a prompt
/// its caller may not read (a hidden one is "not found", a premium one forbidden).
fn render_with_partials(
    b: &dyn Backend,
    viewer: Viewer,
    request: &mut RenderRequest,
) -> Result<String, Error> {
    loop {
        let name = match b.render(request) {
            Ok(text) => return Ok(text),
            Err(RenderError::MissingPartial(name)) => name,
            Err(e) => return Err(map_render_error(e)),
        };
        if request.partials.iter().any(|(n, _)| *n == name) {
            return Err(Error::RenderFailed(format!(
                "the renderer asked again for partial '{name}', which was supplied"
            )));
        }
        if request.partials.len() >= MAX_PARTIALS {
            return Err(Error::RenderFailed(format!(
                "too many partials (more than {MAX_PARTIALS})"
            )));
        }
        let not_found = || Error::RenderFailed(format!("partial '{name}' not found"));
        let (partial, _) = load_head(b, &name)?.ok_or_else(not_found)?;
        if partial.kind == PromptType::Chat {
            return Err(Error::RenderFailed(format!(
                "partial '{name}' is a chat prompt; only text prompts can be included"
            )));
        }
        match access::visibility(viewer, &partial) {
            Visibility::Visible => {}
            Visibility::Hidden => return Err(not_found()),
            Visibility::PremiumOnly => {
                return Err(Error::Forbidden(format!(
                    "partial '{name}' requires a premium subscription"
                )));
            }
        }
        request.partials.push((name, partial.content));
    }
}

fn map_render_error(e: RenderError) -> Error {
    match e {
        RenderError::Syntax {
            message,
            position,
            source_name,
        } => {
            let place = if source_name.is_empty() {
                "template".to_owned()
            } else {
                format!("partial '{source_name}'")
            };
            Error::RenderFailed(match position {
                Some((line, column)) => {
                    format!("syntax error in {place} at {line}:{column}: {message}")
                }
                None => format!("syntax error in {place}: {message}"),
            })
        }
        RenderError::PartialCycle(chain) => {
            Error::RenderFailed(format!("partial cycle: {}", chain.join(" -> ")))
        }
        RenderError::MissingVariables(names) => Error::MissingVariables(names),
        RenderError::Failed(message) => Error::RenderFailed(message),
        RenderError::MissingPartial(name) => {
            Error::RenderFailed(format!("partial '{name}' not found"))
        }
    }
}
