//! Property tests of config parsing: random key/value mutations of `config/dev.toml`
//! (issue 15, "Evidence that lasts"). Failures persist in
//! `host/proptest-regressions/config/props.txt`.

use super::{ConfigError, parse};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

fn dev_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/dev.toml")
}

fn dev_table() -> Table {
    let text = std::fs::read_to_string(dev_file()).unwrap();
    text.parse::<Table>().expect("dev.toml is TOML")
}

/// A step of a path into the document: a table key or an array index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every value's path (tables and arrays included, so whole tables get replaced too).
fn paths(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Table(t) => {
            for (k, v) in t {
                prefix.push(Step::Key(k.clone()));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn all_paths() -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    paths(&Value::Table(dev_table()), &mut Vec::new(), &mut out);
    out
}

fn toml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        prop_oneof![Just(0i64), Just(-1), Just(1), Just(65536), Just(i64::MAX)]
            .prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        any::<f64>().prop_map(Value::Float),
        prop_oneof![
            Just(String::new()),
            Just("0s".to_string()),
            Just("-1s".to_string()),
            Just("0B".to_string()),
            Just("1GiB".to_string()),
            Just("99999999999999999999TiB".to_string()),
            Just("*".to_string()),
            Just("production".to_string()),
            Just("users".to_string()),
            Just("mcp-sessions".to_string()),
            Just("/".to_string()),
            Just("http://x".to_string()),
            Just("127.0.0.1:0".to_string()),
            Just("../".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
    /// An unknown key beside the value.
    AddSibling(String, Value),
    /// The key with one character changed (a typo).
    Rename(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => toml_value().prop_map(Mutation::Replace),
        2 => Just(Mutation::Remove),
        1 => ("[a-z_]{1,10}", toml_value()).prop_map(|(k, v)| Mutation::AddSibling(k, v)),
        1 => "[a-z_]{1,10}".prop_map(Mutation::Rename),
    ]
}

/// Applies `m` at `path`; returns whether the document changed shape as intended.
fn apply(doc: &mut Value, path: &[Step], m: &Mutation) {
    let (last, parent_path) = path.split_last().expect("non-empty path");
    let mut parent = doc;
    for step in parent_path {
        parent = match (step, parent) {
            (Step::Key(k), Value::Table(t)) => t.get_mut(k).unwrap(),
            (Step::Index(i), Value::Array(a)) => &mut a[*i],
            _ => unreachable!("paths come from this document"),
        };
    }
    match (last, parent) {
        (Step::Key(k), Value::Table(t)) => match m {
            Mutation::Replace(v) => {
                t.insert(k.clone(), v.clone());
            }
            Mutation::Remove => {
                t.remove(k);
            }
            Mutation::AddSibling(name, v) => {
                t.entry(name.clone()).or_insert_with(|| v.clone());
            }
            Mutation::Rename(name) => {
                if let Some(v) = t.remove(k) {
                    t.insert(name.clone(), v);
                }
            }
        },
        (Step::Index(i), Value::Array(a)) => match m {
            Mutation::Remove => {
                a.remove(*i);
            }
            Mutation::Replace(v) | Mutation::AddSibling(_, v) => a[*i] = v.clone(),
            Mutation::Rename(_) => {}
        },
        _ => unreachable!("paths come from this document"),
    }
}

/// The result of one parse, comparable across runs.
fn outcome(file: &Path, text: &str) -> Result<String, String> {
    parse(file, text)
        .map(|lc| format!("{:?}", lc.config))
        .map_err(|e| {
            let msg = e.to_string();
            match &e {
                ConfigError::Invalid { key, .. } => {
                    assert!(!key.is_empty(), "an Invalid error names no key: {msg}");
                }
                ConfigError::Parse { .. } | ConfigError::Read { .. } => {}
            }
            msg
        })
}

/// Whether an error message names where the problem is: a dotted key path, a line, or
/// a table name from the document.
fn names_a_key(msg: &str, table: &Table) -> bool {
    // Drop the leading file name, which contains dots of its own.
    let rest = msg.split_once(": ").map_or(msg, |(_, r)| r);
    rest.contains('.')
        || rest.contains("line ")
        || table
            .keys()
            .any(|k| rest.starts_with(k.as_str()) || rest.contains(&format!("`{k}`")))
}

proptest! {
    #![proptest_config(config())]

    /// One to three mutations of dev.toml: parsing never panics, an error names the key
    /// or line it is about, and parsing the same text twice gives the same outcome.
    #[test]
    fn mutated_dev_config(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4),
    ) {
        let file = dev_file();
        let mut doc = Value::Table(dev_table());
        for (pick, m) in &picks {
            let mut all = Vec::new();
            paths(&doc, &mut Vec::new(), &mut all);
            if all.is_empty() {
                break;
            }
            apply(&mut doc, &all[pick.index(all.len())], m);
        }
        let text = toml::to_string(&doc);
        prop_assume!(text.is_ok(), "not serialisable");
        let text = text.unwrap();
        let first = outcome(&file, &text);
        if let Err(msg) = &first {
            let Value::Table(t) = &doc else { unreachable!() };
            prop_assert!(names_a_key(msg, t), "error names no key or line: {msg}\n--- config ---\n{text}");
        }
        prop_assert_eq!(first, outcome(&file, &text), "two parses of one text differ");
    }

    /// Arbitrary text (including broken TOML and `${` references): never a panic, and
    /// a TOML syntax error names its line.
    #[test]
    fn arbitrary_text(text in "(\\PC|\n|\\[|\\]|=|\"|\\$\\{){0,200}") {
        let file = dev_file();
        let first = outcome(&file, &text);
        if let Err(msg) = &first
            && text.parse::<Table>().is_err()
            && !text.contains("${")
        {
            prop_assert!(msg.contains("line "), "syntax error without a line: {msg}");
        }
        prop_assert_eq!(first, outcome(&file, &text));
    }
}

/// The unmutated file is valid: the mutations start from a config that parses.
#[test]
fn dev_config_parses() {
    let text = std::fs::read_to_string(dev_file()).unwrap();
    parse(&dev_file(), &text).expect("config/dev.toml is valid");
    assert!(all_paths().len() > 50, "dev.toml has many keys to mutate");
}
