//! Static analysis of partial references: which partials a template needs, whether they
//! were all supplied, whether they include each other in a loop, and how deeply they nest.
//!
//! Handlebars only notices a missing partial when rendering reaches it and only refuses a
//! partial that includes itself directly; a longer loop recurses until the guest's stack
//! overflows. Checking the parsed templates up front turns both into typed errors.

use std::collections::{BTreeSet, HashMap, HashSet};

use handlebars::template::{DecoratorTemplate, Parameter, Template, TemplateElement};
use serde_json::Value;

use crate::engine::RenderFailure;

/// How many partials may be nested inside each other (the main template is level 0).
pub const MAX_PARTIAL_DEPTH: usize = 32;

/// The name handlebars gives the content of the enclosing partial block.
const PARTIAL_BLOCK: &str = "@partial-block";

/// The decorator that defines an inline partial: `{{#*inline "name"}}...{{/inline}}`.
const INLINE_DECORATOR: &str = "inline";

/// A partial referenced with a quoted or bracketed name (`{{> 'my partial'}}`).
///
/// Handlebars.js strips the quotes; handlebars-rust looks the name up verbatim. Registering
/// the partial under the spelling too keeps Handlebars.js semantics.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Alias {
    /// The name as written in the template, e.g. `'my partial'`.
    pub spelling: String,
    /// The partial's name, e.g. `my partial`.
    pub name: String,
}

/// Partial references found in one template, in document order.
#[derive(Debug, Default)]
struct Scan {
    /// Partials the template renders directly (outside inline partial definitions), as
    /// spelled in the template.
    refs: Vec<String>,
    /// Inline partials the template defines, each with the partials its body renders.
    inline: Vec<(String, Vec<String>)>,
}

/// Checks the partial references reachable from `main`.
///
/// Only partials that rendering can reach are checked, so a caller may pass a whole
/// library of partials of which the template uses a few. Errors, in the order found by a
/// depth-first walk in document order: `MissingPartial` for the first unknown name,
/// `PartialCycle` for the first loop, `Failed` for dynamic names or nesting deeper than
/// [`MAX_PARTIAL_DEPTH`]. On success, returns the quoted spellings that need aliases.
pub fn check(main: &Template, partials: &[(&str, &Template)]) -> Result<Vec<Alias>, RenderFailure> {
    let root = scan(main)?;
    let mut graph: HashMap<String, Vec<String>> = HashMap::new();
    add_inline(&mut graph, root.inline);
    for (name, template) in partials {
        let found = scan(template)?;
        graph
            .entry((*name).to_owned())
            .or_default()
            .extend(found.refs);
        add_inline(&mut graph, found.inline);
    }
    let mut walk = Walk::new(&graph);
    let depth = walk.run(&root.refs)?;
    if depth > MAX_PARTIAL_DEPTH {
        return Err(RenderFailure::Failed(format!(
            "partials nest deeper than {MAX_PARTIAL_DEPTH} levels"
        )));
    }
    Ok(walk.aliases.into_iter().collect())
}

/// The partial name meant by a reference: without the quotes or brackets that let a name
/// contain spaces or other characters.
pub fn unquote(spelling: &str) -> &str {
    let inner = strip_pair(spelling, '\'', '\'').or_else(|| strip_pair(spelling, '[', ']'));
    inner.filter(|inner| !inner.is_empty()).unwrap_or(spelling)
}

fn strip_pair(text: &str, open: char, close: char) -> Option<&str> {
    text.strip_prefix(open)?.strip_suffix(close)
}

/// Adds inline partials as graph nodes.
///
/// Inline partials are scoped at render time (and shadow supplied partials of the same
/// name while in scope); merging every definition of a name into one node
/// over-approximates that, which can only report a loop that a particular render would
/// not have hit.
fn add_inline(graph: &mut HashMap<String, Vec<String>>, inline: Vec<(String, Vec<String>)>) {
    for (name, refs) in inline {
        graph.entry(name).or_default().extend(refs);
    }
}

fn scan(template: &Template) -> Result<Scan, RenderFailure> {
    let mut found = Scan::default();
    let mut refs = Vec::new();
    walk(template, &mut refs, &mut found.inline)?;
    found.refs = refs;
    Ok(found)
}

/// Collects the partial references of `template` into `refs` and its inline partial
/// definitions into `inline`, descending into every nested block and inverse block.
///
/// The recursion is bounded by the block nesting limit checked before parsing.
fn walk(
    template: &Template,
    refs: &mut Vec<String>,
    inline: &mut Vec<(String, Vec<String>)>,
) -> Result<(), RenderFailure> {
    for element in &template.elements {
        match element {
            TemplateElement::HelperBlock(helper) => {
                for block in [&helper.template, &helper.inverse].into_iter().flatten() {
                    walk(block, refs, inline)?;
                }
            }
            TemplateElement::PartialExpression(partial) => push_ref(partial, refs)?,
            TemplateElement::PartialBlock(partial) => {
                push_ref(partial, refs)?;
                // The block is rendered in the caller's scope (as `@partial-block`, or as
                // the fallback when the partial is missing), so its references are ours.
                if let Some(block) = &partial.template {
                    walk(block, refs, inline)?;
                }
            }
            TemplateElement::DecoratorBlock(decorator) => {
                walk_decorator_block(decorator, refs, inline)?;
            }
            // Plain expressions, comments, raw text and block-less decorators cannot
            // render partials.
            _ => {}
        }
    }
    Ok(())
}

fn walk_decorator_block(
    decorator: &DecoratorTemplate,
    refs: &mut Vec<String>,
    inline: &mut Vec<(String, Vec<String>)>,
) -> Result<(), RenderFailure> {
    let Some(body) = &decorator.template else {
        return Ok(());
    };
    if decorator.name.as_name() != Some(INLINE_DECORATOR) {
        // Not a partial definition: handlebars fails on unknown decorators when rendering,
        // but walking the body keeps the analysis independent of that.
        return walk(body, refs, inline);
    }
    let name = inline_name(decorator)?;
    let mut body_refs = Vec::new();
    walk(body, &mut body_refs, inline)?;
    inline.push((name, body_refs));
    Ok(())
}

/// The name of an inline partial, which must be a string literal to be known statically.
fn inline_name(decorator: &DecoratorTemplate) -> Result<String, RenderFailure> {
    match decorator.params.first() {
        Some(Parameter::Literal(Value::String(name))) => Ok(name.clone()),
        _ => Err(RenderFailure::Failed(
            "inline partial names must be string literals".to_owned(),
        )),
    }
}

fn push_ref(partial: &DecoratorTemplate, refs: &mut Vec<String>) -> Result<(), RenderFailure> {
    // `as_name` yields exactly the name handlebars looks up at render time; it has none
    // for a subexpression, whose value is only known while rendering.
    let name = partial.name.as_name().ok_or_else(|| {
        RenderFailure::Failed("dynamic partial names are not supported".to_owned())
    })?;
    // `{{> @partial-block}}` renders the caller's block, not a named partial.
    if name != PARTIAL_BLOCK {
        refs.push(name.to_owned());
    }
    Ok(())
}

/// Iterative depth-first walk over the partial graph.
///
/// Iterative because the graph comes from the request: a chain of thousands of partials
/// must produce an error, not overflow the guest's stack.
struct Walk<'g> {
    graph: &'g HashMap<String, Vec<String>>,
    /// Partials whose subtree is fully explored, with its nesting depth.
    done: HashMap<&'g str, usize>,
    /// Partials on the current path, for loop detection.
    active: HashSet<&'g str>,
    /// Quoted spellings seen, with the names they mean.
    aliases: BTreeSet<Alias>,
    /// The current path: a node (`None` for the main template), the index of its next
    /// reference to visit, and the deepest nesting found below it so far.
    stack: Vec<Frame<'g>>,
}

struct Frame<'g> {
    name: Option<&'g str>,
    refs: &'g [String],
    next: usize,
    depth: usize,
}

impl<'g> Walk<'g> {
    fn new(graph: &'g HashMap<String, Vec<String>>) -> Self {
        Walk {
            graph,
            done: HashMap::new(),
            active: HashSet::new(),
            aliases: BTreeSet::new(),
            stack: Vec::new(),
        }
    }

    /// Walks everything reachable from the main template's references and returns how
    /// deeply partials nest below it.
    fn run(&mut self, root_refs: &'g [String]) -> Result<usize, RenderFailure> {
        self.stack.push(Frame {
            name: None,
            refs: root_refs,
            next: 0,
            depth: 0,
        });
        while let Some(frame) = self.stack.last_mut() {
            if let Some(child) = frame.refs.get(frame.next) {
                frame.next += 1;
                self.visit(child)?;
            } else if let Some(root_depth) = self.finish() {
                return Ok(root_depth);
            }
        }
        Ok(0)
    }

    /// Handles one reference from the frame on top of the stack.
    fn visit(&mut self, spelling: &'g str) -> Result<(), RenderFailure> {
        let name = unquote(spelling);
        if name != spelling {
            self.aliases.insert(Alias {
                spelling: spelling.to_owned(),
                name: name.to_owned(),
            });
        }
        if let Some(&depth) = self.done.get(name) {
            self.record_child_depth(depth);
            return Ok(());
        }
        if self.active.contains(name) {
            return Err(RenderFailure::PartialCycle(self.cycle_through(name)));
        }
        let Some(refs) = self.graph.get(name) else {
            return Err(RenderFailure::MissingPartial(name.to_owned()));
        };
        self.active.insert(name);
        self.stack.push(Frame {
            name: Some(name),
            refs,
            next: 0,
            depth: 0,
        });
        Ok(())
    }

    /// Pops the finished top frame and records its depth; returns the depth once the main
    /// template's frame is finished.
    fn finish(&mut self) -> Option<usize> {
        let frame = self.stack.pop()?;
        let Some(name) = frame.name else {
            return Some(frame.depth);
        };
        self.active.remove(name);
        self.done.insert(name, frame.depth);
        self.record_child_depth(frame.depth);
        None
    }

    /// A child of the top frame nests `child_depth` levels below itself.
    fn record_child_depth(&mut self, child_depth: usize) {
        if let Some(parent) = self.stack.last_mut() {
            parent.depth = parent.depth.max(child_depth + 1);
        }
    }

    /// The loop closed by referencing `name` again: from `name` along the current path
    /// back to `name`.
    fn cycle_through(&self, name: &str) -> Vec<String> {
        let path = self.stack.iter().filter_map(|frame| frame.name);
        let mut chain: Vec<String> = path
            .skip_while(|&on_path| on_path != name)
            .map(str::to_owned)
            .collect();
        chain.push(name.to_owned());
        chain
    }
}
