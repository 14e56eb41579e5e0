//! The files `mcp-prompts plugin new` writes, per language and world. The guest SDKs are
//! the repository's own files (plugins/sdk, sdk/python, sdk/js), embedded at build time,
//! so a generated project always carries the helpers this binary was built with.

use super::plugin_new::{Lang, NewWorld, PLUGIN_WIT};

type Files = Vec<(&'static str, &'static str)>;

macro_rules! t {
    ($path:literal) => {
        include_str!(concat!("templates/", $path))
    };
}

/// The vendored Rust SDK, with its WIT path pointing at the project's `wit/`.
fn rust_sdk() -> Files {
    vec![
        (
            "vendor/mcp-prompts-plugin-sdk/Cargo.toml",
            t!("rust/sdk-Cargo.toml"),
        ),
        (
            "vendor/mcp-prompts-plugin-sdk/src/lib.rs",
            include_str!("../../../plugins/sdk/src/lib.rs"),
        ),
        (
            "vendor/mcp-prompts-plugin-sdk/src/config.rs",
            include_str!("../../../plugins/sdk/src/config.rs"),
        ),
        (
            "vendor/mcp-prompts-plugin-sdk/src/kv.rs",
            include_str!("../../../plugins/sdk/src/kv.rs"),
        ),
        (
            "vendor/mcp-prompts-plugin-sdk/src/log.rs",
            include_str!("../../../plugins/sdk/src/log.rs"),
        ),
        (
            "vendor/mcp-prompts-plugin-sdk/src/policy.rs",
            include_str!("../../../plugins/sdk/src/policy.rs"),
        ),
    ]
}

pub fn files(lang: Lang, world: NewWorld) -> Files {
    let mut f: Files = vec![
        ("wit/plugin.wit", PLUGIN_WIT),
        ("README.md", t!("README.md")),
        (
            "plugin.toml",
            match world {
                NewWorld::Policy => t!("policy.toml"),
                NewWorld::Renderer => t!("renderer.toml"),
                NewWorld::PromptHandler => t!("prompt-handler.toml"),
            },
        ),
    ];
    match lang {
        Lang::Rust => {
            f.extend([
                ("Cargo.toml", t!("rust/Cargo.toml")),
                ("build.rs", t!("rust/build.rs")),
                ("build.sh", t!("rust/build.sh")),
                (".gitignore", t!("rust/gitignore")),
            ]);
            f.extend(rust_sdk());
            f.extend(match world {
                NewWorld::Policy => [
                    ("src/lib.rs", t!("rust/policy-lib.rs")),
                    ("src/glue.rs", t!("rust/policy-glue.rs")),
                ],
                NewWorld::Renderer => [
                    ("src/lib.rs", t!("rust/renderer-lib.rs")),
                    ("src/glue.rs", t!("rust/renderer-glue.rs")),
                ],
                NewWorld::PromptHandler => [
                    ("src/lib.rs", t!("rust/handler-lib.rs")),
                    ("src/glue.rs", t!("rust/handler-glue.rs")),
                ],
            });
        }
        Lang::Python => {
            f.extend([
                ("build.sh", t!("python/build.sh")),
                (".gitignore", t!("python/gitignore")),
                ("test_prelude.py", t!("python/test_prelude.py")),
                (
                    "src/mcp_prompts_plugin/__init__.py",
                    include_str!("../../../sdk/python/mcp_prompts_plugin/__init__.py"),
                ),
            ]);
            f.extend(match world {
                NewWorld::Policy => [
                    ("src/logic.py", t!("python/policy-logic.py")),
                    ("src/app.py", t!("python/policy-app.py")),
                    ("test_logic.py", t!("python/policy-test.py")),
                ],
                NewWorld::Renderer => [
                    ("src/logic.py", t!("python/renderer-logic.py")),
                    ("src/app.py", t!("python/renderer-app.py")),
                    ("test_logic.py", t!("python/renderer-test.py")),
                ],
                NewWorld::PromptHandler => [
                    ("src/logic.py", t!("python/handler-logic.py")),
                    ("src/app.py", t!("python/handler-app.py")),
                    ("test_logic.py", t!("python/handler-test.py")),
                ],
            });
        }
        Lang::Js => {
            f.extend([
                ("package.json", t!("js/package.json")),
                ("package-lock.json", t!("js/package-lock.json")),
                ("build.sh", t!("js/build.sh")),
                (".gitignore", t!("js/gitignore")),
                (
                    "src/mcp-prompts-plugin.js",
                    include_str!("../../../sdk/js/mcp-prompts-plugin.js"),
                ),
            ]);
            f.extend(match world {
                NewWorld::Policy => [
                    ("src/logic.js", t!("js/policy-logic.js")),
                    ("src/app.js", t!("js/policy-app.js")),
                    ("test/logic.test.js", t!("js/policy-test.js")),
                ],
                NewWorld::Renderer => [
                    ("src/logic.js", t!("js/renderer-logic.js")),
                    ("src/app.js", t!("js/renderer-app.js")),
                    ("test/logic.test.js", t!("js/renderer-test.js")),
                ],
                NewWorld::PromptHandler => [
                    ("src/logic.js", t!("js/handler-logic.js")),
                    ("src/app.js", t!("js/handler-app.js")),
                    ("test/logic.test.js", t!("js/handler-test.js")),
                ],
            });
        }
    }
    f
}
