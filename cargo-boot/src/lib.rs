//! `cargo boot`: the Mbed OS bootloader workflow, native to cargo.
//!
//! This library holds everything the `cargo boot` command does, with no command-line
//! parsing and no terminal output: long work reports progress as events, and every
//! failure is a typed error whose message names the problem and the fix.
//!
//! - [`board`]: the board database (flash maps, targets, probes, virtual machines).
//! - [`metadata`]: `[package.metadata.boot]`, read through `cargo metadata`.
//! - [`layout`]: where the bootloader, the app and the update slots go, and the rules
//!   they must obey.
//! - [`linker`]: the generated `memory.x`.
//! - [`toolchain`]: finding a compiler, the target's `core` (or its sources) and a linker.
//! - [`pipeline`]: `cargo boot build` from metadata to the combined image.
//! - [`flash`]: `cargo boot flash`: the flash plan, probe-rs, and the virtual boards' flash files.
//! - [`serve`]: the update image and its manifest over HTTP (`cargo boot serve`).
//! - [`signing`]: Ed25519 keys and MCUboot-format images (`keygen`, `sign`, `verify`, `inspect`).

pub mod board;
pub mod candidate;
pub mod cargo;
pub mod doctor;
pub mod elf;
pub mod error;
pub mod flash;
pub mod fsutil;
pub mod ihex;
pub mod layout;
pub mod linker;
pub mod metadata;
pub mod metadata_cache;
pub mod pipeline;
pub mod qemu;
pub mod scaffold;
pub mod secure;
pub mod serve;
pub mod signing;
pub mod slots;
pub mod templates;
pub mod toolchain;

pub use error::{Error, Result};
