//! `cargo boot flash` as cargo's runner: from the ELF path cargo passes to what to build.
//!
//! `cargo run` builds the binary and runs `<runner> <ELF> <args>`. The ELF sits at
//! `<target-dir>/<target>/<profile-dir>/<binary>`; cargo also tells the runner which
//! package it built (`CARGO_MANIFEST_PATH`). That is enough to build the same binary
//! the cargo boot way (bootloader, generated `memory.x`, combined image) and flash it.

use std::path::{Path, PathBuf};

use super::FlashError;
use crate::cargo::{CargoSelection, Profile};

/// What cargo tells a runner about the package it built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerEnv {
    /// The package's `Cargo.toml`.
    pub manifest_path: Option<PathBuf>,
}

impl RunnerEnv {
    /// Reads `CARGO_MANIFEST_PATH` (or `CARGO_MANIFEST_DIR`), which `cargo run` sets.
    pub fn from_env() -> RunnerEnv {
        let manifest_path = std::env::var_os("CARGO_MANIFEST_PATH")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(|dir| PathBuf::from(dir).join("Cargo.toml")));
        RunnerEnv { manifest_path }
    }
}

/// The selection that rebuilds the binary cargo built at `elf`: its package, binary,
/// profile and target directory. Features and other flags come from `base` (the
/// options in the runner line).
pub fn runner_selection(elf: &Path, env: &RunnerEnv, base: &CargoSelection) -> Result<CargoSelection, FlashError> {
    let not_a_runner_path = || FlashError::NotARunnerPath { path: elf.display().to_string() };
    let bin = elf.file_name().and_then(|n| n.to_str()).ok_or_else(not_a_runner_path)?;
    let profile_dir = elf.parent().ok_or_else(not_a_runner_path)?;
    let target_triple_dir = profile_dir.parent().ok_or_else(not_a_runner_path)?;
    let target_dir = target_triple_dir.parent().filter(|d| !d.as_os_str().is_empty()).ok_or_else(not_a_runner_path)?;
    let profile_name = profile_dir.file_name().and_then(|n| n.to_str()).ok_or_else(not_a_runner_path)?;
    let triple = target_triple_dir.file_name().and_then(|n| n.to_str()).ok_or_else(not_a_runner_path)?;
    if matches!(profile_name, "examples" | "deps" | "build") || !triple.contains('-') {
        return Err(not_a_runner_path());
    }
    let profile = match profile_name {
        "debug" => Profile::dev(),
        "release" => Profile::release(),
        other => Profile::named(other),
    };
    Ok(CargoSelection {
        manifest_path: env.manifest_path.clone().or_else(|| base.manifest_path.clone()),
        bin: Some(bin.trim_end_matches(".elf").to_string()),
        profile,
        target_dir: Some(target_dir.to_path_buf()),
        ..base.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> RunnerEnv {
        RunnerEnv { manifest_path: Some("/p/fota/Cargo.toml".into()) }
    }

    #[test]
    fn a_debug_elf_selects_its_package_binary_profile_and_target_dir() {
        let base = CargoSelection { features: vec!["net".into()], ..Default::default() };
        let s = runner_selection(Path::new("/p/fota/target/thumbv7em-none-eabihf/debug/fota"), &env(), &base).unwrap();
        assert_eq!(s.manifest_path.as_deref(), Some(Path::new("/p/fota/Cargo.toml")));
        assert_eq!(s.bin.as_deref(), Some("fota"));
        assert_eq!(s.profile, Profile::dev());
        assert_eq!(s.target_dir.as_deref(), Some(Path::new("/p/fota/target")));
        assert_eq!(s.features, ["net"], "the runner line's flags are kept");
    }

    #[test]
    fn release_and_custom_profiles_map_back_to_their_names() {
        let base = CargoSelection::default();
        let release = runner_selection(Path::new("/t/thumbv7m-none-eabi/release/app"), &env(), &base).unwrap();
        assert_eq!(release.profile, Profile::release());
        let custom = runner_selection(Path::new("/t/thumbv7m-none-eabi/size/app"), &env(), &base).unwrap();
        assert_eq!(custom.profile, Profile::named("size"));
    }

    #[test]
    fn examples_and_odd_paths_are_refused_with_the_runner_line() {
        let base = CargoSelection::default();
        for path in ["/t/thumbv7m-none-eabi/debug/examples/blinky", "app", "debug/app"] {
            let err = runner_selection(Path::new(path), &env(), &base).unwrap_err().to_string();
            assert!(err.contains("is not a binary that cargo built for a board"), "{path}: {err}");
            assert!(
                err.contains("runner = \\\"cargo boot flash\\\"") || err.contains("runner = \"cargo boot flash\""),
                "{err}"
            );
        }
    }
}
