//! `cargo boot doctor`: what cargo boot finds on this machine.

use crate::toolchain;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was looked for.
    pub what: String,
    /// What was found, or the fix.
    pub found: Result<String, String>,
}

/// Looks for the toolchain of each target, a linker, QEMU and the host tools.
pub fn checks(targets: &[&str]) -> Vec<Check> {
    let mut checks = Vec::new();
    for target in targets {
        let found = toolchain::resolve(target).map(|t| {
            let std = match &t.std {
                toolchain::StdSource::Installed => "target std installed".to_string(),
                toolchain::StdSource::BuildStd { library } => format!("core built from {}", library.display()),
            };
            format!("{} ({}); {std}; linker: {}", t.rustc.display(), t.version, t.linker.describe())
        });
        checks.push(Check { what: format!("toolchain for {target}"), found: found.map_err(|e| e.to_string()) });
    }
    for (tool, fix) in [
        ("qemu-system-arm", "needed by `cargo boot run` on the virtual boards: `apt-get install qemu-system-arm`"),
        ("arm-none-eabi-objcopy", "optional, for cross-checking images: `apt-get install binutils-arm-none-eabi`"),
        ("imgtool", "optional, MCUboot's signing tool for interop: `pip install imgtool`"),
    ] {
        let found = which::which(tool).map(|p| p.display().to_string()).map_err(|_| format!("not found; {fix}"));
        checks.push(Check { what: tool.to_string(), found });
    }
    checks
}
