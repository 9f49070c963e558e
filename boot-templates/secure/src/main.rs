//! The secure bootloader of `cargo boot`.
//!
//! At every reset:
//!
//! 1. The watchdog: armed with `BOOT_WATCHDOG_MS` if that is set (and fed on every
//!    flash operation from then on), otherwise left off (the K64's, which runs from
//!    reset, is turned off).
//! 2. The layout: the slots and the state area from the `memory.x` that `cargo boot`
//!    generates, checked against the chip's sector map ([`layout`]: when the bootloader
//!    is compiled if `cargo boot` names that file in `BOOT_MEMORY_X`, else at run time).
//! 3. boot-core's boot procedure: finish an interrupted swap, revert an unconfirmed
//!    trial, verify a pending candidate (SHA-256, Ed25519 signature by the built-in key,
//!    vendor and class UUIDs, security counter) and swap it in, check the installed
//!    image.
//! 4. One log line (virtual boards, feature `log-uart`), a last watchdog feed, and the
//!    jump to the app in the primary slot, as Mbed OS's `mbed_start_application`.
//!
//! If nothing can boot it stops; an armed watchdog then resets the chip, and the next
//! boot tries again (every step of the procedure resumes after a reset).
//!
//! The build-time settings are in [`config`].

#![no_std]
#![no_main]

mod board;
mod config;
mod handover;
mod layout;
mod log;
mod validator;

use boot_core::{BootConfig, BootError, BootLoader, BootOutcome, PrimaryCheck, Rejection};
use boot_flash::watchdog::Watchdog;
use cortex_m_rt::entry;
use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};

/// The copy buffer of a swap: a multiple of every driver's write size.
const COPY_BUFFER: usize = 1024;

#[entry]
fn main() -> ! {
    // SAFETY: created once, on the board the feature names.
    let mut dog = unsafe { board::watchdog() };
    match config::WATCHDOG_MS {
        Some(ms) => dog.start(ms),
        None => board::watchdog_off_at_reset(&mut dog),
    }
    log::init();

    let Some((memory, layout)) = layout::checked() else {
        log::text("[boot] the slot layout does not fit this flash: rebuild with `cargo boot build`");
        log::end();
        halt();
    };

    // SAFETY: created once, on the board the feature names, over the board's flash.
    let flash =
        unsafe { board::flash(memory.flash_start, memory.flash_size, board::erased_value(memory.erased_value)) };
    let armed = config::WATCHDOG_MS.is_some();
    let mut flash = Feeding { flash, dog: &mut dog, armed };
    let config = BootConfig {
        primary_check: if config::VALIDATE_PRIMARY { PrimaryCheck::Validate } else { PrimaryCheck::Trust },
    };
    let mut buffer = [0u8; COPY_BUFFER];
    let result = BootLoader::new(&layout, config).boot(&mut flash, &mut validator::Validator, &mut buffer);
    match result {
        Ok(decision) => {
            log_outcome(&mut flash.flash, layout.offset(decision.slot_start), &decision.outcome);
            if armed {
                dog.feed();
            }
            // SAFETY: boot-core checked the image in the primary slot (or was told to
            // trust it); its vector table follows the header.
            unsafe { handover::start_app(decision.vector_table) }
        }
        Err(error) => {
            log_error(&error);
            halt();
        }
    }
}

/// Waits for the watchdog (if armed) or a debugger.
fn halt() -> ! {
    loop {
        // SAFETY: waits for an interrupt; none is enabled, so this sleeps until reset.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// Logs what this boot did, with the version of the image that boots.
fn log_outcome(flash: &mut board::Flash, primary: u32, outcome: &BootOutcome) {
    if !cfg!(feature = "log-uart") {
        return;
    }
    log::text("[boot] ");
    match outcome {
        BootOutcome::Normal => log::text("booting "),
        BootOutcome::Trial { .. } => log::text("swapped to "),
        BootOutcome::Installed { .. } => log::text("installed "),
        BootOutcome::Reverted => log::text("reverted to "),
        BootOutcome::Restored => log::text("primary image invalid: restored "),
        BootOutcome::Refused(reason) => {
            log::text("refused candidate: ");
            log_rejection(reason);
            log::text("; booting ");
        }
    }
    log_version(flash, primary);
    if let BootOutcome::Trial { .. } = outcome {
        log::text(" on trial");
    }
    log::end();
}

/// Writes `v1.2.3` (or `v1.2.3+4`) from the primary slot's header.
fn log_version(flash: &mut board::Flash, primary: u32) {
    let mut header = [0u8; boot_image::HEADER_SIZE];
    let parsed = flash.read(primary, &mut header).ok().and_then(|()| boot_image::ImageHeader::parse(&header).ok());
    let Some(header) = parsed else {
        log::text("an unknown version");
        return;
    };
    let version = header.version;
    log::text("v");
    log::number(u32::from(version.major));
    log::text(".");
    log::number(u32::from(version.minor));
    log::text(".");
    log::number(u32::from(version.revision));
    if version.build != 0 {
        log::text("+");
        log::number(version.build);
    }
}

fn log_rejection(reason: &Rejection) {
    match *reason {
        Rejection::NoImage => log::text("no image"),
        Rejection::Malformed => log::text("malformed image"),
        Rejection::TooLarge { size } => {
            log::text("too large for its slot (");
            log::number(size);
            log::text(" bytes)");
        }
        Rejection::HashMismatch => log::text("hash mismatch"),
        Rejection::BadSignature => log::text("bad signature"),
        Rejection::UnknownKey => log::text("signed with an unknown key"),
        Rejection::WrongDevice => log::text("wrong vendor or class UUID"),
        Rejection::Downgrade { candidate } => {
            log::text("downgrade (security counter ");
            log::number(candidate);
            log::text(")");
        }
        Rejection::Other(code) => {
            log::text("code ");
            log::number(code);
        }
    }
}

fn log_error<E>(error: &BootError<E>) {
    if !cfg!(feature = "log-uart") {
        return;
    }
    match error {
        BootError::NoBootableImage(reason) => {
            log::text("[boot] no bootable image: ");
            log_rejection(reason);
        }
        BootError::Flash(_) => log::text("[boot] flash error: halted (the next reset resumes)"),
        BootError::Verify { address } => {
            log::text("[boot] flash verify failed at ");
            log::number(*address);
        }
        _ => log::text("[boot] the bootloader does not match the layout: rebuild with `cargo boot build`"),
    }
    log::end();
}

/// The board's flash, feeding the watchdog (if armed) at every operation, so that a
/// long swap or verification does not trip it while each single step stays bounded.
struct Feeding<'a> {
    flash: board::Flash,
    dog: &'a mut board::Dog,
    armed: bool,
}

impl Feeding<'_> {
    fn feed(&mut self) {
        if self.armed {
            self.dog.feed();
        }
    }
}

impl ErrorType for Feeding<'_> {
    type Error = <board::Flash as ErrorType>::Error;
}

impl ReadNorFlash for Feeding<'_> {
    const READ_SIZE: usize = <board::Flash as ReadNorFlash>::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.feed();
        self.flash.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl NorFlash for Feeding<'_> {
    const WRITE_SIZE: usize = <board::Flash as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <board::Flash as NorFlash>::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.feed();
        self.flash.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.feed();
        self.flash.write(offset, bytes)
    }
}

/// The vector table's interrupt part: one entry (cortex-m-rt's linker script wants at
/// least one). The bootloader enables no interrupt.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
static __INTERRUPTS: [unsafe extern "C" fn(); 1] = [DefaultHandler];

extern "C" {
    fn DefaultHandler();
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    halt()
}
