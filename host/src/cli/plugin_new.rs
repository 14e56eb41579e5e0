//! `mcp-prompts plugin new` and `mcp-prompts plugin wit`: a starting project per language
//! and world, and the WIT this binary speaks.
//!
//! Every generated project carries its own copy of `wit/plugin.wit` (the exact text
//! compiled into this binary, so it is always the version the server accepts) and of the
//! guest helpers for its language, so it builds offline, outside this repository, with
//! the language's usual tool.

use clap::ValueEnum;
use std::fmt;
use std::path::{Path, PathBuf};

/// The WIT package the host is built against (`wit/plugin.wit`).
pub const PLUGIN_WIT: &str = include_str!("../../../wit/plugin.wit");

/// The `X.Y.Z` of `package mcp-prompts:plugin@X.Y.Z;` in [`PLUGIN_WIT`].
pub fn wit_version() -> &'static str {
    PLUGIN_WIT
        .lines()
        .find_map(|l| l.trim().strip_prefix("package mcp-prompts:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .unwrap_or("0.0.0")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewWorld {
    Policy,
    Renderer,
    PromptHandler,
}

impl NewWorld {
    fn as_str(self) -> &'static str {
        match self {
            NewWorld::Policy => "policy",
            NewWorld::Renderer => "renderer",
            NewWorld::PromptHandler => "prompt-handler",
        }
    }
}

/// Why `plugin new` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "invalid plugin name {0:?}: use 1-40 lowercase ASCII letters, digits and '-', starting with a letter and not ending with '-'"
    )]
    BadName(String),
    #[error("{0} exists and is not an empty directory; choose another --dir or remove it")]
    NotEmpty(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A plugin name: also a `[plugins.NAME]` key, a crate/package name and a file name, so
/// the rules are the intersection of all of them.
fn check_name(name: &str) -> Result<(), NewError> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(NewError::BadName(name.to_owned()))
    }
}

/// What was written, for the summary printed to the user.
pub struct Created {
    pub dir: PathBuf,
    pub files: Vec<String>,
    pub build: &'static str,
    pub test: &'static str,
}

/// Writes the project for `lang`/`world` named `name` into `dir` (created; must not exist
/// or be empty).
pub fn create(lang: Lang, world: NewWorld, name: &str, dir: &Path) -> Result<Created, NewError> {
    check_name(name)?;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(NewError::NotEmpty(dir.to_owned()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // A file (or an unreadable path) where the directory should go.
        Err(_) => return Err(NewError::NotEmpty(dir.to_owned())),
    }
    let vars = Vars::new(lang, world, name, &absolute(dir));
    let files = crate::cli::templates::files(lang, world);
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(rel);
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let text = if rel.starts_with("vendor/") || rel == "wit/plugin.wit" {
                // Verbatim: the SDK sources and the WIT are the repository's own files.
                text.to_owned()
            } else {
                vars.fill(text)
            };
            std::fs::write(path, text)?;
            #[cfg(unix)]
            if rel.ends_with(".sh") {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
            }
            Ok(())
        };
        write(&path).map_err(|source| NewError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(rel.to_owned());
    }
    let (build, test) = match lang {
        Lang::Rust => (
            "cargo build --target wasm32-wasip2 --release   (or ./build.sh)",
            "cargo test",
        ),
        Lang::Python => ("./build.sh", "python3 -m unittest"),
        Lang::Js => ("npm ci && npm run build", "npm test   (node --test)"),
    };
    Ok(Created {
        dir: dir.to_owned(),
        files: written,
        build,
        test,
    })
}

/// `dir` made absolute (without resolving symlinks), for the paths in `plugin.toml`.
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Template placeholders, `@WORD@`: `NAME` (the plugin name), `SNAKE` (with `_`),
/// `WORLD`, `WIT_VERSION`, `WASM` (where the build puts the component), `EXTRA` (the
/// per-language lines of `plugin.toml`) and the README's `LANG`, `LANGARG`, `LOGIC`,
/// `GLUE`, `SDK`, `TESTS`, `TEST_CMD`, `BUILD_CMD`. `@` never ends a word in the
/// templates' code otherwise, so the substitution cannot touch real content.
struct Vars {
    pairs: Vec<(&'static str, String)>,
}

impl Vars {
    fn new(lang: Lang, world: NewWorld, name: &str, dir: &Path) -> Self {
        let snake = name.replace('-', "_");
        let dir = dir.display();
        let (wasm, label, arg, logic, glue, sdk, tests, test, build) = match lang {
            Lang::Rust => (
                format!("{dir}/target/wasm32-wasip2/release/{snake}.wasm"),
                "Rust",
                "rust",
                "`src/lib.rs`",
                "`src/glue.rs`",
                "`vendor/mcp-prompts-plugin-sdk/`",
                "`src/lib.rs` (`#[cfg(test)]`)",
                "cargo test",
                "cargo build --target wasm32-wasip2 --release   # or ./build.sh",
            ),
            Lang::Python => (
                format!("{dir}/{name}.wasm"),
                "Python",
                "python",
                "`src/logic.py`",
                "`src/app.py`",
                "`src/mcp_prompts_plugin/`",
                "`test_logic.py`",
                "python3 -m unittest",
                "./build.sh   # componentize-py 0.25.1",
            ),
            Lang::Js => (
                format!("{dir}/{name}.wasm"),
                "JavaScript",
                "js",
                "`src/logic.js`",
                "`src/app.js`",
                "`src/mcp-prompts-plugin.js`",
                "`test/logic.test.js`",
                "npm ci && npm test",
                "npm run build   # componentize-js, pinned by package-lock.json",
            ),
        };
        // Interpreter components need more memory and time than a Rust one, and both
        // toolchains link every import of the world (so a policy imports kv, a prompt
        // handler blob, even unused) plus WASI that plugins are not granted.
        let (tool, stub) = match lang {
            Lang::Rust => ("", ""),
            Lang::Python => ("componentize-py", "sockets"),
            Lang::Js => ("componentize-js", "http"),
        };
        let extra = if lang == Lang::Rust {
            String::new()
        } else {
            let unused = match world {
                NewWorld::Policy => format!("kv = [\"{name}-unused\"]\n"),
                NewWorld::PromptHandler => format!("blob = [\"{name}-unused\"]\n"),
                NewWorld::Renderer => String::new(),
            };
            format!(
                "timeout = \"5s\"\nmemory_limit = \"128MiB\"\n# {tool} imports every import of the world and WASI beyond what plugins may use.\nstub_wasi = [\"{stub}\"]\n{unused}"
            )
        };
        Vars {
            pairs: vec![
                ("@NAME@", name.to_owned()),
                ("@SNAKE@", snake),
                ("@WORLD@", world.as_str().to_owned()),
                ("@WIT_VERSION@", wit_version().to_owned()),
                ("@WASM@", wasm),
                ("@EXTRA@", extra),
                ("@LANG@", label.to_owned()),
                ("@LANGARG@", arg.to_owned()),
                ("@LOGIC@", logic.to_owned()),
                ("@GLUE@", glue.to_owned()),
                ("@SDK@", sdk.to_owned()),
                ("@TESTS@", tests.to_owned()),
                ("@TEST_CMD@", test.to_owned()),
                ("@BUILD_CMD@", build.to_owned()),
            ],
        }
    }

    fn fill(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (marker, value) in &self.pairs {
            out = out.replace(marker, value);
        }
        out
    }
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "created {}:", self.dir.display())?;
        for file in &self.files {
            writeln!(f, "  {file}")?;
        }
        writeln!(f, "test:  {}", self.test)?;
        writeln!(f, "build: {}", self.build)?;
        write!(
            f,
            "then paste plugin.toml into your server config (README.md says more)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_the_package_line() {
        let v = wit_version();
        assert!(
            PLUGIN_WIT.contains(&format!("package mcp-prompts:plugin@{v};")),
            "{v}"
        );
        assert_eq!(v.split('.').count(), 3, "{v}");
    }

    #[test]
    fn names() {
        for good in ["a", "my-policy", "r2d2", "x-1-y"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "A",
            "1a",
            "a-",
            "a--b",
            "a_b",
            "a b",
            "ä",
            &"a".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_template_is_filled_completely() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for world in [
                NewWorld::Policy,
                NewWorld::Renderer,
                NewWorld::PromptHandler,
            ] {
                let files = crate::cli::templates::files(lang, world);
                assert!(files.iter().any(|(p, _)| *p == "wit/plugin.wit"));
                assert!(files.iter().any(|(p, _)| *p == "plugin.toml"));
                let v = Vars::new(lang, world, "n", Path::new("/p"));
                for (path, text) in files {
                    if path.starts_with("vendor/") || path == "wit/plugin.wit" {
                        continue;
                    }
                    let out = v.fill(text);
                    for (marker, _) in &v.pairs {
                        assert!(!out.contains(marker), "{lang:?}/{world:?}/{path}: {marker}");
                    }
                    let left = out.split('@').skip(1).find(|w| {
                        w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    });
                    assert!(
                        left.is_none(),
                        "{lang:?}/{world:?}/{path}: unknown marker {left:?}"
                    );
                }
            }
        }
    }
}
