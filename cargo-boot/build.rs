//! Embeds the bundled bootloader templates and the shared `no_std` crates
//! (everything under `../boot-templates`, minus build output) into the binary, so an
//! installed `cargo boot` can build them without this repository.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.join("../boot-templates");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut out = String::from("/// Every bundled template file: (path relative to `boot-templates/`, contents).\n");
    out.push_str("pub const FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let abs = root.join(rel).canonicalize().unwrap();
        writeln!(out, "    ({rel:?}, include_bytes!({:?})),", abs.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let workspace = manifest_dir.join("../Cargo.toml").canonicalize().unwrap();
    writeln!(out, "/// The repository's workspace manifest (its shared package fields and dependencies).").unwrap();
    writeln!(out, "pub const WORKSPACE_MANIFEST: &str = include_str!({:?});", workspace.display().to_string()).unwrap();
    let dest = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("templates.rs");
    fs::write(dest, out).unwrap();
    embed_app_templates(&manifest_dir.join("templates"));
    // A directory makes cargo scan everything below it for changes.
    println!("cargo:rerun-if-changed={}", root.display());
    println!("cargo:rerun-if-changed={}", workspace.display());
}

/// Embeds the `cargo boot new` project templates (`templates/<kind>/...`).
fn embed_app_templates(root: &Path) {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    let mut out = String::from("/// Project template files: (`<kind>/<path>`, contents).\n");
    out.push_str("pub const APP_FILES: &[(&str, &str)] = &[\n");
    for rel in &files {
        let abs = root.join(rel).canonicalize().unwrap();
        writeln!(out, "    ({rel:?}, include_str!({:?})),", abs.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("app_templates.rs");
    fs::write(dest, out).unwrap();
    println!("cargo:rerun-if-changed={}", root.display());
}

/// Collects template files relative to `root`, skipping build output and editor files
/// (dot files such as `.cargo/config.toml` are kept).
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let editor_file = name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".tmp");
        if name == "target" || name == ".git" || name == ".complete" || editor_file {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let rel = path.strip_prefix(root).unwrap();
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
