//! A bound on how much work a render can do, checked before handlebars runs.
//!
//! The output cap stops templates that write a lot, but loops that write little or nothing
//! (`{{#each}}` nested three deep over a few hundred items) can spin for the plugin's whole
//! deadline and starve the host's CPU. Every `{{#each}}` iterates a collection taken from
//! the variables, so no loop runs more often than the largest array or object in them; the
//! bound multiplies that along each nesting chain. It over-approximates (every loop is
//! assumed to iterate the widest collection, every partial reference to cost as much as
//! the costliest partial), which only refuses templates whose worst case is absurd anyway.

use handlebars::template::{
    DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
};
use serde_json::{Map, Value};

/// Steps allowed when the plugin configuration does not set `max_render_steps`.
pub const DEFAULT_MAX_STEPS: u64 = 2_000_000;

/// Size of the largest array or object anywhere in `variables` (at least 1).
pub fn widest_collection(variables: &Map<String, Value>) -> u64 {
    // Iterative, so deeply nested JSON cannot overflow the guest's small stack.
    let mut widest = variables.len() as u64;
    let mut stack: Vec<&Value> = variables.values().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(a) => {
                widest = widest.max(a.len() as u64);
                stack.extend(a.iter());
            }
            Value::Object(o) => {
                widest = widest.max(o.len() as u64);
                stack.extend(o.values());
            }
            _ => {}
        }
    }
    widest.max(1)
}

/// The worst-case number of template elements rendered for `main` with `partials`, when no
/// loop iterates more than `widest` times. Saturates instead of overflowing.
pub fn worst_case_steps(main: &Template, partials: &[(&str, &Template)], widest: u64) -> u64 {
    // A partial reference costs the costliest partial (supplied or inline). Partial graphs
    // are acyclic (checked before), so raising that cost until it stops changing ends after
    // at most one round per partial.
    let mut partial_cost = 0u64;
    let rounds = partials.len() + count_inline(main) + 2;
    let mut main_cost = 0;
    for _ in 0..rounds {
        let mut w = Walk {
            widest,
            partial_cost,
            inline: 0,
        };
        main_cost = cost(main, &mut w);
        let mut next = w.inline;
        for (_, p) in partials {
            next = next.max(cost(p, &mut w));
        }
        next = next.max(w.inline);
        if next == partial_cost {
            break;
        }
        partial_cost = next;
    }
    main_cost
}

struct Walk {
    widest: u64,
    partial_cost: u64,
    /// Costliest inline partial body seen so far.
    inline: u64,
}

fn cost(t: &Template, w: &mut Walk) -> u64 {
    let mut total = 0u64;
    for e in &t.elements {
        let c = match e {
            TemplateElement::RawString(_)
            | TemplateElement::Comment(_)
            | TemplateElement::Expression(_)
            | TemplateElement::HtmlExpression(_) => 1,
            TemplateElement::HelperBlock(h) => helper_block(h, w),
            TemplateElement::DecoratorBlock(d) if is_inline(d) => {
                // Rendered where it is referenced, which costs `partial_cost`.
                let body = body(d.template.as_ref(), w);
                w.inline = w.inline.max(body);
                1
            }
            TemplateElement::DecoratorBlock(d) | TemplateElement::DecoratorExpression(d) => {
                1u64.saturating_add(body(d.template.as_ref(), w))
            }
            TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => 1u64
                .saturating_add(w.partial_cost)
                .saturating_add(body(d.template.as_ref(), w)),
            // Element kinds added by later handlebars versions render without loops.
            _ => 1,
        };
        total = total.saturating_add(c);
    }
    total
}

fn helper_block(h: &HelperTemplate, w: &mut Walk) -> u64 {
    let iterations = if matches!(&h.name, Parameter::Name(n) if n == "each") {
        w.widest
    } else {
        1
    };
    // An iteration costs a step even when its body is empty.
    let body = body(h.template.as_ref(), w)
        .saturating_add(1)
        .saturating_mul(iterations);
    let inverse = body_inverse(h, w);
    1u64.saturating_add(body).saturating_add(inverse)
}

fn body_inverse(h: &HelperTemplate, w: &mut Walk) -> u64 {
    body(h.inverse.as_ref(), w)
}

fn body(t: Option<&Template>, w: &mut Walk) -> u64 {
    t.map_or(0, |t| cost(t, w))
}

fn is_inline(d: &DecoratorTemplate) -> bool {
    matches!(&d.name, Parameter::Name(n) if n == "inline")
}

fn count_inline(t: &Template) -> usize {
    let mut n = 0;
    let mut stack = vec![t];
    while let Some(t) = stack.pop() {
        for e in &t.elements {
            match e {
                TemplateElement::HelperBlock(h) => {
                    stack.extend(h.template.iter());
                    stack.extend(h.inverse.iter());
                }
                TemplateElement::DecoratorBlock(d)
                | TemplateElement::PartialBlock(d)
                | TemplateElement::DecoratorExpression(d)
                | TemplateElement::PartialExpression(d) => {
                    if is_inline(d) {
                        n += 1;
                    }
                    stack.extend(d.template.iter());
                }
                _ => {}
            }
        }
    }
    n
}
