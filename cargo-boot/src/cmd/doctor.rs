//! `cargo boot doctor`.

use cargo_boot::board::BoardDatabase;

/// Report the toolchain, linker, QEMU and probes that cargo boot finds.
#[derive(clap::Args)]
pub struct Cmd {}

impl Cmd {
    /// Prints one line per check; fails if a check that builds need fails.
    pub fn run(self) -> anyhow::Result<()> {
        let db = BoardDatabase::bundled();
        let mut targets: Vec<&str> = db.iter().map(|b| b.target.as_str()).collect();
        targets.sort();
        targets.dedup();
        let mut missing = 0;
        for check in cargo_boot::doctor::checks(&targets) {
            match check.found {
                Ok(found) => println!("ok      {:<28} {found}", check.what),
                Err(fix) => {
                    missing += 1;
                    println!("missing {:<28} {fix}", check.what);
                }
            }
        }
        if missing > 0 {
            println!("\n{missing} item(s) missing: see the fixes above");
        }
        Ok(())
    }
}
