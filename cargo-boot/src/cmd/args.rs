//! Argument groups shared by several subcommands, flattened into each.

use std::path::PathBuf;

use cargo_boot::cargo::{CargoSelection, Profile};

/// The cargo flags users know, for choosing the package, profile and features.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Cargo options")]
pub struct CargoArgs {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package to build (see `cargo help pkgid`).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Option<String>,
    /// Build the given binary of the package.
    #[arg(long, value_name = "NAME")]
    pub bin: Option<String>,
    /// Build with the release profile.
    #[arg(short = 'r', long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the given profile.
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Space or comma separated list of features to activate.
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all available features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Directory for all generated artifacts.
    #[arg(long, value_name = "DIRECTORY", env = "CARGO_TARGET_DIR")]
    pub target_dir: Option<PathBuf>,
    /// Do not print cargo's build output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

impl CargoArgs {
    /// The library's view of these flags.
    pub fn selection(&self) -> CargoSelection {
        let profile = match (&self.profile, self.release) {
            (Some(name), _) => Profile::named(name),
            (None, true) => Profile::release(),
            (None, false) => Profile::dev(),
        };
        CargoSelection {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
            bin: self.bin.clone(),
            profile,
            features: self.features.clone(),
            all_features: self.all_features,
            no_default_features: self.no_default_features,
            target_dir: self.target_dir.clone(),
            quiet: self.quiet,
        }
    }
}

/// Options of every command that builds the images first.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub cargo: CargoArgs,
}

/// The board and bootloader region of a project being created or initialised.
#[derive(clap::Args, Debug, Clone)]
pub struct BoardArgs {
    /// The board (see `cargo boot boards`).
    #[arg(long)]
    pub board: String,
    /// The bootloader region size (default: the board's), e.g. 0x40000 or 256K.
    #[arg(long, value_parser = cargo_boot::metadata::parse_size)]
    pub restrict_size: Option<u32>,
}
