//! Finding a compiler that can build for the board, and a linker.
//!
//! In order of preference, for each `rustc` cargo boot can find (`$RUSTC`, then every
//! `rustc` on `PATH`):
//! 1. the target's standard library is installed (`rustup target add`): a plain build;
//! 2. the standard library sources are installed (`rustup component add rust-src`, or
//!    Debian's `rust-web-src`): `core` is built from source with `-Zbuild-std`;
//! 3. neither: an error that says what to install.
//!
//! A toolchain without its own `rust-lld` (Debian's) gets one from elsewhere: another
//! toolchain's `rust-lld`, `rust-lld` or `ld.lld` on `PATH`, or GNU `arm-none-eabi-ld`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// How the target's `core` library is provided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StdSource {
    /// Installed for the target (the normal rustup case).
    Installed,
    /// Built from these sources with `-Zbuild-std=core`.
    BuildStd { library: PathBuf },
}

/// A linker for the final link, when the compiler has none of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Linker {
    /// The compiler finds its own `rust-lld`: nothing to pass.
    Builtin,
    /// An LLD at this path (`-C linker=<path>`).
    Lld(PathBuf),
    /// GNU ld at this path (`-C linker=<path> -C linker-flavor=ld`).
    GnuLd(PathBuf),
}

impl Linker {
    /// The rustc flags that select this linker.
    pub fn rustc_flags(&self) -> Vec<String> {
        match self {
            Linker::Builtin => vec![],
            Linker::Lld(path) => vec!["-C".into(), format!("linker={}", path.display())],
            Linker::GnuLd(path) => {
                vec!["-C".into(), format!("linker={}", path.display()), "-C".into(), "linker-flavor=ld".into()]
            }
        }
    }

    /// A short description for `cargo boot doctor`.
    pub fn describe(&self) -> String {
        match self {
            Linker::Builtin => "the compiler's own rust-lld".into(),
            Linker::Lld(path) => format!("LLD at {}", path.display()),
            Linker::GnuLd(path) => format!("GNU ld at {}", path.display()),
        }
    }
}

/// A compiler that can build for a target, with everything it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    /// The target triple.
    pub target: String,
    /// The `rustc` to use (passed to cargo as `RUSTC`).
    pub rustc: PathBuf,
    /// Its version line.
    pub version: String,
    /// Where `core` comes from.
    pub std: StdSource,
    /// The linker.
    pub linker: Linker,
    /// The compiler's sysroot.
    pub sysroot: PathBuf,
}

impl Toolchain {
    /// The extra `cargo` arguments this toolchain needs.
    pub fn cargo_args(&self) -> Vec<String> {
        match self.std {
            StdSource::Installed => vec![],
            StdSource::BuildStd { .. } => {
                vec!["-Zbuild-std=core".into(), "-Zbuild-std-features=compiler-builtins-mem".into()]
            }
        }
    }

    /// The extra `cargo` arguments for a bootloader template. With `core` built from
    /// source, panics abort in place (`udf`) instead of calling the panic handler with a
    /// message and a location: about 450 bytes less code in the secure bootloader, which
    /// halts on a panic either way. Since Rust 1.92 this is the panic strategy
    /// `-Cpanic=immediate-abort`; before, the standard library feature
    /// `panic_immediate_abort`. With an installed `core` it cannot be done.
    pub fn bootloader_cargo_args(&self) -> Vec<String> {
        let StdSource::BuildStd { .. } = self.std else { return self.cargo_args() };
        let mut args = vec!["-Zbuild-std=core".to_string()];
        if rustc_minor(&self.version).is_some_and(|minor| minor >= 92) {
            args.push("-Zbuild-std-features=compiler-builtins-mem".into());
            args.push("--config".into());
            args.push(format!(
                "target.{}.rustflags=[\"-Zunstable-options\", \"-Cpanic=immediate-abort\"]",
                self.target
            ));
        } else {
            args.push("-Zbuild-std-features=compiler-builtins-mem,panic_immediate_abort".into());
        }
        args
    }

    /// The environment variables `cargo` runs with.
    pub fn cargo_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("RUSTC", self.rustc.display().to_string())];
        if matches!(self.std, StdSource::BuildStd { .. }) {
            env.push(("RUSTC_BOOTSTRAP", "1".into()));
        }
        env
    }
}

/// The minor version in `rustc 1.<minor>.<patch>...`.
fn rustc_minor(version: &str) -> Option<u32> {
    version.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
}

/// Why no toolchain could be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolchainError {
    #[error("no `rustc` found: install Rust with rustup (https://rustup.rs), or on Debian `apt-get install rustc-web cargo-web rust-web-src`")]
    NoRustc,
    #[error("no Rust standard library for {target} and no Rust sources to build it from (looked at: {looked_at}). Run `rustup target add {target}`; where rustup cannot download, install the sources instead (`rustup component add rust-src`, or on Debian `apt-get install rustc-web rust-web-src`) and cargo boot builds `core` itself")]
    NoStd { target: String, looked_at: String },
    #[error("no linker for {target}: the compiler at {rustc} has no rust-lld. Install one: `rustup component add llvm-tools` (rust-lld), `apt-get install lld`, or `apt-get install binutils-arm-none-eabi` (arm-none-eabi-ld)")]
    NoLinker { target: String, rustc: String },
}

/// What one `rustc` offers for a target.
#[derive(Debug, Clone)]
struct Candidate {
    rustc: PathBuf,
    version: String,
    sysroot: PathBuf,
    host: String,
    installed: bool,
    library_src: Option<PathBuf>,
}

/// Finds the best toolchain for `target`.
pub fn resolve(target: &str) -> Result<Toolchain, ToolchainError> {
    let candidates: Vec<Candidate> = rustc_paths().into_iter().filter_map(|p| inspect(&p, target)).collect();
    if candidates.is_empty() {
        return Err(ToolchainError::NoRustc);
    }
    let chosen = candidates
        .iter()
        .find(|c| c.installed)
        .or_else(|| candidates.iter().find(|c| c.library_src.is_some()))
        .ok_or_else(|| ToolchainError::NoStd {
            target: target.to_string(),
            looked_at: candidates.iter().map(|c| c.rustc.display().to_string()).collect::<Vec<_>>().join(", "),
        })?;
    let std = match (&chosen.installed, &chosen.library_src) {
        (true, _) => StdSource::Installed,
        (false, Some(library)) => StdSource::BuildStd { library: library.clone() },
        (false, None) => unreachable!("chosen candidates have std or its sources"),
    };
    let linker = find_linker(chosen, &candidates).ok_or_else(|| ToolchainError::NoLinker {
        target: target.to_string(),
        rustc: chosen.rustc.display().to_string(),
    })?;
    Ok(Toolchain {
        target: target.to_string(),
        rustc: chosen.rustc.clone(),
        version: chosen.version.clone(),
        std,
        linker,
        sysroot: chosen.sysroot.clone(),
    })
}

/// Like [`resolve`], but remembers the answer in `cache_file` for as long as nothing
/// that could change it has changed: `$RUSTC`, `PATH`, the rustup toolchain choice,
/// the compilers found, and the chosen compiler's sysroot.
pub fn resolve_cached(target: &str, cache_file: &Path) -> Result<Toolchain, ToolchainError> {
    let key = cache_key(target);
    if let Some(toolchain) = read_cache(cache_file, &key) {
        return Ok(toolchain);
    }
    let toolchain = resolve(target)?;
    let entry = CacheEntry { key, sysroot_stamp: stamp(&toolchain.sysroot.join("lib/rustlib")), toolchain };
    if let Ok(json) = serde_json::to_vec(&entry) {
        // A cache that cannot be written only costs time next run.
        let _ = crate::fsutil::write_atomic(cache_file, &json);
    }
    Ok(entry.toolchain)
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    key: String,
    sysroot_stamp: String,
    toolchain: Toolchain,
}

fn read_cache(cache_file: &Path, key: &str) -> Option<Toolchain> {
    let entry: CacheEntry = serde_json::from_slice(&std::fs::read(cache_file).ok()?).ok()?;
    let fresh = entry.key == key
        && entry.sysroot_stamp == stamp(&entry.toolchain.sysroot.join("lib/rustlib"))
        && entry.toolchain.rustc.exists();
    fresh.then_some(entry.toolchain)
}

/// Everything outside the sysroot that decides which toolchain [`resolve`] picks.
fn cache_key(target: &str) -> String {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
        .unwrap_or_default();
    let compilers: Vec<String> = rustc_paths().iter().map(|p| format!("{}@{}", p.display(), stamp(p))).collect();
    format!(
        "{target}|{}|{}|{}|{}|{}",
        var("RUSTC"),
        var("PATH"),
        var("RUSTUP_TOOLCHAIN"),
        stamp(&rustup_home.join("settings.toml")),
        compilers.join(",")
    )
}

/// A file's or directory's modification time and size, or "-" if it is missing.
fn stamp(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos(), m.len())))
        .map_or_else(|| "-".to_string(), |(t, len)| format!("{t}:{len}"))
}

/// `$RUSTC` first, then every `rustc` on `PATH`, without duplicates.
fn rustc_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::env::var_os("RUSTC").map(PathBuf::from).into_iter().collect();
    if let Ok(found) = which::which_all("rustc") {
        paths.extend(found);
    }
    let mut unique = Vec::new();
    for path in paths {
        let canonical = path.canonicalize().unwrap_or(path.clone());
        if !unique.iter().any(|(c, _): &(PathBuf, PathBuf)| *c == canonical) {
            unique.push((canonical, path));
        }
    }
    unique.into_iter().map(|(_, p)| p).collect()
}

/// Asks one `rustc` about itself and the target.
fn inspect(rustc: &Path, target: &str) -> Option<Candidate> {
    let version = run(rustc, &["-V"])?.trim().to_string();
    let printed = run(rustc, &["--print", "sysroot", "--print", "host-tuple", "--print", "target-list"])?;
    let mut lines = printed.lines();
    let sysroot = PathBuf::from(lines.next()?.trim());
    let host = lines.next()?.trim().to_string();
    let knows_target = lines.any(|t| t == target);
    let libdir = sysroot.join("lib/rustlib").join(target).join("lib");
    let installed = has_core(&libdir);
    let library = sysroot.join("lib/rustlib/src/rust/library");
    let library_src = (knows_target && library.join("core/Cargo.toml").is_file()).then_some(library);
    Some(Candidate { rustc: rustc.to_path_buf(), version, sysroot, host, installed, library_src })
}

fn has_core(libdir: &Path) -> bool {
    std::fs::read_dir(libdir)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        .unwrap_or(false)
}

fn run(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The compiler's own rust-lld, another toolchain's, one on PATH, or GNU ld.
fn find_linker(chosen: &Candidate, all: &[Candidate]) -> Option<Linker> {
    let own_lld = |c: &Candidate| c.sysroot.join("lib/rustlib").join(&c.host).join("bin/rust-lld");
    if own_lld(chosen).is_file() {
        return Some(Linker::Builtin);
    }
    if let Some(lld) = all.iter().map(own_lld).find(|p| p.is_file()) {
        return Some(Linker::Lld(lld));
    }
    for name in ["rust-lld", "ld.lld"] {
        if let Ok(path) = which::which(name) {
            return Some(Linker::Lld(path));
        }
    }
    which::which("arm-none-eabi-ld").ok().map(Linker::GnuLd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_std_adds_the_unstable_flags_and_bootstrap() {
        let t = Toolchain {
            target: "thumbv7m-none-eabi".into(),
            rustc: "/usr/bin/rustc".into(),
            version: "rustc 1.96.0".into(),
            std: StdSource::BuildStd { library: "/usr/lib/rustlib/src/rust/library".into() },
            linker: Linker::GnuLd("/usr/bin/arm-none-eabi-ld".into()),
            sysroot: "/usr".into(),
        };
        assert_eq!(t.cargo_args(), ["-Zbuild-std=core", "-Zbuild-std-features=compiler-builtins-mem"]);
        assert!(t.cargo_env().contains(&("RUSTC_BOOTSTRAP", "1".into())));
        assert_eq!(t.linker.rustc_flags(), ["-C", "linker=/usr/bin/arm-none-eabi-ld", "-C", "linker-flavor=ld"]);
    }

    #[test]
    fn bootloaders_abort_panics_in_place_when_core_is_built() {
        let mut t = Toolchain {
            target: "thumbv7em-none-eabihf".into(),
            rustc: "/usr/bin/rustc".into(),
            version: "rustc 1.96.0 (ac68faa20 2026-05-25) (built from a source tarball)".into(),
            std: StdSource::BuildStd { library: "/usr/lib/rustlib/src/rust/library".into() },
            linker: Linker::Builtin,
            sysroot: "/usr".into(),
        };
        assert_eq!(
            t.bootloader_cargo_args(),
            [
                "-Zbuild-std=core",
                "-Zbuild-std-features=compiler-builtins-mem",
                "--config",
                "target.thumbv7em-none-eabihf.rustflags=[\"-Zunstable-options\", \"-Cpanic=immediate-abort\"]",
            ]
        );
        t.version = "rustc 1.91.1 (ed61e7d7e 2025-11-07)".into();
        assert_eq!(
            t.bootloader_cargo_args(),
            ["-Zbuild-std=core", "-Zbuild-std-features=compiler-builtins-mem,panic_immediate_abort"]
        );
        t.std = StdSource::Installed;
        assert!(t.bootloader_cargo_args().is_empty());
        assert_eq!(rustc_minor("rustc 1.92.0-nightly (abcdef 2025-09-24)"), Some(92));
        assert_eq!(rustc_minor(""), None);
    }

    #[test]
    fn an_installed_target_needs_no_extra_flags() {
        let t = Toolchain {
            target: "thumbv7m-none-eabi".into(),
            rustc: "rustc".into(),
            version: String::new(),
            std: StdSource::Installed,
            linker: Linker::Builtin,
            sysroot: PathBuf::new(),
        };
        assert!(t.cargo_args().is_empty());
        assert_eq!(t.cargo_env(), [("RUSTC", "rustc".to_string())]);
        assert!(t.linker.rustc_flags().is_empty());
    }

    #[test]
    fn the_cache_answers_until_something_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("toolchain.json");
        let fresh = resolve_cached("thumbv7m-none-eabi", &cache).unwrap();
        assert!(cache.is_file());
        assert_eq!(resolve_cached("thumbv7m-none-eabi", &cache).unwrap(), fresh);
        let mut entry: CacheEntry = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        entry.key.push_str("|changed");
        entry.toolchain.version = "stale".into();
        std::fs::write(&cache, serde_json::to_vec(&entry).unwrap()).unwrap();
        assert_eq!(resolve_cached("thumbv7m-none-eabi", &cache).unwrap(), fresh, "a changed key is not trusted");
    }

    #[test]
    fn an_unknown_target_reports_what_to_install() {
        let err = resolve("thumbv99-none-nothing").unwrap_err().to_string();
        assert!(err.contains("rustup target add thumbv99-none-nothing"), "{err}");
        assert!(err.contains("rust-web-src"), "{err}");
    }
}
