//! A cache of `cargo metadata --no-deps`, so that `cargo boot build` on an unchanged
//! project costs little more than cargo's own no-op build.
//!
//! An entry is used only while every file that could change cargo's answer is as it
//! was: the manifests of the workspace's packages, the workspace root's, every place a
//! `.cargo/config(.toml)` could be (present or not), and the environment variables
//! that move the target directory.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use cargo_metadata::Metadata;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Serialize, Deserialize)]
struct Entry {
    /// (file, modification stamp) for every input.
    inputs: Vec<(PathBuf, String)>,
    metadata: Metadata,
}

/// The cached metadata for this directory and manifest argument, if still valid.
pub fn load(cache_dir: &Path, cwd: &Path, manifest: Option<&Path>) -> Option<Metadata> {
    let bytes = std::fs::read(entry_path(cache_dir, cwd, manifest)).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    entry.inputs.iter().all(|(path, stamp)| *stamp == file_stamp(path)).then_some(entry.metadata)
}

/// Remembers `metadata` for this directory and manifest argument.
pub fn store(cache_dir: &Path, cwd: &Path, manifest: Option<&Path>, metadata: &Metadata) {
    let inputs = inputs(cwd, metadata).into_iter().map(|path| (file_stamp(&path), path));
    let entry = Entry { inputs: inputs.map(|(stamp, path)| (path, stamp)).collect(), metadata: metadata.clone() };
    if let Ok(json) = serde_json::to_vec(&entry) {
        // A cache that cannot be written only costs time next run.
        let _ = crate::fsutil::write_atomic(&entry_path(cache_dir, cwd, manifest), &json);
    }
}

/// One entry per working directory, manifest argument and target-directory setting.
fn entry_path(cache_dir: &Path, cwd: &Path, manifest: Option<&Path>) -> PathBuf {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let key = format!(
        "{}|{:?}|{}|{}|{}",
        cwd.display(),
        manifest,
        env("CARGO_TARGET_DIR"),
        env("CARGO_BUILD_TARGET_DIR"),
        env("CARGO_HOME")
    );
    let hash: String = Sha256::digest(key.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect();
    cache_dir.join(format!("metadata-{hash}.json"))
}

/// Every file whose change could change `cargo metadata --no-deps`.
fn inputs(cwd: &Path, metadata: &Metadata) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        metadata.workspace_packages().iter().map(|p| p.manifest_path.clone().into_std_path_buf()).collect();
    files.push(metadata.workspace_root.join("Cargo.toml").into_std_path_buf());
    let roots = [cwd.to_path_buf(), metadata.workspace_root.clone().into_std_path_buf()];
    for dir in roots.iter().flat_map(|root| root.ancestors()) {
        files.push(dir.join(".cargo/config.toml"));
        files.push(dir.join(".cargo/config"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files.sort();
    files.dedup();
    files
}

/// Modification time and size, or "-" for a missing file.
fn file_stamp(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos(), m.len())))
        .map_or_else(|| "-".to_string(), |(t, len)| format!("{t}:{len}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_of(dir: &Path) -> Metadata {
        cargo_metadata::MetadataCommand::new().no_deps().current_dir(dir).exec().unwrap()
    }

    #[test]
    fn an_entry_lives_until_an_input_changes() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::write(project.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"p\"\nversion = \"0.1.0\"\n").unwrap();
        let cache = dir.path().join("cache");
        let metadata = metadata_of(&project);
        assert!(load(&cache, &project, None).is_none());
        store(&cache, &project, None, &metadata);
        assert_eq!(load(&cache, &project, None).unwrap().workspace_root, metadata.workspace_root);
        assert!(load(&cache, &dir.path().join("elsewhere"), None).is_none(), "another directory");

        // A new config file where there was none, then a manifest edit: both invalidate.
        std::fs::create_dir_all(project.join(".cargo")).unwrap();
        std::fs::write(project.join(".cargo/config.toml"), "[build]\n").unwrap();
        assert!(load(&cache, &project, None).is_none());
        store(&cache, &project, None, &metadata);
        std::fs::write(project.join("Cargo.toml"), "[package]\nname = \"p\"\nversion = \"0.2.0\"\n").unwrap();
        assert!(load(&cache, &project, None).is_none());
    }
}
