//! Gives the guest a 64 KiB stack instead of the default 1 MiB. The host instantiates
//! the component per request, and linear memory starts at stack + data, so a small stack
//! keeps every instantiation cheap. Only applied to wasm: the native target (used for
//! unit tests) keeps its normal stack.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=65536");
    }
}
