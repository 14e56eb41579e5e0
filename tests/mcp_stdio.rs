//! `mcp-prompts stdio`: a real MCP client (rmcp) spawns the binary and talks to it over
//! stdin/stdout; stdout must carry nothing but protocol messages.

use crate::common;

use common::*;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, GetPromptRequestParams, ReadResourceRequestParams, Role};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn stdio_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = base_config(
        r#"
[mcp.stdio]
subject = "desk"
"#,
    )
    .replace("{data}", &data.display().to_string());
    let config = dir.path().join("config.toml");
    std::fs::write(&config, cfg).unwrap();
    // Prompts from the real catalog.
    let (code, out, err) = run_cli(&[
        "import",
        "--config",
        config.to_str().unwrap(),
        catalog_dir().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let cmd = tokio::process::Command::new(BIN).configure(|c| {
        c.arg("stdio").arg("--config").arg(&config);
    });
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("initialize over stdio");
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-prompts");

    let prompts = client.list_all_prompts().await.unwrap();
    assert!(prompts.len() >= 20, "{}", prompts.len());
    let review = prompts
        .iter()
        .find(|p| p.name == "code-review-assistant")
        .expect("catalog prompt");
    let required: Vec<_> = review
        .arguments
        .iter()
        .flatten()
        .filter(|a| a.required == Some(true))
        .map(|a| a.name.clone())
        .collect();
    assert!(!required.is_empty());
    let mut args = serde_json::Map::new();
    for a in &required {
        args.insert(a.clone(), json!(format!("value-of-{a}")));
    }
    let got = client
        .get_prompt(GetPromptRequestParams::new("code-review-assistant").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(got.messages[0].role, Role::User);
    let text = got.messages[0].content.as_text().unwrap().text.clone();
    assert!(
        text.contains(&format!("value-of-{}", required[0])),
        "{text}"
    );

    // Tools and resources over the same handler; writes run as the local principal.
    let r = client
        .call_tool(
            CallToolRequestParams::new("create_prompt").with_arguments(
                json!({"id": "local-one", "name": "Local", "content": "from stdio"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    assert_eq!(r.structured_content.unwrap()["author"], "desk");
    let read = client
        .read_resource(ReadResourceRequestParams::new("prompt://local-one"))
        .await
        .unwrap();
    assert_eq!(read.contents.len(), 1);
    client.cancel().await.unwrap();
}
