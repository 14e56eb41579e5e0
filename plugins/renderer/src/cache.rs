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

/// `(partial name, source)`: a partial compiles with its name (it appears in errors and
/// in the template's own name), the main template without.
type Key = (Option<String>, String);

#[derive(Default)]
struct Compiled {
    map: HashMap<Key, Rc<Template>>,
    order: VecDeque<Key>,
    bytes: usize,
}

thread_local! {
    static COMPILED: RefCell<Compiled> = RefCell::default();
    static REGISTRY: RefCell<Option<Handlebars<'static>>> = const { RefCell::new(None) };
}

/// The compiled `source` of a previous call, if kept.
pub fn compiled(name: Option<&str>, source: &str) -> Option<Rc<Template>> {
    COMPILED.with_borrow(|c| {
        c.map
            .get(&(name.map(str::to_owned), source.to_owned()))
            .cloned()
    })
}

/// Keeps `template`, compiled from `source`, for later calls.
pub fn keep(name: Option<&str>, source: &str, template: &Rc<Template>) {
    if source.len() > MAX_KEPT_TEMPLATE {
        return;
    }
    COMPILED.with_borrow_mut(|c| {
        let key = (name.map(str::to_owned), source.to_owned());
        if c.map.contains_key(&key) {
            return;
        }
        while c.order.len() >= MAX_ENTRIES || c.bytes + source.len() > MAX_SOURCE_BYTES {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            c.bytes -= old.1.len();
            c.map.remove(&old);
        }
        c.bytes += source.len();
        c.order.push_back(key.clone());
        c.map.insert(key, template.clone());
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
    COMPILED.with_borrow(|c| c.map.len())
}
