//! The example project: the over-the-air update demo of the Mbed OS 5.5 blog post
//! ("Firmware updates on mbed OS 5.5 with FlashIAP") on the qemu-an386 virtual board.
//!
//! At every start it prints its version and message, confirms itself (an update runs on
//! trial until it does), then asks the update server on the host for its manifest. A
//! newer version is downloaded into the secondary slot, verified, and marked pending;
//! the board resets and the secure bootloader installs it. With nothing newer, it says
//! `up to date` and ends the QEMU run.
//!
//! Build-time settings (environment variables of `cargo boot build`):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `DEMO_MESSAGE` | the line this version prints | `hello from the first firmware` |
//! | `DEMO_SERVER_PORT` | the update server's port on the host | 8000 |
//!
//! ```sh
//! cargo boot serve --file <new version's update.bin> &     # port 8000
//! cargo boot run --nic user,model=lan9118
//! ```

#![no_std]
#![no_main]

mod clock;
mod lan9118;
mod net;
mod ota;
mod uart;

use core::fmt::{self, Write as _};

use boot_app::{Confirmation, LastUpdate, Layout};
use boot_flash::ram::RamFlash;
use boot_image::{ImageHeader, ImageVersion, HEADER_SIZE};
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug;
use embedded_storage::nor_flash::ReadNorFlash;

use uart::Uart;

/// What this version says: the demo changes it between versions, as the blog post
/// changes the text at the start of the application.
const MESSAGE: &str = match option_env!("DEMO_MESSAGE") {
    Some(message) => message,
    None => "hello from the first firmware",
};

#[entry]
fn main() -> ! {
    let mut console = Uart::uart0();
    let mut core = cortex_m::Peripherals::take().expect("the core peripherals are taken once");
    clock::start(&mut core.SYST);
    let layout = boot_app::layout();
    // SAFETY: the only flash driver in the app, over the virtual board's flash.
    let mut flash = unsafe { board_flash(&layout) };
    let running = running_version(&mut flash, &layout);
    writeln!(console, "version {}: {MESSAGE}", Release(running)).ok();
    confirm(&mut console, &mut flash, running);
    let code = match ota::update(&mut console, &mut flash, running) {
        Ok(ota::Outcome::UpToDate) => debug::EXIT_SUCCESS,
        Ok(ota::Outcome::RefusedBefore(version)) => {
            writeln!(console, "not downloading version {} again: the bootloader refused it", Release(version)).ok();
            debug::EXIT_FAILURE
        }
        Err(failure) => {
            writeln!(console, "update failed: {failure}").ok();
            writeln!(console, "still running version {}", Release(running)).ok();
            debug::EXIT_FAILURE
        }
    };
    debug::exit(code);
    loop {
        cortex_m::asm::wfi();
    }
}

/// The virtual board's flash: SSRAM1 from the flash start to the end of the last
/// region the layout names, with NOR flash rules.
///
/// # Safety
/// Once: the driver owns that memory (the app only reads its own code in it).
unsafe fn board_flash(layout: &Layout) -> RamFlash<'static> {
    let end = [layout.primary, layout.secondary, layout.state].iter().map(|r| r.end()).max().unwrap_or(0);
    let size = (end - u64::from(layout.flash_start)) as u32;
    unsafe { RamFlash::from_raw(layout.flash_start as usize as *mut u8, size, layout.erased.byte()) }
}

/// The version in the running image's header (what the bootloader compares).
fn running_version(flash: &mut RamFlash<'static>, layout: &Layout) -> ImageVersion {
    let mut header = [0u8; HEADER_SIZE];
    let offset = layout.primary.start - layout.flash_start;
    let parsed = flash.read(offset, &mut header).ok().and_then(|()| ImageHeader::parse(&header).ok());
    parsed.map_or(ImageVersion::default(), |header| header.version)
}

/// Confirms the running image (an update stays installed only once it did), and says
/// how the last update went.
fn confirm(console: &mut Uart, flash: &mut RamFlash<'static>, running: ImageVersion) {
    match boot_app::mark_booted(flash) {
        Ok(Confirmation::Confirmed { .. }) => {
            writeln!(console, "update confirmed: version {} stays installed", Release(running)).ok();
        }
        Ok(Confirmation::AlreadyConfirmed) => {}
        Err(error) => {
            writeln!(console, "cannot confirm this image: {error}").ok();
        }
    }
    if let Ok(status) = boot_app::state(flash) {
        if let LastUpdate::Refused(reason) = status.last_update {
            writeln!(console, "the bootloader refused the last update: {reason}").ok();
        }
    }
}

/// `major.minor.revision`, the way Cargo writes versions.
pub struct Release(pub ImageVersion);

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0.major, self.0.minor, self.0.revision)
    }
}

/// A fault ends the run at once, with the faulting address, instead of hanging QEMU.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    writeln!(Uart::uart0(), "HardFault at pc {:#010x}", frame.pc()).ok();
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    writeln!(Uart::uart0(), "{info}").ok();
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
