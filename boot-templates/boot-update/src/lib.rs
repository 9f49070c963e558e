//! The app's side of over-the-air updates: download a signed image into the secondary
//! slot, check it, and ask the bootloader to install it.
//!
//! [`UpdateWriter`] takes the image as it arrives, in chunks of any size, from any
//! transport (HTTP, CoAP, LoRaWAN fragments, a serial line):
//!
//! - it erases the secondary slot sector by sector, just ahead of the data, and writes
//!   in whole flash words;
//! - it parses the MCUboot header as soon as its 32 bytes are in, and refuses garbage, an
//!   image larger than the slot, or one built to run elsewhere before writing anything;
//! - it hashes the image as it arrives (SHA-256 over header, app and protected TLVs,
//!   as the bootloader does);
//! - [`UpdateWriter::resume_offset`] says how many bytes it holds, so a transport that
//!   lost its connection asks for the rest only (`Range: bytes=N-`);
//! - [`UpdateWriter::finish`] reads the slot back through `boot-image`'s verification
//!   (the hash TLV, and the Ed25519 signature when given the trusted keys), compares it
//!   with what arrived, and only then marks the image pending for a trial boot.
//!
//! ```no_run
//! # fn demo<F: embedded_storage::nor_flash::NorFlash>(flash: &mut F, layout: boot_app::Layout,
//! #     chunks: &[&[u8]]) -> Result<(), boot_update::Error<F::Error>> where F::Error: core::fmt::Debug {
//! use boot_update::UpdateWriter;
//!
//! let mut writer = UpdateWriter::new(flash, layout)?;
//! for chunk in chunks {
//!     writer.write(chunk)?; // any sizes
//! }
//! let image = writer.finish()?; // verified, and marked pending: reset to install it
//! # let _ = image; Ok(()) }
//! ```
//!
//! With the `http` feature, [`http`] adds a minimal HTTP/1.1 client over any byte
//! stream, the manifest of `cargo boot serve`, and [`http::download`], which feeds an
//! `UpdateWriter` and resumes a dropped download with a `Range` request.
//!
//! What is checked where: the writer refuses what it can as early as it can, and
//! checks the hash (and the signature, given keys) before marking anything pending; the
//! bootloader checks everything again, with its own key, UUIDs and security counter,
//! before it installs the image. A refused download never marks anything pending.

#![cfg_attr(not(any(feature = "std", test)), no_std)]
#![deny(missing_docs)]

mod error;
#[cfg(any(feature = "http", test))]
pub mod http;
mod writer;

pub use error::Error;
pub use writer::{Downloaded, UpdateWriter};

#[cfg(test)]
mod tests;
