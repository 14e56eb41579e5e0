//! Storage, listing and rendering rules, run natively against an in-memory host.

use crate::access::Viewer;
use crate::apply::Applied;
use crate::backend::{
    Backend, Entry, Error, KvError, Page, Precondition, RenderError, RenderRequest, WriteOp,
};
use crate::compose::{Stamp, new_prompt};
use crate::input::{normalise, parse_body};
use crate::labels;
use crate::list::{ListPage, Query, list};
use crate::model::{FieldError, Prompt};
use crate::store::Selector;
use crate::store::{self, Outcome};
use crate::validate::{combine, validate};
use serde_json::{Value, json};

fn apply(b: &dyn Backend, v: Viewer, id: &str, vars: &str) -> Result<Applied, Error> {
    crate::apply::apply(b, v, id, &Selector::Current, vars)
}
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

type Hook = Box<dyn FnOnce(&Mem)>;

/// The author of the prompts `create` makes; on a free tier.
const ALICE: Viewer = Viewer {
    subject: Some("alice"),
    premium: false,
};

/// An in-memory kv with the host's semantics (entry versions, preconditions, atomic
/// transactions, ordered prefix queries with an opaque cursor) plus a toy renderer.
#[derive(Default)]
struct Mem {
    data: RefCell<BTreeMap<String, (Vec<u8>, u64)>>,
    /// One hook runs before each transaction, in order (to simulate concurrent writers).
    before_transact: RefCell<Vec<Hook>>,
    transacts: Cell<usize>,
    warnings: RefCell<Vec<String>>,
    clock: Cell<u64>,
    /// Render calls, to check the partial loop.
    renders: Cell<usize>,
}

impl Mem {
    fn raw_put(&self, key: &str, value: &[u8]) {
        let mut data = self.data.borrow_mut();
        let version = data.get(key).map_or(1, |(_, v)| v + 1);
        data.insert(key.to_owned(), (value.to_vec(), version));
    }

    fn keys(&self) -> Vec<String> {
        self.data.borrow().keys().cloned().collect()
    }

    fn on_next_transact(&self, hook: impl FnOnce(&Mem) + 'static) {
        self.before_transact.borrow_mut().push(Box::new(hook));
    }
}

fn check(
    data: &BTreeMap<String, (Vec<u8>, u64)>,
    key: &str,
    p: Precondition,
) -> Result<(), KvError> {
    let current = data.get(key).map(|(_, v)| *v);
    let ok = match p {
        Precondition::None => true,
        Precondition::Absent => current.is_none(),
        Precondition::Version(v) => current == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(KvError::Conflict(key.to_owned()))
    }
}

impl Backend for Mem {
    fn kv_get(&self, key: &str) -> Result<Option<Entry>, KvError> {
        Ok(self.data.borrow().get(key).map(|(value, version)| Entry {
            key: key.to_owned(),
            value: value.clone(),
            version: *version,
        }))
    }

    fn kv_transact(&self, ops: Vec<WriteOp>) -> Result<Vec<u64>, KvError> {
        // Take the hook out before running it: it may write (and so transact) itself.
        let hook = {
            let mut hooks = self.before_transact.borrow_mut();
            (!hooks.is_empty()).then(|| hooks.remove(0))
        };
        if let Some(hook) = hook {
            hook(self);
        }
        self.transacts.set(self.transacts.get() + 1);
        if ops.len() > 100 {
            return Err(KvError::Invalid("too many ops".into()));
        }
        let mut data = self.data.borrow_mut();
        for op in &ops {
            match op {
                WriteOp::Put {
                    key, precondition, ..
                }
                | WriteOp::Delete { key, precondition } => check(&data, key, *precondition)?,
            }
        }
        let mut versions = Vec::new();
        for op in ops {
            match op {
                WriteOp::Put { key, value, .. } => {
                    let version = data.get(&key).map_or(1, |(_, v)| v + 1);
                    data.insert(key, (value, version));
                    versions.push(version);
                }
                WriteOp::Delete { key, .. } => {
                    data.remove(&key);
                    versions.push(0);
                }
            }
        }
        Ok(versions)
    }

    fn kv_query(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> Result<Page, KvError> {
        // Opaque to the plugin: "k:" + the last key returned.
        let after = match cursor {
            None => None,
            Some(c) => Some(
                c.strip_prefix("k:")
                    .ok_or_else(|| KvError::Invalid("bad cursor".into()))?,
            ),
        };
        let limit = limit.clamp(1, 1000) as usize;
        let data = self.data.borrow();
        let mut matching = data
            .iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a))
            .map(|(k, (value, version))| Entry {
                key: k.clone(),
                value: value.clone(),
                version: *version,
            });
        let entries: Vec<Entry> = matching.by_ref().take(limit).collect();
        let next_cursor = match (matching.next(), entries.last()) {
            (Some(_), Some(last)) => Some(format!("k:{}", last.key)),
            _ => None,
        };
        Ok(Page {
            entries,
            next_cursor,
        })
    }

    /// Replaces `{{name}}` with variables and `{{> id}}` with partials; `{{!syntax}}`
    /// is a syntax error and `{{!fail}}` a failure. A partial including itself
    /// (directly) is a cycle.
    fn render(&self, request: &RenderRequest) -> Result<String, RenderError> {
        self.renders.set(self.renders.get() + 1);
        let vars: serde_json::Map<String, Value> = serde_json::from_str(&request.variables_json)
            .map_err(|e| RenderError::Failed(e.to_string()))?;
        let missing: Vec<String> = request
            .required
            .iter()
            .filter(|n| vars.get(*n).is_none_or(Value::is_null))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(RenderError::MissingVariables(missing));
        }
        let mut out = request.template.clone();
        for _ in 0..64 {
            let Some(start) = out.find("{{>") else { break };
            let end = out[start..]
                .find("}}")
                .map(|e| start + e)
                .unwrap_or(out.len());
            let name = out[start + 3..end].trim().to_owned();
            let body = request
                .partials
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| RenderError::MissingPartial(name.clone()))?;
            if body.contains(&format!("{{{{> {name}}}}}")) {
                return Err(RenderError::PartialCycle(vec![name.clone(), name]));
            }
            out.replace_range(start..end + 2, &body);
        }
        if out.contains("{{!syntax}}") {
            return Err(RenderError::Syntax {
                message: "unexpected token".into(),
                position: Some((2, 5)),
                source_name: String::new(),
            });
        }
        if out.contains("{{!fail}}") {
            return Err(RenderError::Failed("helper failed".into()));
        }
        for (name, value) in &vars {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{{{name}}}}}"), &text);
        }
        // Like Handlebars, a variable without a value renders as nothing.
        while let Some(start) = out.find("{{") {
            let end = out[start..].find("}}").map_or(out.len(), |e| start + e + 2);
            out.replace_range(start..end, "");
        }
        Ok(out)
    }

    fn warn(&self, message: &str) {
        self.warnings.borrow_mut().push(message.to_owned());
    }

    fn now(&self) -> String {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        crate::clock::format_millis(1_767_225_600_000 + t * 1000)
    }
}

fn prompt_of(json: &str) -> Prompt {
    serde_json::from_str(json).unwrap()
}

fn create(b: &Mem, v: Value) -> Prompt {
    prompt_of(&store::create(b, &v.to_string(), Some("alice")).unwrap())
}

fn fields(e: Error) -> Vec<String> {
    match e {
        Error::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected invalid, got {other:?}"),
    }
}

// ---- create / get / update / delete / versions -------------------------------------

#[test]
fn lifecycle() {
    let b = Mem::default();
    let p = create(
        &b,
        json!({"name": "Basic Template", "content": "Hi {{task}}", "variables": ["task"], "version": 9, "author": "mallory"}),
    );
    assert_eq!((p.id.as_str(), p.version), ("basic-template", 1));
    assert_eq!(p.author.as_deref(), Some("alice"));
    assert_eq!(
        b.keys(),
        ["p/basic-template", "v/basic-template/00000000000000000001"]
    );

    let got = prompt_of(&store::get(&b, ALICE, "basic-template", None).unwrap());
    assert_eq!(got, p);

    let v2 = prompt_of(
        &store::update(
            &b,
            ALICE,
            "basic-template",
            r#"{"description": "d", "version": 40}"#,
            Some(1),
        )
        .unwrap(),
    );
    assert_eq!(v2.version, 2);
    assert_eq!(v2.description.as_deref(), Some("d"));
    assert_eq!(v2.content, "Hi {{task}}");
    assert_eq!(v2.created_at, p.created_at);
    assert_ne!(v2.updated_at, p.updated_at);

    let v3 =
        prompt_of(&store::update(&b, ALICE, "basic-template", r#"{"tags": ["x"]}"#, None).unwrap());
    assert_eq!(v3.version, 3);

    assert_eq!(
        prompt_of(&store::get(&b, ALICE, "basic-template", Some(1)).unwrap()),
        p
    );
    assert_eq!(
        prompt_of(&store::get(&b, ALICE, "basic-template", Some(2)).unwrap()),
        v2
    );
    assert!(matches!(
        store::get(&b, ALICE, "basic-template", Some(0)),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store::get(&b, ALICE, "basic-template", Some(4)),
        Err(Error::NotFound(_))
    ));

    let all: Vec<Prompt> =
        serde_json::from_str(&store::versions(&b, ALICE, "basic-template").unwrap()).unwrap();
    assert_eq!(all, [p, v2, v3]);

    store::delete(&b, ALICE, "basic-template").unwrap();
    assert!(b.keys().is_empty(), "{:?}", b.keys());
    assert!(matches!(
        store::get(&b, ALICE, "basic-template", None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store::delete(&b, ALICE, "basic-template"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store::versions(&b, ALICE, "basic-template"),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn create_conflicts_on_existing_id() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    assert_eq!(
        store::create(&b, r#"{"id": "a", "name": "B", "content": "y"}"#, None),
        Err(Error::Conflict("prompt 'a' already exists".into()))
    );
}

#[test]
fn create_reports_all_problems() {
    let b = Mem::default();
    let err = store::create(
        &b,
        r#"{"name": 5, "tags": "x", "variables": ["ok", "1bad", "ok"]}"#,
        None,
    )
    .unwrap_err();
    assert_eq!(
        fields(err),
        [
            "name",
            "tags",
            "content",
            "variables[1].name",
            "variables[2].name"
        ]
    );
    assert!(b.keys().is_empty());
    assert_eq!(fields(store::create(&b, "[1]", None).unwrap_err()), [""]);
    assert_eq!(
        fields(
            store::create(&b, r#"{"id": "a/b", "name": "n", "content": "c"}"#, None).unwrap_err()
        ),
        ["id"]
    );
}

#[test]
fn anonymous_create_has_no_author() {
    let b = Mem::default();
    let p = prompt_of(&store::create(&b, r#"{"name": "n", "content": "c"}"#, None).unwrap());
    assert_eq!(p.author, None);
}

#[test]
fn update_rules() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    assert_eq!(
        store::update(&b, ALICE, "a", "{}", Some(7)),
        Err(Error::PreconditionFailed(
            "expected version 7, current is 1".into()
        ))
    );
    assert!(matches!(
        store::update(&b, ALICE, "missing", "{}", None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        store::update(&b, ALICE, "../x", "{}", None),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        fields(store::update(&b, ALICE, "a", r#"{"id": "b"}"#, None).unwrap_err()),
        ["id"]
    );
    assert_eq!(
        fields(store::update(&b, ALICE, "a", r#"{"name": ""}"#, None).unwrap_err()),
        ["name"]
    );
    // The same id in the body is fine.
    assert!(store::update(&b, ALICE, "a", r#"{"id": "a"}"#, Some(1)).is_ok());
}

#[test]
fn update_without_expected_version_retries_after_a_race() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    // Someone else updates between our read and our write.
    b.on_next_transact(|m| {
        store::update(m, ALICE, "a", r#"{"description": "theirs"}"#, None).unwrap();
    });
    let mine = prompt_of(&store::update(&b, ALICE, "a", r#"{"tags": ["mine"]}"#, None).unwrap());
    assert_eq!(mine.version, 3);
    // Both updates survive.
    assert_eq!(mine.description.as_deref(), Some("theirs"));
    assert_eq!(mine.tags, ["mine"]);
}

#[test]
fn update_with_expected_version_loses_a_race() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    b.on_next_transact(|m| {
        store::update(m, ALICE, "a", r#"{"description": "theirs"}"#, None).unwrap();
    });
    assert_eq!(
        store::update(&b, ALICE, "a", r#"{"tags": ["mine"]}"#, Some(1)),
        Err(Error::PreconditionFailed(
            "expected version 1, current is 2".into()
        ))
    );
}

#[test]
fn update_gives_up_after_repeated_conflicts() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    // A writer that always gets in first.
    for _ in 0..store::MAX_ATTEMPTS {
        b.on_next_transact(|m| {
            let value = m.data.borrow()["p/a"].0.clone();
            m.raw_put("p/a", &value);
        });
    }
    assert_eq!(
        store::update(&b, ALICE, "a", "{}", None),
        Err(Error::Conflict(
            "prompt 'a' is being modified concurrently; try again".into()
        ))
    );
}

#[test]
fn deleted_then_recreated_prompt_hides_stale_versions() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    store::update(&b, ALICE, "a", r#"{"name": "A2"}"#, None).unwrap();
    // Simulate a delete whose history cleanup did not run.
    b.data.borrow_mut().remove("p/a");
    let fresh = create(&b, json!({"id": "a", "name": "New", "content": "y"}));
    assert_eq!(fresh.version, 1);
    let all: Vec<Prompt> = serde_json::from_str(&store::versions(&b, ALICE, "a").unwrap()).unwrap();
    assert_eq!(all, [fresh]);
    assert!(matches!(
        store::get(&b, ALICE, "a", Some(2)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn delete_cleans_up_many_versions_in_batches() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    for i in 0..250 {
        store::update(
            &b,
            ALICE,
            "a",
            &json!({"description": i.to_string()}).to_string(),
            None,
        )
        .unwrap();
    }
    create(&b, json!({"id": "a2", "name": "other", "content": "x"}));
    let before = b.transacts.get();
    store::delete(&b, ALICE, "a").unwrap();
    assert_eq!(b.keys(), ["p/a2", "v/a2/00000000000000000001"]);
    // 1 head delete + ceil(251 / 99) cleanup batches.
    assert_eq!(b.transacts.get() - before, 1 + 3);
}

#[test]
fn cleanup_stops_if_the_prompt_is_recreated() {
    let b = Mem::default();
    create(&b, json!({"id": "a", "name": "A", "content": "x"}));
    store::update(&b, ALICE, "a", r#"{"name": "A2"}"#, None).unwrap();
    // Transaction 1 deletes the head; before transaction 2 (the first cleanup batch)
    // someone creates "a" again.
    b.on_next_transact(|_| {});
    b.on_next_transact(|m| {
        store::create(m, r#"{"id": "a", "name": "again", "content": "y"}"#, None).unwrap();
    });
    store::delete(&b, ALICE, "a").unwrap();
    let again = prompt_of(&store::get(&b, ALICE, "a", None).unwrap());
    assert_eq!(again.name, "again");
    // Its history is intact; the stale version 2 is left behind but invisible.
    let all: Vec<Prompt> = serde_json::from_str(&store::versions(&b, ALICE, "a").unwrap()).unwrap();
    assert_eq!(all, [again]);
    assert!(b.keys().contains(&"v/a/00000000000000000002".to_owned()));
    assert_eq!(b.warnings.borrow().len(), 1);
}

// ---- upsert -----------------------------------------------------------------------

#[test]
fn upsert_creates_then_is_idempotent_then_updates() {
    let b = Mem::default();
    let body =
        json!({"id": "x", "name": "X", "content": "Hi {{a}}", "variables": ["a"], "examples": []})
            .to_string();
    let (outcome, json) = store::upsert(&b, &body, Some("importer")).unwrap();
    assert_eq!(outcome, Outcome::Created);
    let created = prompt_of(&json);
    assert_eq!(
        (created.version, created.author.as_deref()),
        (1, Some("importer"))
    );

    let (outcome, json) = store::upsert(&b, &body, None).unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(prompt_of(&json), created);

    let changed =
        json!({"id": "x", "name": "X", "template": "Bye {{a}}", "variables": ["a"]}).to_string();
    let (outcome, json) = store::upsert(&b, &changed, None).unwrap();
    assert_eq!(outcome, Outcome::Updated);
    let updated = prompt_of(&json);
    assert_eq!(
        (updated.version, updated.content.as_str()),
        (2, "Bye {{a}}")
    );
    assert_eq!(updated.created_at, created.created_at);
    assert_eq!(updated.author.as_deref(), Some("importer"));
    assert_eq!(b.keys().len(), 3);
}

#[test]
fn upsert_handles_a_concurrent_create() {
    let b = Mem::default();
    b.on_next_transact(|m| {
        store::create(m, r#"{"id": "x", "name": "X", "content": "other"}"#, None).unwrap();
    });
    let (outcome, json) =
        store::upsert(&b, r#"{"id": "x", "name": "X", "content": "mine"}"#, None).unwrap();
    assert_eq!(outcome, Outcome::Updated);
    assert_eq!(prompt_of(&json).version, 2);
}

#[test]
fn upsert_by_a_caller_respects_access_levels() {
    let b = Mem::default();
    let tiers = vec!["premium".to_string()];
    let alice = Viewer::new("alice", "free", &tiers);
    let bob = Viewer::new("bob", "free", &tiers);
    let mine = r#"{"id": "x", "name": "X", "content": "mine", "accessLevel": "private"}"#;
    let (outcome, _) = store::upsert_as(&b, mine, Some("alice"), Some(alice)).unwrap();
    assert_eq!(outcome, Outcome::Created);
    // Someone else's private prompt is not replaced, and answers as a create would.
    let theirs = r#"{"id": "x", "name": "X", "content": "bob's"}"#;
    assert!(matches!(
        store::upsert_as(&b, theirs, Some("bob"), Some(bob)),
        Err(Error::Conflict(_))
    ));
    // The author can, and the operator (no viewer) always can.
    let (outcome, json) = store::upsert_as(&b, theirs, Some("alice"), Some(alice)).unwrap();
    assert_eq!(
        (outcome, prompt_of(&json).author.as_deref()),
        (Outcome::Updated, Some("alice"))
    );
    let premium = r#"{"id": "p", "name": "P", "content": "gold", "accessLevel": "premium"}"#;
    store::upsert(&b, premium, None).unwrap();
    assert!(matches!(
        store::upsert_as(&b, premium, Some("bob"), Some(bob)),
        Err(Error::Forbidden(_))
    ));
    let gold = Viewer::new("carol", "premium", &tiers);
    let (outcome, _) = store::upsert_as(&b, premium, Some("carol"), Some(gold)).unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
}

// ---- list -------------------------------------------------------------------------

fn seed(b: &Mem, n: usize) {
    for i in 0..n {
        let tags = if i % 3 == 0 {
            json!(["Even3", "all"])
        } else {
            json!(["all"])
        };
        create(
            b,
            json!({
                "id": format!("p{i:03}"), "name": format!("Prompt {i}"), "content": format!("body {i}"),
                "tags": tags, "category": if i % 2 == 0 { "Dev" } else { "ops" },
                "accessLevel": if i % 5 == 0 { "premium" } else { "public" }
            }),
        );
    }
}

fn page_ids(page: &ListPage) -> Vec<String> {
    page.prompts.iter().map(|p| p.id.clone()).collect()
}

/// Walks every page and returns (ids, number of pages).
fn walk(b: &Mem, mut q: Query) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = list(b, ALICE, &q).unwrap();
        pages += 1;
        assert!(page.prompts.len() <= q.limit as usize);
        if page.next_cursor.is_some() {
            assert_eq!(
                page.prompts.len(),
                q.limit as usize,
                "short page before the end"
            );
        }
        ids.extend(page_ids(&page));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return (ids, pages),
        }
        assert!(pages < 1000);
    }
}

#[test]
fn list_pages_without_duplicates_or_gaps() {
    let b = Mem::default();
    seed(&b, 37);
    let all: Vec<String> = (0..37).map(|i| format!("p{i:03}")).collect();
    for limit in [1, 5, 10, 37, 100] {
        let (ids, pages) = walk(
            &b,
            Query {
                limit,
                ..Query::default()
            },
        );
        assert_eq!(ids, all, "limit {limit}");
        assert_eq!(pages, 37usize.div_ceil(limit as usize), "limit {limit}");
    }
}

#[test]
fn list_filters_fill_pages() {
    let b = Mem::default();
    seed(&b, 40);
    let expected: Vec<String> = (0..40)
        .filter(|i| i % 3 == 0 && i % 2 == 0)
        .map(|i| format!("p{i:03}"))
        .collect();
    for limit in [1, 2, 3, 7] {
        let q = Query {
            category: Some("dev".into()),
            tags: vec!["even3".into()],
            limit,
            ..Query::default()
        };
        let (ids, pages) = walk(&b, q);
        assert_eq!(ids, expected, "limit {limit}");
        assert_eq!(
            pages,
            expected.len().div_ceil(limit as usize),
            "limit {limit}"
        );
    }
    let premium = walk(
        &b,
        Query {
            access_level: Some("premium".into()),
            limit: 3,
            ..Query::default()
        },
    )
    .0;
    assert_eq!(
        premium,
        [
            "p000", "p005", "p010", "p015", "p020", "p025", "p030", "p035"
        ]
    );
    let text = walk(
        &b,
        Query {
            text: Some("PROMPT 1".into()),
            limit: 4,
            ..Query::default()
        },
    )
    .0;
    assert_eq!(text.len(), 11); // 1, 10..=19
    let none = list(
        &b,
        ALICE,
        &Query {
            text: Some("nope".into()),
            limit: 5,
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!((none.prompts.len(), none.next_cursor), (0, None));
}

#[test]
fn list_resumes_after_concurrent_inserts_and_deletes() {
    let b = Mem::default();
    seed(&b, 10);
    let first = list(
        &b,
        ALICE,
        &Query {
            limit: 4,
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(page_ids(&first), ["p000", "p001", "p002", "p003"]);
    store::delete(&b, ALICE, "p003").unwrap();
    store::delete(&b, ALICE, "p004").unwrap();
    create(&b, json!({"id": "p0035", "name": "late", "content": "c"}));
    let next = list(
        &b,
        ALICE,
        &Query {
            limit: 4,
            cursor: first.next_cursor,
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(page_ids(&next), ["p0035", "p005", "p006", "p007"]);
}

#[test]
fn list_rejects_bad_input() {
    let b = Mem::default();
    seed(&b, 3);
    for cursor in ["zz", "", "6a2f"] {
        let q = Query {
            cursor: Some(cursor.into()),
            limit: 2,
            ..Query::default()
        };
        assert_eq!(
            fields(list(&b, ALICE, &q).unwrap_err()),
            ["cursor"],
            "{cursor}"
        );
    }
    // A well-formed cursor whose kv part the store rejects.
    let forged = crate::cursor::encode(&crate::cursor::ListCursor {
        kv_cursor: Some("bogus".into()),
        after_id: "p000".into(),
    });
    assert_eq!(
        fields(
            list(
                &b,
                ALICE,
                &Query {
                    cursor: Some(forged),
                    limit: 2,
                    ..Query::default()
                }
            )
            .unwrap_err()
        ),
        ["cursor"]
    );
    let q = Query {
        access_level: Some("secret".into()),
        limit: 2,
        ..Query::default()
    };
    assert_eq!(fields(list(&b, ALICE, &q).unwrap_err()), ["accessLevel"]);
}

#[test]
fn list_limit_defaults_and_caps() {
    let b = Mem::default();
    seed(&b, 120);
    assert_eq!(
        list(&b, ALICE, &Query::default()).unwrap().prompts.len(),
        20
    );
    assert_eq!(
        list(
            &b,
            ALICE,
            &Query {
                limit: 1000,
                ..Query::default()
            }
        )
        .unwrap()
        .prompts
        .len(),
        100
    );
}

#[test]
fn list_skips_corrupt_entries_with_a_warning() {
    let b = Mem::default();
    seed(&b, 3);
    b.raw_put("p/p001", b"not json");
    let page = list(
        &b,
        ALICE,
        &Query {
            limit: 10,
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(page_ids(&page), ["p000", "p002"]);
    assert_eq!(b.warnings.borrow().len(), 1);
    let json: Value = serde_json::from_str(&crate::list::to_json(&page).unwrap()).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
}

// ---- apply ------------------------------------------------------------------------

fn applied(b: &Mem, id: &str, vars: Value) -> Result<Applied, Error> {
    apply(b, ALICE, id, &vars.to_string())
}

#[test]
fn apply_uses_defaults_and_reports_variables() {
    let b = Mem::default();
    create(
        &b,
        json!({"id": "t", "name": "T", "content": "{{greeting}} {{who}}{{extra}} {{free}}", "variables": [
            {"name": "greeting", "default": "Hello"},
            "who",
            {"name": "extra", "required": false},
            {"name": "opt", "required": false, "default": 3}
        ]}),
    );
    let out = applied(&b, "t", json!({"who": "Ann", "free": "!"})).unwrap();
    assert_eq!(out.content, "Hello Ann !");
    assert_eq!(out.applied_variables, ["free", "greeting", "opt", "who"]);
    assert_eq!(out.missing_variables, ["extra"]);
}

#[test]
fn apply_reports_every_missing_required_variable() {
    let b = Mem::default();
    create(
        &b,
        json!({"id": "t", "name": "T", "content": "{{b}} {{a}}", "variables": ["b", "a", "c"]}),
    );
    assert_eq!(
        applied(&b, "t", json!({"c": "x", "a": null})),
        Err(Error::MissingVariables(vec!["a".into(), "b".into()]))
    );
    assert_eq!(b.renders.get(), 0);
    assert_eq!(
        fields(applied(&b, "t", json!([1])).unwrap_err()),
        ["variables"]
    );
    assert_eq!(
        fields(apply(&b, ALICE, "t", "{oops").unwrap_err()),
        ["variables"]
    );
    assert!(matches!(
        apply(&b, ALICE, "t", " "),
        Err(Error::MissingVariables(_))
    ));
    assert!(matches!(
        applied(&b, "nope", json!({})),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn apply_fetches_partials() {
    let b = Mem::default();
    create(
        &b,
        json!({"id": "header", "name": "H", "content": "[{{title}}]"}),
    );
    create(
        &b,
        json!({"id": "main", "name": "M", "content": "{{> header}} body"}),
    );
    let out = applied(&b, "main", json!({"title": "T"})).unwrap();
    assert_eq!(out.content, "[T] body");
    assert_eq!(out.applied_variables, ["title"]);
    assert_eq!(b.renders.get(), 2);

    create(
        &b,
        json!({"id": "broken", "name": "B", "content": "{{> nowhere}}"}),
    );
    assert_eq!(
        applied(&b, "broken", json!({})),
        Err(Error::RenderFailed("partial 'nowhere' not found".into()))
    );
    create(
        &b,
        json!({"id": "self", "name": "S", "content": "x {{> self}}"}),
    );
    assert_eq!(
        applied(&b, "self", json!({})),
        Err(Error::RenderFailed("partial cycle: self -> self".into()))
    );
}

#[test]
fn apply_caps_the_number_of_partials() {
    let b = Mem::default();
    let mut content = String::new();
    for i in 0..40 {
        create(
            &b,
            json!({"id": format!("c{i}"), "name": "c", "content": "x"}),
        );
        content.push_str(&format!("{{{{> c{i}}}}}"));
    }
    create(
        &b,
        json!({"id": "many", "name": "many", "content": content}),
    );
    assert_eq!(
        applied(&b, "many", json!({})),
        Err(Error::RenderFailed(
            "too many partials (more than 32)".into()
        ))
    );
    assert_eq!(b.renders.get(), 33);
    // 32 are fine.
    create(
        &b,
        json!({"id": "enough", "name": "enough", "content": content[..content.find("{{> c32}}").unwrap()]}),
    );
    assert_eq!(
        applied(&b, "enough", json!({})).unwrap().content,
        "x".repeat(32)
    );
}

#[test]
fn apply_maps_renderer_errors() {
    let b = Mem::default();
    create(
        &b,
        json!({"id": "s", "name": "S", "content": "a {{!syntax}}"}),
    );
    assert_eq!(
        applied(&b, "s", json!({})),
        Err(Error::RenderFailed(
            "syntax error in template at 2:5: unexpected token".into()
        ))
    );
    create(
        &b,
        json!({"id": "f", "name": "F", "content": "a {{!fail}}"}),
    );
    assert_eq!(
        applied(&b, "f", json!({})),
        Err(Error::RenderFailed("helper failed".into()))
    );
}

// ---- the real catalog ---------------------------------------------------------------

fn catalog() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/catalog");
    let Ok(read) = std::fs::read_dir(&dir) else {
        eprintln!("catalog not found at {}; skipping", dir.display());
        return Vec::new();
    };
    let mut files: Vec<_> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn catalog_files_normalise_and_validate_cleanly() {
    let stamp = Stamp {
        now: "2026-01-01T00:00:00.000Z",
        author: None,
        by: None,
    };
    for (path, text) in catalog() {
        let parsed = parse_body(&text).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        let (prompt, id_errors) = new_prompt(parsed.draft, &stamp);
        let mut errors: Vec<FieldError> = parsed.errors;
        errors.extend(id_errors);
        let errors = combine(errors, validate(&prompt));
        assert!(errors.is_empty(), "{path}: {errors:?}");

        // Nothing the file says about the prompt itself is lost.
        let raw: Value = serde_json::from_str(&text).unwrap();
        let obj = raw.as_object().unwrap();
        assert_eq!(Some(prompt.id.as_str()), obj["id"].as_str(), "{path}");
        assert_eq!(
            Some(prompt.content.as_str()),
            obj["content"].as_str(),
            "{path}"
        );
        let names: Vec<&str> = prompt.variables.iter().map(|v| v.name.as_str()).collect();
        let raw_names: Vec<&str> = obj
            .get("variables")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(names, raw_names, "{path}");
        if obj.contains_key("categories") && !obj.contains_key("category") {
            assert!(prompt.category.is_some(), "{path}");
        }
        assert_eq!(normalise(obj).errors, vec![], "{path}");
    }
}

#[test]
fn catalog_imports_lists_and_re_imports_unchanged() {
    let b = Mem::default();
    let files = catalog();
    for (path, text) in &files {
        let (outcome, _) =
            store::upsert(&b, text, None).unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(outcome, Outcome::Created, "{path}");
    }
    for (path, text) in &files {
        let (outcome, _) = store::upsert(&b, text, None).unwrap();
        assert_eq!(outcome, Outcome::Unchanged, "{path}");
    }
    let (ids, _) = walk(
        &b,
        Query {
            limit: 7,
            ..Query::default()
        },
    );
    assert_eq!(ids.len(), files.len());
    let sorted: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(sorted.len(), ids.len());
    if !files.is_empty() {
        let tagged = walk(
            &b,
            Query {
                tags: vec!["DOCKER".into()],
                limit: 2,
                ..Query::default()
            },
        )
        .0;
        assert!(!tagged.is_empty());
        let out = applied(
            &b,
            "basic-template",
            json!({"task": "testing", "context": "none"}),
        )
        .unwrap();
        assert!(out.content.starts_with("You are assisting with testing."));
        assert_eq!(out.applied_variables, ["context", "task"]);
    }
}

// ---- access levels ------------------------------------------------------------------

const BOB: Viewer = Viewer {
    subject: Some("bob"),
    premium: false,
};
const CAROL_PREMIUM: Viewer = Viewer {
    subject: Some("carol"),
    premium: true,
};
const ANON: Viewer = Viewer::ANONYMOUS;

/// Alice's prompts: `pub` (public), `priv` (private), `prem` (premium), each a template
/// including nothing; plus `inc-priv` / `inc-prem`, public templates including them.
fn access_fixture() -> Mem {
    let b = Mem::default();
    for (id, level) in [("pub", "public"), ("priv", "private"), ("prem", "premium")] {
        create(
            &b,
            json!({"id": id, "name": id, "content": format!("{id} body"), "accessLevel": level}),
        );
    }
    create(
        &b,
        json!({"id": "inc-priv", "name": "n", "content": "[{{> priv}}]", "isTemplate": true}),
    );
    create(
        &b,
        json!({"id": "inc-prem", "name": "n", "content": "[{{> prem}}]", "isTemplate": true}),
    );
    b
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("prompt '{id}' not found"))
}

fn premium_required(id: &str) -> Error {
    Error::Forbidden(format!("prompt '{id}' requires a premium subscription"))
}

#[test]
fn get_and_versions_obey_access_levels() {
    let b = access_fixture();
    for v in [ALICE, BOB, CAROL_PREMIUM, ANON] {
        assert!(store::get(&b, v, "pub", None).is_ok());
        assert!(store::versions(&b, v, "pub").is_ok());
    }
    assert!(store::get(&b, ALICE, "priv", None).is_ok());
    assert!(store::get(&b, ALICE, "prem", Some(1)).is_ok());
    assert!(store::get(&b, CAROL_PREMIUM, "prem", None).is_ok());
    for v in [BOB, CAROL_PREMIUM, ANON] {
        assert_eq!(store::get(&b, v, "priv", None), Err(not_found("priv")));
        assert_eq!(store::versions(&b, v, "priv"), Err(not_found("priv")));
    }
    for v in [BOB, ANON] {
        assert_eq!(
            store::get(&b, v, "prem", None),
            Err(premium_required("prem"))
        );
        assert_eq!(
            store::versions(&b, v, "prem"),
            Err(premium_required("prem"))
        );
    }
}

#[test]
fn past_private_versions_stay_private() {
    let b = access_fixture();
    store::update(&b, ALICE, "priv", r#"{"accessLevel": "public"}"#, None).unwrap();
    // Now public: Bob reads the current version, but not what it held while private.
    assert!(store::get(&b, BOB, "priv", None).is_ok());
    assert_eq!(
        store::get(&b, BOB, "priv", Some(1)),
        Err(Error::NotFound("prompt 'priv' has no version 1".into()))
    );
    let seen: Vec<Prompt> =
        serde_json::from_str(&store::versions(&b, BOB, "priv").unwrap()).unwrap();
    assert_eq!(seen.iter().map(|p| p.version).collect::<Vec<_>>(), [2]);
    let all: Vec<Prompt> =
        serde_json::from_str(&store::versions(&b, ALICE, "priv").unwrap()).unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn writes_need_visibility() {
    let b = access_fixture();
    for v in [BOB, CAROL_PREMIUM, ANON] {
        assert_eq!(
            store::update(&b, v, "priv", r#"{"name": "x"}"#, None),
            Err(not_found("priv"))
        );
        assert_eq!(
            store::update(&b, v, "priv", r#"{"name": "x"}"#, Some(1)),
            Err(not_found("priv"))
        );
        assert_eq!(store::delete(&b, v, "priv"), Err(not_found("priv")));
    }
    for v in [BOB, ANON] {
        assert_eq!(
            store::update(&b, v, "prem", r#"{"name": "x"}"#, None),
            Err(premium_required("prem"))
        );
        assert_eq!(store::delete(&b, v, "prem"), Err(premium_required("prem")));
    }
    // Untouched by the refused writes.
    assert_eq!(
        prompt_of(&store::get(&b, ALICE, "priv", None).unwrap()).version,
        1
    );
    let p = prompt_of(&store::update(&b, CAROL_PREMIUM, "prem", r#"{"name": "x"}"#, None).unwrap());
    assert_eq!((p.version, p.author.as_deref()), (2, Some("alice")));
    store::update(&b, ALICE, "priv", r#"{"name": "mine"}"#, None).unwrap();
    store::delete(&b, ALICE, "priv").unwrap();
    store::delete(&b, CAROL_PREMIUM, "prem").unwrap();
}

#[test]
fn a_level_change_by_a_racing_writer_is_honoured() {
    let b = access_fixture();
    // Between Bob's read and his write, Alice makes `pub` private: his retry must see it.
    b.on_next_transact(|m| {
        store::update(m, ALICE, "pub", r#"{"accessLevel": "private"}"#, None).unwrap();
    });
    assert_eq!(
        store::update(&b, BOB, "pub", r#"{"name": "x"}"#, None),
        Err(not_found("pub"))
    );
}

#[test]
fn private_prompts_need_an_author() {
    let b = Mem::default();
    assert_eq!(
        fields(
            store::create(
                &b,
                r#"{"id": "x", "name": "n", "content": "c", "accessLevel": "private"}"#,
                None
            )
            .unwrap_err()
        ),
        ["accessLevel"]
    );
    // Premium without an author is fine: premium tiers can read it.
    store::create(
        &b,
        r#"{"id": "y", "name": "n", "content": "c", "accessLevel": "premium"}"#,
        None,
    )
    .unwrap();
    // An anonymous prompt cannot be made private later either.
    store::create(&b, r#"{"id": "z", "name": "n", "content": "c"}"#, None).unwrap();
    assert_eq!(
        fields(store::update(&b, BOB, "z", r#"{"accessLevel": "private"}"#, None).unwrap_err()),
        ["accessLevel"]
    );
    assert_eq!(
        fields(
            store::upsert(
                &b,
                r#"{"id": "z", "name": "n", "content": "c", "accessLevel": "private"}"#,
                None
            )
            .unwrap_err()
        ),
        ["accessLevel"]
    );
    // With an author it works, on create and on import.
    store::create(
        &b,
        r#"{"id": "w", "name": "n", "content": "c", "accessLevel": "private"}"#,
        Some("bob"),
    )
    .unwrap();
}

#[test]
fn apply_checks_the_prompt_and_every_partial() {
    let b = access_fixture();
    assert_eq!(
        applied(&b, "inc-priv", json!({})).unwrap().content,
        "[priv body]"
    );
    assert_eq!(
        apply(&b, CAROL_PREMIUM, "inc-prem", "{}").unwrap().content,
        "[prem body]"
    );
    for v in [BOB, CAROL_PREMIUM, ANON] {
        assert_eq!(apply(&b, v, "priv", "{}"), Err(not_found("priv")));
        // Same answer as a partial that does not exist: no leak.
        assert_eq!(
            apply(&b, v, "inc-priv", "{}"),
            Err(Error::RenderFailed("partial 'priv' not found".into()))
        );
    }
    for v in [BOB, ANON] {
        assert_eq!(apply(&b, v, "prem", "{}"), Err(premium_required("prem")));
        assert_eq!(
            apply(&b, v, "inc-prem", "{}"),
            Err(Error::Forbidden(
                "partial 'prem' requires a premium subscription".into()
            ))
        );
    }
}

#[test]
fn lists_hide_what_the_caller_cannot_read_and_stay_full() {
    let b = Mem::default();
    // 30 prompts by alice; every third private, every fifth (not private) premium.
    for i in 0..30 {
        let level = if i % 3 == 0 {
            "private"
        } else if i % 5 == 0 {
            "premium"
        } else {
            "public"
        };
        create(
            &b,
            json!({"id": format!("q{i:02}"), "name": "n", "content": "c", "accessLevel": level}),
        );
    }
    let expect = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..30)
            .filter(|i| keep(*i))
            .map(|i| format!("q{i:02}"))
            .collect()
    };
    let public = expect(&|i| i % 3 != 0 && i % 5 != 0);
    let with_premium = expect(&|i| i % 3 != 0);
    for limit in [1, 3, 4, 7] {
        let q = Query {
            limit,
            ..Query::default()
        };
        for (viewer, want) in [
            (ANON, &public),
            (BOB, &public),
            (CAROL_PREMIUM, &with_premium),
        ] {
            let (ids, pages) = walk_as(&b, viewer, q.clone());
            assert_eq!(&ids, want, "limit {limit} {viewer:?}");
            // Full pages: exactly ceil(n / limit), no short page before the end.
            assert_eq!(pages, want.len().div_ceil(limit as usize));
        }
        let (ids, _) = walk_as(&b, ALICE, q);
        assert_eq!(ids.len(), 30);
    }
    // Asking for private prompts lists only your own.
    let q = Query {
        access_level: Some("private".into()),
        ..Query::default()
    };
    assert!(list(&b, BOB, &q).unwrap().prompts.is_empty());
    assert_eq!(list(&b, ALICE, &q).unwrap().prompts.len(), 10);
}

fn walk_as(b: &Mem, viewer: Viewer, mut q: Query) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = list(b, viewer, &q).unwrap();
        pages += 1;
        assert!(pages < 100, "listing does not end");
        ids.extend(page_ids(&page));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return (ids, pages),
        }
    }
}

fn labels_of(b: &Mem, id: &str) -> Vec<(String, u64)> {
    labels::list(b, ALICE, id)
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.version))
        .collect()
}

fn three_versions(b: &Mem) {
    create(b, json!({"id": "lp", "name": "L", "content": "v1"}));
    store::update(b, ALICE, "lp", r#"{"content": "v2"}"#, None).unwrap();
    store::update(b, ALICE, "lp", r#"{"content": "v3"}"#, None).unwrap();
}

#[test]
fn labels_point_move_and_resolve_with_fallback() {
    let b = Mem::default();
    three_versions(&b);
    assert_eq!(labels_of(&b, "lp"), [("latest".to_owned(), 3)]);
    let prod = || vec!["production".to_owned(), "latest".to_owned()];
    // No production yet: the default falls back to latest.
    let (l, p) = labels::resolve(&b, ALICE, "lp", &prod()).unwrap();
    assert_eq!((l.as_str(), p.version), ("latest", 3));

    labels::set(&b, ALICE, "lp", "production", 1, None, Some("alice")).unwrap();
    let (l, p) = labels::resolve(&b, ALICE, "lp", &prod()).unwrap();
    assert_eq!((l.as_str(), p.content.as_str()), ("production", "v1"));

    // If-Match on the label's current version.
    assert!(matches!(
        labels::set(&b, ALICE, "lp", "production", 2, Some(3), None),
        Err(Error::PreconditionFailed(_))
    ));
    labels::set(&b, ALICE, "lp", "production", 2, Some(1), Some("bob")).unwrap();
    // Setting it where it is writes no history.
    labels::set(&b, ALICE, "lp", "production", 2, None, Some("bob")).unwrap();
    assert_eq!(
        labels_of(&b, "lp"),
        [("latest".to_owned(), 3), ("production".to_owned(), 2)]
    );
    assert_eq!(
        labels::pointing_at(&b, ALICE, "lp", 2).unwrap(),
        ["production"]
    );

    assert_eq!(
        labels::remove(&b, ALICE, "lp", "production", Some(2), None),
        Ok(2)
    );
    assert!(matches!(
        labels::remove(&b, ALICE, "lp", "production", None, None),
        Err(Error::NotFound(_))
    ));
    let (l, _) = labels::resolve(&b, ALICE, "lp", &prod()).unwrap();
    assert_eq!(l, "latest");

    let h = labels::history(&b, ALICE, "lp", "production", None, 0).unwrap();
    let moves: Vec<_> = h
        .moves
        .iter()
        .map(|m| (m.from, m.to, m.by.clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (None, Some(1), Some("alice".to_owned())),
            (Some(1), Some(2), Some("bob".to_owned())),
            (Some(2), None, None),
        ]
    );
    // Re-adding after a removal continues the history.
    labels::set(&b, ALICE, "lp", "production", 3, None, None).unwrap();
    let h = labels::history(&b, ALICE, "lp", "production", None, 2).unwrap();
    assert_eq!(h.moves.len(), 2);
    let rest = labels::history(&b, ALICE, "lp", "production", h.next_cursor.as_deref(), 2).unwrap();
    assert_eq!(rest.moves.len(), 2);
    assert_eq!(rest.moves[1].to, Some(3));
    assert_eq!(rest.next_cursor, None);
}

#[test]
fn label_bad_input() {
    let b = Mem::default();
    three_versions(&b);
    for bad in ["latest", "Prod", "", "a/b", &"x".repeat(65)] {
        assert!(
            matches!(
                labels::set(&b, ALICE, "lp", bad, 1, None, None),
                Err(Error::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    for n in [0, 4] {
        assert!(matches!(
            labels::set(&b, ALICE, "lp", "staging", n, None, None),
            Err(Error::NotFound(_))
        ));
    }
    assert!(matches!(
        labels::set(&b, ALICE, "nope", "staging", 1, None, None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        labels::resolve(&b, ALICE, "lp", &["staging".to_owned()]),
        Err(Error::NotFound(m)) if m.contains("staging")
    ));
    // If-Match on a label that does not exist.
    assert!(matches!(
        labels::set(&b, ALICE, "lp", "staging", 1, Some(1), None),
        Err(Error::PreconditionFailed(_))
    ));
    for i in 0..labels::MAX_LABELS {
        labels::set(&b, ALICE, "lp", &format!("l{i}"), 1, None, None).unwrap();
    }
    assert!(matches!(
        labels::set(&b, ALICE, "lp", "one-too-many", 1, None, None),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn labels_of_a_deleted_prompt_do_not_attach_to_its_successor() {
    let b = Mem::default();
    three_versions(&b);
    labels::set(&b, ALICE, "lp", "production", 2, None, None).unwrap();
    // A cleanup that stopped early leaves label and history entries behind.
    let leftovers: Vec<_> = b
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("l/") || k.starts_with("h/"))
        .map(|k| (k.clone(), b.kv_get(&k).unwrap().unwrap().value))
        .collect();
    store::delete(&b, ALICE, "lp").unwrap();
    assert!(b.keys().iter().all(|k| !k.contains("lp")), "{:?}", b.keys());
    for (k, v) in &leftovers {
        b.raw_put(k, v);
    }
    create(&b, json!({"id": "lp", "name": "L", "content": "new"}));
    store::update(&b, ALICE, "lp", r#"{"content": "new2"}"#, None).unwrap();
    assert_eq!(labels_of(&b, "lp"), [("latest".to_owned(), 2)]);
    let h = labels::history(&b, ALICE, "lp", "production", None, 0).unwrap();
    assert!(h.moves.is_empty());
    labels::set(&b, ALICE, "lp", "production", 1, None, None).unwrap();
    let h = labels::history(&b, ALICE, "lp", "production", None, 0).unwrap();
    assert_eq!(h.moves.len(), 1);
    assert_eq!(h.moves[0].from, None);
}

#[test]
fn apply_at_a_label_renders_that_version() {
    let b = Mem::default();
    three_versions(&b);
    labels::set(&b, ALICE, "lp", "production", 1, None, None).unwrap();
    let at = Selector::Labels(vec!["production".into(), "latest".into()]);
    let a = crate::apply::apply(&b, ALICE, "lp", &at, "{}").unwrap();
    assert_eq!(a.content, "v1");
    let a = crate::apply::apply(&b, ALICE, "lp", &Selector::Version(2), "{}").unwrap();
    assert_eq!(a.content, "v2");
}

#[test]
fn versions_carry_message_and_writer_and_delete_only_when_unlabelled() {
    let b = Mem::default();
    store::create(
        &b,
        r#"{"id": "m", "name": "M", "content": "a", "message": "first"}"#,
        Some("alice"),
    )
    .unwrap();
    let bob = Viewer {
        subject: Some("bob"),
        premium: false,
    };
    let p2 = prompt_of(
        &store::update(
            &b,
            bob,
            "m",
            r#"{"content": "b", "message": "fix typo"}"#,
            None,
        )
        .unwrap(),
    );
    assert_eq!(p2.message.as_deref(), Some("fix typo"));
    assert_eq!(p2.version_author.as_deref(), Some("bob"));
    assert_eq!(p2.author.as_deref(), Some("alice"));
    // The message is not inherited by the next version.
    let p3 = prompt_of(&store::update(&b, ALICE, "m", r#"{"content": "c"}"#, None).unwrap());
    assert_eq!(p3.message, None);
    let v1 = prompt_of(&store::get(&b, ALICE, "m", Some(1)).unwrap());
    assert_eq!(
        (v1.message.as_deref(), v1.version_author.as_deref()),
        (Some("first"), Some("alice"))
    );
    assert_eq!(
        fields(
            store::update(
                &b,
                ALICE,
                "m",
                &json!({"message": "x".repeat(1001)}).to_string(),
                None
            )
            .unwrap_err()
        ),
        ["message"]
    );

    labels::set(&b, ALICE, "m", "production", 1, None, None).unwrap();
    labels::set(&b, ALICE, "m", "staging", 1, None, None).unwrap();
    match labels::delete_version(&b, ALICE, "m", 1) {
        Err(Error::Conflict(m)) => assert!(m.contains("production, staging"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        labels::delete_version(&b, ALICE, "m", 3),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        labels::delete_version(&b, ALICE, "m", 9),
        Err(Error::NotFound(_))
    ));
    labels::delete_version(&b, ALICE, "m", 2).unwrap();
    assert!(matches!(
        store::get(&b, ALICE, "m", Some(2)),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        labels::set(&b, ALICE, "m", "canary", 2, None, None),
        Err(Error::NotFound(_))
    ));
    let all: Vec<Prompt> = serde_json::from_str(&store::versions(&b, ALICE, "m").unwrap()).unwrap();
    assert_eq!(all.iter().map(|p| p.version).collect::<Vec<_>>(), [1, 3]);
    // A label moved onto the version while it is being deleted wins: the delete retries
    // and then refuses.
    labels::remove(&b, ALICE, "m", "production", None, None).unwrap();
    labels::remove(&b, ALICE, "m", "staging", None, None).unwrap();
    b.on_next_transact(|b| {
        labels::set(b, ALICE, "m", "canary", 1, None, None).unwrap();
    });
    let before = b.transacts.get();
    assert!(
        matches!(labels::delete_version(&b, ALICE, "m", 1), Err(Error::Conflict(m)) if m.contains("canary"))
    );
    // The hook's move plus the delete's first (conflicting) attempt.
    assert_eq!(b.transacts.get() - before, 2);
}

// ---- chat prompts --------------------------------------------------------------------

fn chat_prompt(b: &Mem) -> Prompt {
    create(
        b,
        json!({"id": "c", "name": "C", "type": "chat", "variables": ["topic"], "messages": [
            {"role": "system", "content": "You explain {{topic}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "Now {{topic}} with {{> footer}}"}
        ]}),
    )
}

#[test]
fn chat_apply_renders_every_message_and_fills_placeholders() {
    let b = Mem::default();
    create(
        &b,
        json!({"id": "footer", "name": "F", "content": "examples"}),
    );
    let p = chat_prompt(&b);
    assert_eq!(p.kind, crate::model::PromptType::Chat);
    let out = applied(
        &b,
        "c",
        json!({"topic": "tides", "history": [
            {"role": "user", "content": "{{topic}} raw"},
            {"role": "assistant", "content": "ok"}
        ]}),
    )
    .unwrap();
    let messages = out.messages.unwrap();
    let texts: Vec<String> = messages
        .iter()
        .map(|m| m.content.texts().concat())
        .collect();
    let got: Vec<(&str, &str)> = messages
        .iter()
        .zip(&texts)
        .map(|(m, t)| (m.role.as_str(), t.as_str()))
        .collect();
    // Every stored message went through the renderer; the fill did not.
    assert_eq!(
        got,
        [
            ("system", "You explain tides."),
            ("user", "{{topic}} raw"),
            ("assistant", "ok"),
            ("user", "Now tides with examples"),
        ]
    );
    assert_eq!(b.renders.get(), 3, "two messages, one partial round trip");
    assert_eq!(out.applied_variables, ["topic"]);
    assert_eq!(
        out.content,
        "You explain tides.\n\n{{topic}} raw\n\nok\n\nNow tides with examples"
    );
}

#[test]
fn chat_apply_names_missing_and_malformed_placeholders() {
    let b = Mem::default();
    chat_prompt(&b);
    assert_eq!(
        applied(&b, "c", json!({})),
        Err(Error::MissingVariables(vec![
            "history".into(),
            "topic".into()
        ]))
    );
    assert_eq!(
        fields(applied(&b, "c", json!({"topic": "t", "history": "hi"})).unwrap_err()),
        ["variables.history"]
    );
    assert_eq!(
        fields(
            applied(
                &b,
                "c",
                json!({"topic": "t", "history": [{"role": "tool", "content": "x"}]})
            )
            .unwrap_err()
        ),
        ["variables.history[0].role"]
    );
}

#[test]
fn chat_type_is_fixed_and_shapes_are_checked() {
    let b = Mem::default();
    chat_prompt(&b);
    let e = store::update(&b, ALICE, "c", r#"{"type": "text", "content": "x"}"#, None);
    assert_eq!(fields(e.unwrap_err()), ["type", "content"]);
    let e = store::update(&b, ALICE, "c", r#"{"content": "x"}"#, None);
    assert_eq!(fields(e.unwrap_err()), ["content"]);
    let ok = store::update(
        &b,
        ALICE,
        "c",
        r#"{"messages": [{"role": "user", "content": "only"}]}"#,
        None,
    )
    .unwrap();
    assert_eq!(prompt_of(&ok).version, 2);

    create(&b, json!({"id": "t", "name": "T", "content": "x"}));
    let e = store::update(&b, ALICE, "t", r#"{"type": "chat"}"#, None);
    assert_eq!(fields(e.unwrap_err()), ["type"]);
    let e = store::update(
        &b,
        ALICE,
        "t",
        r#"{"messages": [{"role": "user", "content": "x"}]}"#,
        None,
    );
    assert_eq!(fields(e.unwrap_err()), ["messages"]);

    let e = store::create(
        &b,
        r#"{"id": "u", "name": "U", "type": "chat", "messages": [{"role": "robot", "content": "x"}]}"#,
        None,
    );
    let Err(Error::Invalid(errors)) = e else {
        panic!("unknown role accepted");
    };
    assert_eq!(errors[0].field, "messages[0].role");
    assert!(errors[0].message.contains("'robot'"));
    let e = store::create(&b, r#"{"id": "u", "name": "U", "type": "chat"}"#, None);
    assert_eq!(fields(e.unwrap_err()), ["messages"]);
    let e = store::create(&b, r#"{"id": "u", "name": "U", "type": "voice"}"#, None);
    assert_eq!(fields(e.unwrap_err())[0], "type");

    // Import refuses a type change as update does, and compares messages.
    let body = r#"{"id": "c", "name": "C", "content": "x"}"#;
    assert_eq!(fields(store::upsert(&b, body, None).unwrap_err()), ["type"]);
    let same = r#"{"id": "c", "name": "C", "type": "chat", "isTemplate": true, "variables": ["topic"], "messages": [{"role": "user", "content": "only"}]}"#;
    assert_eq!(store::upsert(&b, same, None).unwrap().0, Outcome::Unchanged);
}

#[test]
fn chat_prompts_are_not_partials_but_are_searchable() {
    let b = Mem::default();
    chat_prompt(&b);
    create(&b, json!({"id": "t", "name": "T", "content": "{{> c}}"}));
    assert!(matches!(
        applied(&b, "t", json!({})),
        Err(Error::RenderFailed(m)) if m.contains("chat prompt")
    ));
    let page = list(
        &b,
        ALICE,
        &Query {
            text: Some("EXPLAIN".into()),
            limit: 10,
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(page.prompts.len(), 1);
    assert_eq!(page.prompts[0].id, "c");
}

// ---- config --------------------------------------------------------------------------

#[test]
fn config_is_versioned_returned_by_apply_and_size_limited() {
    let b = Mem::default();
    let p = create(
        &b,
        json!({"id": "k", "name": "K", "content": "x", "config": {"model": "m1", "temperature": 0.2}}),
    );
    assert_eq!(p.config.as_ref().unwrap()["model"], "m1");
    let v2 = store::update(&b, ALICE, "k", r#"{"config": {"model": "m2"}}"#, None).unwrap();
    assert_eq!(prompt_of(&v2).config.unwrap()["model"], "m2");
    // Absent keeps it; null removes it.
    let v3 = store::update(&b, ALICE, "k", r#"{"name": "K3"}"#, None).unwrap();
    assert_eq!(prompt_of(&v3).config.unwrap()["model"], "m2");
    let v4 = store::update(&b, ALICE, "k", r#"{"config": null}"#, None).unwrap();
    assert_eq!(prompt_of(&v4).config, None);
    let at1 = crate::apply::apply(&b, ALICE, "k", &Selector::Version(1), "{}").unwrap();
    assert_eq!(at1.config.unwrap()["temperature"], 0.2);
    assert_eq!(applied(&b, "k", json!({})).unwrap().config, None);

    assert_eq!(
        fields(store::update(&b, ALICE, "k", r#"{"config": [1]}"#, None).unwrap_err()),
        ["config"]
    );
    let big = "x".repeat(crate::validate::DEFAULT_MAX_CONFIG_BYTES);
    let body = json!({"id": "big", "name": "B", "content": "x", "config": {"k": big}});
    assert!(matches!(
        store::create(&b, &body.to_string(), None),
        Err(Error::TooLarge(m)) if m.contains("max_config_size")
    ));
    assert!(matches!(
        store::update(
            &b,
            ALICE,
            "k",
            &json!({"config": {"k": big}}).to_string(),
            None
        ),
        Err(Error::TooLarge(_))
    ));
    assert!(matches!(
        store::upsert(&b, &body.to_string(), None),
        Err(Error::TooLarge(_))
    ));
    // Import compares configs.
    let same = json!({"id": "k2", "name": "K", "content": "x", "config": {"a": 1}});
    assert_eq!(
        store::upsert(&b, &same.to_string(), None).unwrap().0,
        Outcome::Created
    );
    assert_eq!(
        store::upsert(&b, &same.to_string(), None).unwrap().0,
        Outcome::Unchanged
    );
    let other = json!({"id": "k2", "name": "K", "content": "x", "config": {"a": 2}});
    assert_eq!(
        store::upsert(&b, &other.to_string(), None).unwrap().0,
        Outcome::Updated
    );
}

#[test]
fn chat_blocks_render_text_and_pass_the_rest_through() {
    let b = Mem::default();
    let sha = "a".repeat(64);
    let stored = create(
        &b,
        json!({"id": "mm", "name": "MM", "type": "chat", "variables": ["topic"], "messages": [
            {"role": "system", "content": "Plain {{topic}}"},
            {"role": "user", "content": [
                {"type": "text", "text": "Describe {{topic}}"},
                {"type": "image", "mimeType": "image/png", "sha256": sha, "size": 67},
                {"type": "resource", "resource": {"uri": "file:///a.md", "mimeType": "text/markdown", "text": "{{raw}}"}},
                {"type": "resource_link", "uri": "https://example.com/x", "name": "x"}
            ]}
        ]}),
    );
    assert!(stored.is_template);
    let out = applied(&b, "mm", json!({"topic": "tides"})).unwrap();
    let messages = serde_json::to_value(out.messages.unwrap()).unwrap();
    assert_eq!(messages[0]["content"], "Plain tides");
    let blocks = &messages[1]["content"];
    assert_eq!(blocks[0], json!({"type": "text", "text": "Describe tides"}));
    assert_eq!(
        blocks[1],
        json!({"type": "image", "mimeType": "image/png", "sha256": sha, "size": 67})
    );
    assert_eq!(
        blocks[2]["resource"]["text"], "{{raw}}",
        "resources are not rendered"
    );
    assert_eq!(blocks[3]["name"], "x");
    assert_eq!(out.content, "Plain tides\n\nDescribe tides\n{{raw}}");
    // A text prompt refuses blocks where its content is; an unknown block type is named.
    let err = store::create(
        &b,
        &json!({"id": "bad", "name": "B", "type": "chat", "messages": [
            {"role": "user", "content": [{"type": "audio", "data": "x"}]}
        ]})
        .to_string(),
        None,
    )
    .unwrap_err();
    assert_eq!(fields(err)[0], "messages[0].content[0].type");
    // Search finds text in blocks.
    let page = crate::list::list(
        &b,
        ALICE,
        &crate::list::Query {
            text: Some("describe".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(page.prompts.len(), 1);
}
