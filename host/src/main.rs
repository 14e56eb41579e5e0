fn main() -> std::process::ExitCode {
    mcp_prompts::cli::main()
}
