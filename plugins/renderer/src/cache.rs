//! What an instance keeps between render calls when the host keeps it warm
//! (`[plugins.NAME.warm]`, docs/plugins.md#warm-instances): the compiled templates of recent
//! calls, and one registry holding the built-in helpers. Both are functions of a request's
//! template text alone, never of who sent it, so keeping them across the calls of one
//! tenant shares nothing a caller could not compute; an instance made for one call simply
//! starts empty. Parsing a template and building a registry (its helpers, each a boxed
//! value under an owned name) were most of a small render's cost.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use handlebars::Handlebars;
use handlebars::template::Template;

/// Compiled templates kept (oldest out first).
const MAX_ENTRIES: usize = 128;
/// Template source bytes kept, all entries together; a larger template is never kept.
const MAX_SOURCE_BYTES: usize = 512 * 1024;
const MAX_KEPT_TEMPLATE: usize = MAX_SOURCE_BYTES / 8;

/// Compiled templates by source, each with the partial name it was compiled under (a
/// partial compiles with its name, which appears in errors; the main template without).
/// Keyed by source first so that a lookup borrows the request's text instead of copying it.
/// A compiled template and the partial name it was compiled under.
type Named = (Option<String>, Rc<Template>);

#[derive(Default)]
struct Compiled {
    map: HashMap<String, Vec<Named>>,
    /// `(source, name)` in the order kept, oldest first.
    order: VecDeque<(String, Option<String>)>,
    bytes: usize,
}

thread_local! {
    static COMPILED: RefCell<Compiled> = RefCell::default();
    static REGISTRY: RefCell<Option<Handlebars<'static>>> = const { RefCell::new(None) };
}

/// The compiled `source` of a previous call, if kept.
pub fn compiled(name: Option<&str>, source: &str) -> Option<Rc<Template>> {
    COMPILED.with_borrow(|c| {
        c.map.get(source).and_then(|named| {
            named
                .iter()
                .find(|(n, _)| n.as_deref() == name)
                .map(|(_, t)| t.clone())
        })
    })
}

/// Keeps `template`, compiled from `source`, for later calls.
pub fn keep(name: Option<&str>, source: &str, template: &Rc<Template>) {
    if source.len() > MAX_KEPT_TEMPLATE {
        return;
    }
    COMPILED.with_borrow_mut(|c| {
        let named = c.map.get(source);
        if named.is_some_and(|named| named.iter().any(|(n, _)| n.as_deref() == name)) {
            return;
        }
        while c.order.len() >= MAX_ENTRIES || c.bytes + source.len() > MAX_SOURCE_BYTES {
            let Some((old_source, old_name)) = c.order.pop_front() else {
                break;
            };
            c.bytes -= old_source.len();
            if let Some(named) = c.map.get_mut(&old_source) {
                named.retain(|(n, _)| *n != old_name);
                if named.is_empty() {
                    c.map.remove(&old_source);
                }
            }
        }
        c.bytes += source.len();
        let name = name.map(str::to_owned);
        c.order.push_back((source.to_owned(), name.clone()));
        c.map
            .entry(source.to_owned())
            .or_default()
            .push((name, template.clone()));
    });
}

/// Runs `f` with the instance's registry: built-in helpers, no escaping, and no templates
/// but those `f` registers, which it must unregister again before it returns (a call that
/// traps takes its instance with it, so a half-done call cannot leave them behind).
pub fn with_registry<R>(f: impl FnOnce(&mut Handlebars<'static>) -> R) -> R {
    REGISTRY.with_borrow_mut(|slot| {
        let registry = slot.get_or_insert_with(|| {
            let mut registry = Handlebars::new();
            // Prompts carry code and markup meant for a model, not HTML for a browser.
            registry.register_escape_fn(handlebars::no_escape);
            registry
        });
        f(registry)
    })
}

#[cfg(test)]
pub fn kept() -> usize {
    COMPILED.with_borrow(|c| c.order.len())
}
