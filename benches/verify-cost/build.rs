//! Links with cortex-m-rt's `link.x`; `cargo boot build` generates the `memory.x` it
//! includes from `[package.metadata.boot]` and passes its directory to the link.

fn main() {
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=build.rs");
}
