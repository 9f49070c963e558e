//! `cargo boot boards`.

use cargo_boot::board::{Board, BoardDatabase};

/// List the boards, or print one board's memory map.
#[derive(clap::Args)]
pub struct Cmd {
    /// A board to show in detail.
    pub board: Option<String>,
}

impl Cmd {
    /// Prints the list or the memory map.
    pub fn run(self) -> anyhow::Result<()> {
        let db = BoardDatabase::with_project_boards(std::path::Path::new("boards"))?;
        match self.board {
            None => list(&db),
            Some(name) => show(db.get(&name)?),
        }
        Ok(())
    }
}

fn list(db: &BoardDatabase) {
    println!("{:<15} {:<22} {:>9} {:<11} description", "board", "target", "flash", "flash base");
    for b in db.iter() {
        println!(
            "{:<15} {:<22} {:>6} KiB {:#010x}  {}",
            b.name,
            b.target,
            b.flash.size / 1024,
            b.flash.base,
            b.description
        );
    }
}

fn show(b: &Board) {
    println!("{} - {}", b.name, b.description);
    println!("target              {}", b.target);
    if let Some(mbed) = &b.mbed_target {
        println!("mbed target         {mbed}");
    }
    println!("flash               {:#010x}-{:#010x} ({} KiB)", b.flash.base, b.flash_end() - 1, b.flash.size / 1024);
    println!("page / write size   {:#x} / {} bytes", b.flash.page_size, b.flash.write_size);
    println!("erased value        {:#04x}", b.flash.erased_value);
    println!("vector alignment    {:#x}", b.vector_table_align);
    println!("default restrict    {:#x}", b.default_restrict_size);
    if let Some(fcf) = b.flash.flash_config_field {
        println!("flash config field  {:#x}-{:#x}", fcf, fcf + 15);
    }
    for ram in &b.ram {
        println!(
            "ram {:<15} {:#010x}-{:#010x} ({} KiB)",
            ram.name,
            ram.origin,
            ram.origin + ram.length - 1,
            ram.length / 1024
        );
    }
    match (&b.probe, &b.qemu) {
        (_, Some(q)) => println!("runs on            QEMU -machine {}", q.machine),
        (Some(p), _) if p.chip.is_some() => println!("probe-rs chip       {}", p.chip.as_deref().unwrap_or("")),
        (Some(p), _) => println!("flashing            {}", p.unsupported.as_deref().unwrap_or("")),
        (None, None) => {}
    }
    println!();
    println!("{:<7} {:>10} {:>10} {:>8}", "sector", "start", "end", "size");
    for (i, s) in b.sectors().enumerate() {
        println!("{:<7} {:>#10x} {:>#10x} {:>5} KiB", i, s.start, s.end() - 1, s.size / 1024);
    }
}
