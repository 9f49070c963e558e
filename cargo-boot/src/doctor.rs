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

/// Looks for the toolchain of each target, a linker, QEMU, the host tools and probes.
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
    checks.push(probes(&probe_rs::probe::list::Lister::new()));
    checks
}

/// The debug probes probe-rs sees, and whether this user may open them.
pub fn probes(lister: &probe_rs::probe::list::Lister) -> Check {
    use probe_rs::probe::list::Accessibility;
    let items = lister.list_all_with_access();
    let found = match items.as_slice() {
        [] => Err("none connected (needed only by `cargo boot flash` on real boards)".to_string()),
        items => Ok(items
            .iter()
            .map(|item| {
                let access = match item.accessibility {
                    Accessibility::Accessible => "",
                    Accessibility::PermissionDenied => " (no permission: install the udev rules, see the book)",
                };
                format!("{}{access}", crate::flash::describe_probe(&item.info))
            })
            .collect::<Vec<_>>()
            .join(", ")),
    };
    Check { what: "debug probes".to_string(), found }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_target_says_what_to_install_and_no_probe_is_reported() {
        let checks = checks(&["thumbv99-none-nothing"]);
        let toolchain = checks[0].found.as_ref().unwrap_err();
        assert!(toolchain.contains("rustup target add thumbv99-none-nothing"), "{toolchain}");
        let lister = probe_rs::probe::list::Lister::with_lister(Box::new(NoProbes));
        assert_eq!(
            probes(&lister).found.unwrap_err(),
            "none connected (needed only by `cargo boot flash` on real boards)"
        );
    }

    #[derive(Debug)]
    struct NoProbes;

    impl probe_rs::integration::ProbeLister for NoProbes {
        fn open(
            &self,
            _: &probe_rs::probe::DebugProbeSelector,
        ) -> Result<probe_rs::probe::Probe, probe_rs::probe::DebugProbeError> {
            Err(probe_rs::probe::DebugProbeError::Usb(std::io::Error::other("no probes here")))
        }

        fn list_with_access(
            &self,
            _: Option<&probe_rs::probe::DebugProbeSelector>,
        ) -> Vec<probe_rs::probe::list::ProbeListItem> {
            vec![]
        }
    }
}
