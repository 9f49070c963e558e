//! The over-the-air update, as in the Mbed OS 5.5 blog post: ask the server what it
//! has, download a newer image into the secondary slot, and reset into the bootloader.
//!
//! 1. `GET /manifest.json` (`cargo boot serve` writes `{"version","size","sha256","path"}`);
//! 2. if its version is newer than the running one: `GET /update.bin` into an
//!    [`UpdateWriter`], resuming with `Range: bytes=N-` when the connection drops;
//! 3. the writer verifies the image and marks it pending; the app resets, and the
//!    bootloader verifies it again, installs it and starts it on trial.

use core::fmt::{self, Write as _};

use boot_app::{LastUpdate, Layout};
use boot_flash::ram::RamFlash;
use boot_image::{ImageHeader, ImageVersion, HEADER_SIZE};
use boot_update::http::manifest::{Manifest, ManifestError};
use boot_update::http::{self, DownloadError, Event, HttpError, Request, Source};
use boot_update::UpdateWriter;
use embedded_storage::nor_flash::ReadNorFlash;
use smoltcp::wire::IpEndpoint;

use crate::lan9118::{InitError, Lan9118};
use crate::net::{Buffers, Net, NetError, GATEWAY};
use crate::uart::Uart;
use crate::Release;

/// The update server's port, as seen from the guest (10.0.2.2 is the host).
const SERVER_PORT: u16 = match option_env!("DEMO_SERVER_PORT") {
    Some(text) => parse_port(text),
    None => 8000,
};
/// Attempts in a row without a new byte before the download gives up.
const ATTEMPTS: u32 = 5;

/// What the update check decided, when it did not reset the board.
pub enum Outcome {
    /// The server has nothing newer.
    UpToDate,
    /// The bootloader refused the offered version at an earlier boot: not again.
    RefusedBefore(ImageVersion),
}

/// Why the update failed.
pub enum Failure {
    Network(InitError),
    Http(HttpError<NetError>),
    Manifest(ManifestError),
    NotAnImage,
    Download(DownloadError<NetError, boot_flash::Error>),
    Update(boot_update::Error<boot_flash::Error>),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Network(error) => write!(f, "{error}"),
            Failure::Http(error) => write!(f, "cannot get the manifest: {error}"),
            Failure::Manifest(error) => write!(f, "{error}"),
            Failure::NotAnImage => {
                f.write_str("the server's file is not an MCUboot image (its manifest has no version)")
            }
            Failure::Download(error) => write!(f, "{error}"),
            Failure::Update(error) => write!(f, "{error}"),
        }
    }
}

/// Checks the server, and downloads and installs a newer version (this resets the
/// board and does not return).
pub fn update(console: &mut Uart, flash: &mut RamFlash<'static>, running: ImageVersion) -> Result<Outcome, Failure> {
    // SAFETY: the only driver of the controller.
    let device = unsafe { Lan9118::mps2() }.map_err(Failure::Network)?;
    let mac = device.mac_address();
    let mut buffers = Buffers::new();
    let mut net = Net::new(device, &mut buffers, IpEndpoint::new(GATEWAY.into(), SERVER_PORT));
    writeln!(console, "network up: 10.0.2.15, MAC {}", Mac(mac)).ok();
    let mut host = Text::<24>::new();
    write!(host, "10.0.2.2:{SERVER_PORT}").ok();
    let host = host.as_str();

    writeln!(console, "checking http://{host}/manifest.json").ok();
    let mut manifest_buf = [0u8; 1024];
    let request = Request::new(host, "/manifest.json");
    let body = http::fetch(&mut net, &request, &mut manifest_buf).map_err(Failure::Http)?;
    let manifest = Manifest::parse(body).map_err(Failure::Manifest)?;
    let offered = manifest.version.ok_or(Failure::NotAnImage)?;
    if !manifest.is_newer_than(running) {
        writeln!(console, "the server has version {}: up to date", Release(offered)).ok();
        return Ok(Outcome::UpToDate);
    }
    if refused_before(flash, offered) {
        return Ok(Outcome::RefusedBefore(offered));
    }
    let path = manifest.path.unwrap_or("/update.bin");
    writeln!(
        console,
        "version {} is available ({} bytes): downloading http://{host}{path}",
        Release(offered),
        manifest.size
    )
    .ok();
    let source = Source { host, path, attempts: ATTEMPTS };
    download(console, &mut net, &source, flash, &mut [0u8; 2048])
}

/// Downloads, verifies, marks pending and resets.
fn download(
    console: &mut Uart,
    net: &mut Net<'_>,
    source: &Source<'_>,
    flash: &mut RamFlash<'static>,
    buf: &mut [u8],
) -> Result<Outcome, Failure> {
    let mut writer = UpdateWriter::new(flash, boot_app::layout()).map_err(Failure::Update)?;
    let mut progress = Progress { console: &mut *console, quarters: 0 };
    http::download(net, source, &mut writer, buf, &mut |event| progress.show(&event)).map_err(Failure::Download)?;
    let image = writer.finish().map_err(Failure::Update)?;
    writeln!(
        console,
        "downloaded version {} ({} bytes, sha256 {}...), verified and marked pending: resetting",
        Release(image.version),
        image.size,
        Hex(&image.hash[..4])
    )
    .ok();
    cortex_m::peripheral::SCB::sys_reset()
}

/// Prints the download's progress: every quarter, and every interruption.
struct Progress<'c> {
    console: &'c mut Uart,
    quarters: u32,
}

impl Progress<'_> {
    fn show(&mut self, event: &Event<'_, NetError>) {
        match *event {
            Event::Progress { received, total } => {
                let quarters = (u64::from(received) * 4 / u64::from(total.max(1))) as u32;
                if quarters > self.quarters {
                    self.quarters = quarters;
                    writeln!(self.console, "  {}% ({received} of {total} bytes)", quarters * 25).ok();
                }
            }
            Event::Interrupted { received, error } => {
                writeln!(self.console, "  connection lost after {received} bytes ({error})").ok();
            }
            Event::Connecting { offset } if offset > 0 => {
                writeln!(self.console, "  resuming: GET with Range: bytes={offset}-").ok();
            }
            _ => {}
        }
    }
}

/// True if the bootloader refused the last candidate and it was this version (its
/// header is still in the secondary slot).
fn refused_before(flash: &mut RamFlash<'static>, offered: ImageVersion) -> bool {
    let layout: Layout = boot_app::layout();
    let refused = matches!(boot_app::state(flash).map(|s| s.last_update), Ok(LastUpdate::Refused(_)));
    let mut header = [0u8; HEADER_SIZE];
    let offset = layout.secondary.start - layout.flash_start;
    refused
        && flash.read(offset, &mut header).is_ok()
        && ImageHeader::parse(&header).is_ok_and(|h| h.version.release() == offered.release())
}

/// A decimal port number, at compile time.
const fn parse_port(text: &str) -> u16 {
    let bytes = text.as_bytes();
    let mut value: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "DEMO_SERVER_PORT must be a port number");
        value = value * 10 + (bytes[i] - b'0') as u32;
        assert!(value <= 65535, "DEMO_SERVER_PORT must be a port number");
        i += 1;
    }
    assert!(!bytes.is_empty() && value > 0, "DEMO_SERVER_PORT must be a port number");
    value as u16
}

/// `52:54:00:12:34:56`.
struct Mac([u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Bytes in lowercase hex.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// A short text, formatted in place.
struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }

    fn as_str(&self) -> &str {
        // Only `write_str` fills it, with whole strings.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl<const N: usize> fmt::Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
