//! Running cargo: reading the package and building a firmware binary.
//!
//! Builds go through `cargo rustc --bin <name> -- <link flags>`: the search path of the
//! generated `memory.x` and the linker choice reach the final link only, so the user's
//! own `rustflags` stay in force and dependencies are not rebuilt when the layout changes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, Metadata, MetadataCommand, Package};

use crate::toolchain::Toolchain;

/// A cargo profile, and the directory name cargo gives its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile name (`dev`, `release` or a custom one).
    pub name: String,
}

impl Profile {
    /// The `dev` profile (cargo's default).
    pub fn dev() -> Profile {
        Profile { name: "dev".into() }
    }

    /// The `release` profile.
    pub fn release() -> Profile {
        Profile { name: "release".into() }
    }

    /// A profile by name.
    pub fn named(name: &str) -> Profile {
        Profile { name: name.to_string() }
    }

    /// The directory cargo writes this profile's output to (`debug` for `dev`).
    pub fn dir_name(&self) -> &str {
        match self.name.as_str() {
            "dev" | "test" => "debug",
            "bench" => "release",
            other => other,
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Profile::dev()
    }
}

/// Which package, binary, profile and features to build: the cargo flags users know.
#[derive(Debug, Clone, Default)]
pub struct CargoSelection {
    /// `--manifest-path`.
    pub manifest_path: Option<PathBuf>,
    /// `-p`.
    pub package: Option<String>,
    /// `--bin`.
    pub bin: Option<String>,
    /// `--release` or `--profile`.
    pub profile: Profile,
    /// `--features`.
    pub features: Vec<String>,
    /// `--all-features`.
    pub all_features: bool,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--target-dir`.
    pub target_dir: Option<PathBuf>,
    /// `--quiet`: hide cargo's own output.
    pub quiet: bool,
}

impl CargoSelection {
    /// The feature flags, as cargo arguments.
    fn feature_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if !self.features.is_empty() {
            args.push(format!("--features={}", self.features.join(",")));
        }
        if self.all_features {
            args.push("--all-features".into());
        }
        if self.no_default_features {
            args.push("--no-default-features".into());
        }
        args
    }
}

/// Failures while running cargo.
#[derive(Debug, thiserror::Error)]
pub enum CargoError {
    #[error("`cargo metadata` failed for {manifest}: {message}")]
    Metadata { manifest: String, message: String },
    #[error("package `{spec}` is not in the workspace at {root}; its packages are: {members}")]
    NoSuchPackage { spec: String, root: String, members: String },
    #[error("{root} is a virtual workspace and {count} of its packages have [package.metadata.boot]: choose one with `-p <package>` ({names})")]
    AmbiguousPackage { root: String, count: usize, names: String },
    #[error("no package in the workspace at {root} has [package.metadata.boot]: add it with `cargo boot init`")]
    NoBootPackage { root: String },
    #[error("package `{package}` has no binary target to build; firmware needs a `src/main.rs` or a [[bin]]")]
    NoBinary { package: String },
    #[error("package `{package}` has several binaries ({names}): choose one with `--bin <name>`")]
    SeveralBinaries { package: String, names: String },
    #[error("package `{package}` has no binary named `{bin}`; its binaries are: {names}")]
    NoSuchBinary { package: String, bin: String, names: String },
    #[error("cannot run cargo ({cargo}): {source}")]
    Spawn {
        cargo: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building {what} failed (cargo exited with {status}); cargo's errors are above")]
    BuildFailed { what: String, status: String },
    #[error("{what} does not fit its flash region: the linker reports that the generated memory.x's FLASH region overflowed (see above). Make it smaller (--release, opt-level = \"s\") or give it more room (a smaller restrict_size, or a larger slot_size)")]
    RegionOverflow { what: String },
    #[error("cargo built {what} but reported no executable for `{bin}`")]
    NoArtifact { what: String, bin: String },
}

/// The cargo to run: `$CARGO` (set when we run as `cargo boot`), else `cargo`.
pub fn cargo_command() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace metadata and the package cargo boot works on.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Everything `cargo metadata --no-deps` says.
    pub metadata: Metadata,
    /// The chosen package.
    pub package: Package,
}

impl Workspace {
    /// Reads the workspace and chooses the package: `-p`, else the root package, else
    /// the only member with `[package.metadata.boot]`.
    pub fn load(selection: &CargoSelection) -> Result<Workspace, CargoError> {
        let cache_dir = crate::templates::home().join("cache");
        let cwd = std::env::current_dir().unwrap_or_default();
        let manifest_arg = selection.manifest_path.as_deref();
        let metadata = match crate::metadata_cache::load(&cache_dir, &cwd, manifest_arg) {
            Some(metadata) => metadata,
            None => {
                let metadata = run_cargo_metadata(selection)?;
                crate::metadata_cache::store(&cache_dir, &cwd, manifest_arg, &metadata);
                metadata
            }
        };
        let package = choose_package(&metadata, selection.package.as_deref())?;
        Ok(Workspace { metadata, package })
    }

    /// The package's manifest directory.
    pub fn package_dir(&self) -> PathBuf {
        self.package.manifest_path.parent().map(|p| p.as_std_path().to_path_buf()).unwrap_or_default()
    }

    /// The target directory (`--target-dir`, else cargo's).
    pub fn target_dir(&self, selection: &CargoSelection) -> PathBuf {
        selection.target_dir.clone().unwrap_or_else(|| self.metadata.target_directory.as_std_path().to_path_buf())
    }

    /// The binary to build: `--bin`, else the package's only binary.
    pub fn binary_name(&self, selection: &CargoSelection) -> Result<String, CargoError> {
        let bins: Vec<&str> = self.package.targets.iter().filter(|t| t.is_bin()).map(|t| t.name.as_str()).collect();
        let names = bins.join(", ");
        let package = self.package.name.to_string();
        match (&selection.bin, bins.as_slice()) {
            (Some(bin), _) if bins.contains(&bin.as_str()) => Ok(bin.clone()),
            (Some(bin), _) => Err(CargoError::NoSuchBinary { package, bin: bin.clone(), names }),
            (None, [only]) => Ok(only.to_string()),
            (None, []) => Err(CargoError::NoBinary { package }),
            (None, _) => Err(CargoError::SeveralBinaries { package, names }),
        }
    }
}

/// `cargo metadata --no-deps` for the selected manifest.
fn run_cargo_metadata(selection: &CargoSelection) -> Result<Metadata, CargoError> {
    let mut command = MetadataCommand::new();
    command.no_deps();
    if let Some(path) = &selection.manifest_path {
        command.manifest_path(path);
    }
    let manifest = selection.manifest_path.clone().unwrap_or_else(|| "Cargo.toml".into());
    command
        .exec()
        .map_err(|e| CargoError::Metadata { manifest: manifest.display().to_string(), message: metadata_error_text(e) })
}

/// cargo's own message, without the `cargo metadata` wrapper noise.
fn metadata_error_text(err: cargo_metadata::Error) -> String {
    match err {
        cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim().trim_start_matches("error: ").to_string(),
        other => other.to_string(),
    }
}

fn choose_package(metadata: &Metadata, spec: Option<&str>) -> Result<Package, CargoError> {
    let members: Vec<&Package> = metadata.workspace_packages();
    let root = metadata.workspace_root.to_string();
    if let Some(spec) = spec {
        return members.iter().find(|p| p.name.as_str() == spec).map(|p| (*p).clone()).ok_or_else(|| {
            CargoError::NoSuchPackage {
                spec: spec.to_string(),
                root,
                members: members.iter().map(|p| p.name.to_string()).collect::<Vec<_>>().join(", "),
            }
        });
    }
    if let Some(package) = metadata.root_package() {
        return Ok(package.clone());
    }
    let with_boot: Vec<&&Package> = members.iter().filter(|p| p.metadata.get("boot").is_some()).collect();
    match with_boot.as_slice() {
        [only] => Ok((**only).clone()),
        [] => Err(CargoError::NoBootPackage { root }),
        several => Err(CargoError::AmbiguousPackage {
            root,
            count: several.len(),
            names: several.iter().map(|p| p.name.to_string()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// One firmware build: which crate, for which target, linked against which `memory.x`.
#[derive(Debug, Clone)]
pub struct FirmwareBuild<'a> {
    /// What is being built, for messages ("the app", "the bootloader").
    pub what: &'a str,
    /// The package's manifest.
    pub manifest: &'a Path,
    /// The binary target.
    pub bin: &'a str,
    /// Profile, features, target dir.
    pub selection: &'a CargoSelection,
    /// The target's toolchain.
    pub toolchain: &'a Toolchain,
    /// The directory holding the generated `memory.x`.
    pub link_dir: &'a Path,
    /// Extra environment for the build (the secure template's settings).
    pub env: &'a [(String, String)],
    /// What kind of firmware: a bootloader template is built with
    /// [`Toolchain::bootloader_cargo_args`].
    pub kind: FirmwareKind,
}

/// The two kinds of firmware cargo boot builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareKind {
    /// The user's app.
    App,
    /// A bundled bootloader template.
    Bootloader,
}

impl FirmwareBuild<'_> {
    /// Builds and returns the path of the linked ELF.
    pub fn run(&self) -> Result<PathBuf, CargoError> {
        let mut command = self.command();
        let cargo = format!("{:?}", command.get_program());
        let mut child = command.spawn().map_err(|source| CargoError::Spawn { cargo, source })?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let overflow_seen = std::thread::spawn(move || forward_and_scan(stderr));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut executable = None;
        for message in Message::parse_stream(BufReader::new(stdout)).flatten() {
            if let Message::CompilerArtifact(artifact) = message {
                if artifact.target.is_bin() && artifact.target.name == self.bin {
                    executable = artifact.executable.map(|p| p.into_std_path_buf());
                }
            }
        }
        let status = child.wait().map_err(|source| CargoError::Spawn { cargo: "cargo".into(), source })?;
        let overflowed = overflow_seen.join().unwrap_or(false);
        if !status.success() {
            let what = self.what.to_string();
            return Err(match overflowed {
                true => CargoError::RegionOverflow { what },
                false => CargoError::BuildFailed { what, status: status.to_string() },
            });
        }
        executable.ok_or_else(|| CargoError::NoArtifact { what: self.what.to_string(), bin: self.bin.to_string() })
    }

    /// `cargo rustc --bin <bin> --target <t> ... -- -L <link_dir> [linker flags]`.
    pub fn command(&self) -> Command {
        let mut command = cargo_command();
        command
            .arg("rustc")
            .arg("--manifest-path")
            .arg(self.manifest)
            .args(["--bin", self.bin, "--target", &self.toolchain.target])
            .args(["--profile", &self.selection.profile.name])
            .arg("--message-format=json-render-diagnostics")
            .args(self.selection.feature_args())
            .args(match self.kind {
                FirmwareKind::Bootloader => self.toolchain.bootloader_cargo_args(),
                FirmwareKind::App => self.toolchain.cargo_args(),
            });
        if let Some(dir) = &self.selection.target_dir {
            command.arg("--target-dir").arg(dir);
        }
        if self.selection.quiet {
            command.arg("--quiet");
        }
        command.arg("--").arg("-L").arg(self.link_dir).args(self.toolchain.linker.rustc_flags());
        command.envs(self.toolchain.cargo_env());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }
}

/// Copies cargo's stderr to ours as it comes, and tells whether the linker said that a
/// memory region overflowed (LLD: "will not fit in region", GNU ld: "overflowed by").
fn forward_and_scan(stderr: impl std::io::Read) -> bool {
    let mut overflowed = false;
    let mut out = std::io::stderr();
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line);
        overflowed |= is_region_overflow(&text);
        let _ = std::io::Write::write_all(&mut out, &line);
        line.clear();
    }
    overflowed
}

/// True for a linker's "this region is full" message.
fn is_region_overflow(line: &str) -> bool {
    line.contains("will not fit in region") || (line.contains("region") && line.contains("overflowed by"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linker_region_overflows_are_recognised() {
        assert!(is_region_overflow(
            "rust-lld: error: section '.rodata' will not fit in region 'FLASH': overflowed by 4660 bytes"
        ));
        assert!(is_region_overflow("arm-none-eabi-ld: region `FLASH' overflowed by 12 bytes"));
        assert!(!is_region_overflow("error[E0425]: cannot find value `x` in this scope"));
    }

    #[test]
    fn profile_directories_follow_cargo() {
        assert_eq!(Profile::dev().dir_name(), "debug");
        assert_eq!(Profile::release().dir_name(), "release");
        assert_eq!(Profile::named("size").dir_name(), "size");
    }

    #[test]
    fn feature_flags_are_passed_through() {
        let selection =
            CargoSelection { features: vec!["a".into(), "b".into()], no_default_features: true, ..Default::default() };
        assert_eq!(selection.feature_args(), ["--features=a,b", "--no-default-features"]);
    }
}
