//! Static analysis of partial references: which partials a template needs, whether they
//! were all supplied, whether they include each other in a loop, and how deeply blocks and
//! partials nest once partials are expanded.
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

/// How many blocks and partial levels may nest in total, across partials.
///
/// Rendering uses about 0.8 KiB (`{{#if}}`) to 1.4 KiB (`{{#each}}`) of the 256 KiB guest
/// stack per level; measured in wasmtime, `{{#each}}` overflowed at about 190 levels.
/// 128 leaves headroom, and real prompts nest a handful of levels.
pub const MAX_NESTING: usize = 128;

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

/// What one template (or inline partial body) contributes to the partial graph.
#[derive(Debug, Default)]
struct Node {
    /// Partials it renders, in document order.
    refs: Vec<Ref>,
    /// How deeply blocks nest in it.
    block_depth: usize,
}

#[derive(Debug)]
struct Ref {
    /// The name as spelled in the template.
    spelling: String,
    /// How many blocks enclose the reference.
    depth: usize,
}

/// Checks the partial references reachable from `main`.
///
/// Only partials that rendering can reach are checked, so a caller may pass a whole
/// library of partials of which the template uses a few. Errors, in the order found by a
/// depth-first walk in document order: `MissingPartial` for the first unknown name,
/// `PartialCycle` for the first loop, `Failed` for dynamic names, partials nested deeper
/// than [`MAX_PARTIAL_DEPTH`] or nesting beyond [`MAX_NESTING`]. On success, returns the
/// quoted spellings that need aliases.
pub fn check(main: &Template, partials: &[(&str, &Template)]) -> Result<Vec<Alias>, RenderFailure> {
    let (root, root_inline) = scan(main)?;
    let mut graph: HashMap<String, Node> = HashMap::new();
    merge_all(&mut graph, root_inline);
    for (name, template) in partials {
        let (node, inline) = scan(template)?;
        merge(&mut graph, (*name).to_owned(), node);
        merge_all(&mut graph, inline);
    }
    let mut walk = Walk::new(&graph);
    let extent = walk.run(&root)?;
    if extent.partials > MAX_PARTIAL_DEPTH {
        return Err(RenderFailure::Failed(format!(
            "partials nest deeper than {MAX_PARTIAL_DEPTH} levels"
        )));
    }
    if extent.nesting > MAX_NESTING {
        return Err(RenderFailure::Failed(format!(
            "blocks and partials nest deeper than {MAX_NESTING} levels combined"
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

/// Adds a node, merging it with any node of the same name.
///
/// Inline partials are scoped at render time (and shadow supplied partials of the same
/// name while in scope); merging every definition of a name into one node
/// over-approximates that, which can only report a loop or a depth that a particular
/// render would not have reached.
fn merge(graph: &mut HashMap<String, Node>, name: String, node: Node) {
    let merged = graph.entry(name).or_default();
    merged.refs.extend(node.refs);
    merged.block_depth = merged.block_depth.max(node.block_depth);
}

fn merge_all(graph: &mut HashMap<String, Node>, nodes: Vec<(String, Node)>) {
    for (name, node) in nodes {
        merge(graph, name, node);
    }
}

/// Scans a template into its own node and the inline partials it defines.
fn scan(template: &Template) -> Result<(Node, Vec<(String, Node)>), RenderFailure> {
    let mut node = Node::default();
    let mut inline = Vec::new();
    collect(template, 0, &mut node, &mut inline)?;
    Ok((node, inline))
}

/// Collects the references of `template`, which `depth` blocks enclose, into `node` and
/// its inline partial definitions into `inline`, descending into every nested block and
/// inverse block (an `{{else if}}` chain nests, as it does when rendering).
///
/// The recursion is bounded by the block nesting limit checked before parsing.
fn collect(
    template: &Template,
    depth: usize,
    node: &mut Node,
    inline: &mut Vec<(String, Node)>,
) -> Result<(), RenderFailure> {
    node.block_depth = node.block_depth.max(depth);
    for element in &template.elements {
        match element {
            TemplateElement::HelperBlock(helper) => {
                for block in [&helper.template, &helper.inverse].into_iter().flatten() {
                    collect(block, depth + 1, node, inline)?;
                }
            }
            TemplateElement::PartialExpression(partial) => push_ref(partial, depth, node)?,
            TemplateElement::PartialBlock(partial) => {
                push_ref(partial, depth, node)?;
                // The block is rendered in the caller's scope (as `@partial-block`, or as
                // the fallback when the partial is missing), so its references are ours.
                if let Some(block) = &partial.template {
                    collect(block, depth + 1, node, inline)?;
                }
            }
            TemplateElement::DecoratorBlock(decorator) => {
                collect_decorator_block(decorator, depth, node, inline)?;
            }
            // Plain expressions, comments, raw text and block-less decorators cannot
            // render partials.
            _ => {}
        }
    }
    Ok(())
}

fn collect_decorator_block(
    decorator: &DecoratorTemplate,
    depth: usize,
    node: &mut Node,
    inline: &mut Vec<(String, Node)>,
) -> Result<(), RenderFailure> {
    let Some(body) = &decorator.template else {
        return Ok(());
    };
    if decorator.name.as_name() != Some(INLINE_DECORATOR) {
        // Not a partial definition: handlebars fails on unknown decorators when rendering,
        // but walking the body keeps the analysis independent of that.
        return collect(body, depth + 1, node, inline);
    }
    // The body renders where the inline partial is referenced, not where it is defined.
    let name = inline_name(decorator)?;
    let mut definition = Node::default();
    collect(body, 0, &mut definition, inline)?;
    inline.push((name, definition));
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

fn push_ref(
    partial: &DecoratorTemplate,
    depth: usize,
    node: &mut Node,
) -> Result<(), RenderFailure> {
    // `as_name` yields exactly the name handlebars looks up at render time; it has none
    // for a subexpression, whose value is only known while rendering.
    let spelling = partial.name.as_name().ok_or_else(|| {
        RenderFailure::Failed("dynamic partial names are not supported".to_owned())
    })?;
    // `{{> @partial-block}}` renders the caller's block, not a named partial.
    if spelling != PARTIAL_BLOCK {
        node.refs.push(Ref {
            spelling: spelling.to_owned(),
            depth,
        });
    }
    Ok(())
}

/// How far rendering a node reaches below its own start.
#[derive(Debug, Clone, Copy, Default)]
struct Extent {
    /// Partial levels.
    partials: usize,
    /// Blocks and partial levels together.
    nesting: usize,
}

/// Iterative depth-first walk over the partial graph.
///
/// Iterative because the graph comes from the request: a chain of thousands of partials
/// must produce an error, not overflow the guest's stack.
struct Walk<'g> {
    graph: &'g HashMap<String, Node>,
    /// Partials whose subtree is fully explored.
    done: HashMap<&'g str, Extent>,
    /// Partials on the current path, for loop detection.
    active: HashSet<&'g str>,
    /// Quoted spellings seen, with the names they mean.
    aliases: BTreeSet<Alias>,
    /// The current path, starting with the main template.
    stack: Vec<Frame<'g>>,
}

struct Frame<'g> {
    /// `None` for the main template.
    name: Option<&'g str>,
    refs: &'g [Ref],
    /// Index of the next reference to visit.
    next: usize,
    /// Block depth of the reference in the parent that led here.
    entered_at: usize,
    /// Extent found so far.
    extent: Extent,
}

impl<'g> Frame<'g> {
    fn new(name: Option<&'g str>, node: &'g Node, entered_at: usize) -> Self {
        Frame {
            name,
            refs: &node.refs,
            next: 0,
            entered_at,
            extent: Extent {
                partials: 0,
                nesting: node.block_depth,
            },
        }
    }
}

impl<'g> Walk<'g> {
    fn new(graph: &'g HashMap<String, Node>) -> Self {
        Walk {
            graph,
            done: HashMap::new(),
            active: HashSet::new(),
            aliases: BTreeSet::new(),
            stack: Vec::new(),
        }
    }

    /// Walks everything reachable from the main template and returns its extent.
    fn run(&mut self, root: &'g Node) -> Result<Extent, RenderFailure> {
        self.stack.push(Frame::new(None, root, 0));
        while let Some(frame) = self.stack.last_mut() {
            if let Some(child) = frame.refs.get(frame.next) {
                frame.next += 1;
                self.visit(child)?;
            } else if let Some(root_extent) = self.finish() {
                return Ok(root_extent);
            }
        }
        Ok(Extent::default())
    }

    /// Handles one reference from the frame on top of the stack.
    fn visit(&mut self, reference: &'g Ref) -> Result<(), RenderFailure> {
        let spelling = reference.spelling.as_str();
        let name = unquote(spelling);
        if name != spelling {
            self.aliases.insert(Alias {
                spelling: spelling.to_owned(),
                name: name.to_owned(),
            });
        }
        if let Some(&extent) = self.done.get(name) {
            self.record_child(reference.depth, extent);
            return Ok(());
        }
        if self.active.contains(name) {
            return Err(RenderFailure::PartialCycle(self.cycle_through(name)));
        }
        let Some(node) = self.graph.get(name) else {
            return Err(RenderFailure::MissingPartial(name.to_owned()));
        };
        self.active.insert(name);
        self.stack
            .push(Frame::new(Some(name), node, reference.depth));
        Ok(())
    }

    /// Pops the finished top frame and records its extent; returns the extent once the
    /// main template's frame is finished.
    fn finish(&mut self) -> Option<Extent> {
        let frame = self.stack.pop()?;
        let Some(name) = frame.name else {
            return Some(frame.extent);
        };
        self.active.remove(name);
        self.done.insert(name, frame.extent);
        self.record_child(frame.entered_at, frame.extent);
        None
    }

    /// The top frame renders a child with `child` extent inside `at` of its blocks.
    fn record_child(&mut self, at: usize, child: Extent) {
        if let Some(parent) = self.stack.last_mut() {
            let extent = &mut parent.extent;
            extent.partials = extent.partials.max(child.partials + 1);
            extent.nesting = extent.nesting.max(at + 1 + child.nesting);
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
