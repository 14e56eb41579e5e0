//! Link settings for the guest component.

fn main() {
    // A small guest stack keeps per-request instantiation cheap (the stack is part of the
    // linear memory that every instance gets). 256 KiB rather than less because template
    // rendering recurses once per block and partial level; the renderer caps both depths
    // so that this is enough. Native test builds keep their default stack.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=262144");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
