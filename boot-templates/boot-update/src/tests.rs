//! The writer on boot-core's simulated NOR flash, with real MCUboot images from
//! boot-image's builder, and the bootloader core installing what it wrote.

use std::string::ToString;
use std::vec::Vec;

use boot_app::{BootControl, InstallKind, LastUpdate, Layout, Region, RunningImage};
use boot_core::sim::{Rng, SimError, SimFlash};
use boot_core::{
    BootConfig, BootLoader, BootOutcome, Erased, Geometry, ImageInfo, ImageValidator, LayoutRequest, Rejection,
    SectorRun, SlotLayout, SlotReader,
};
use boot_image::{flags, Ed25519Signer, FlashSource, ImageBuilder, ImageVersion};
use embedded_storage::nor_flash::ReadNorFlash;

use crate::{Error, UpdateWriter};

const SECTORS: &[SectorRun] = &[SectorRun { size: 4096, count: 64 }];
const PRIMARY: u32 = 0x8000;
pub(crate) const SECONDARY: u32 = 0x1_8000;
const SLOT: u32 = 0x1_0000;

pub(crate) fn layout() -> Layout {
    Layout {
        flash_start: 0,
        primary: Region::new(PRIMARY, SLOT),
        secondary: Region::new(SECONDARY, SLOT + 0x1000),
        state: Region::new(0x4000, 0x2000),
        header_size: 0x200,
        erased: Erased::Ones,
    }
}

pub(crate) fn geometry() -> Geometry<'static> {
    Geometry { base: 0, sectors: SECTORS, erased: Erased::Ones }
}

/// Signs with a fixed Ed25519 key through ed25519-dalek.
struct Key(ed25519_dalek::SigningKey);

impl Key {
    fn new(seed: u8) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }
}

impl Ed25519Signer for Key {
    fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

/// A signed image of `body_len` bytes (not a multiple of 4, so the last word is padded).
fn image(version: ImageVersion, body_len: usize, counter: u32) -> Vec<u8> {
    let body: Vec<u8> = (0..body_len).map(|i| (i * 7 + 3) as u8).collect();
    builder(version, counter).build(&body, Some(&Key::new(1))).unwrap()
}

fn builder(version: ImageVersion, counter: u32) -> ImageBuilder {
    ImageBuilder::new(0x200).version(version).security_counter(Some(counter))
}

pub(crate) fn v2() -> Vec<u8> {
    image(ImageVersion::new(1, 1, 0, 0), 20_001, 2)
}

fn pending(flash: &mut SimFlash<4>) -> Option<InstallKind> {
    BootControl::new(flash, layout()).unwrap().status().unwrap().pending
}

fn slot(flash: &SimFlash<4>, len: usize) -> &[u8] {
    flash.contents(SECONDARY, len)
}

/// Downloads `image` in chunks of the given sizes (cycled), then finishes.
fn download(flash: &mut SimFlash<4>, image: &[u8], sizes: &[usize]) -> Result<crate::Downloaded, Error<SimError>> {
    let mut writer = UpdateWriter::new(flash, layout())?;
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == image.len() {
            break;
        }
        let end = (at + size).min(image.len());
        writer.write(&image[at..end])?;
        at = end;
    }
    writer.finish()
}

#[test]
fn any_chunking_writes_the_image_and_marks_it_pending() {
    let image = v2();
    let mut rng = Rng::new(7);
    let random: Vec<usize> = (0..64).map(|_| 1 + rng.below(700) as usize).collect();
    let patterns: [&[usize]; 9] = [&[1], &[3], &[31, 33], &[32], &[255], &[256], &[257], &[4096, 1], &random];
    for sizes in patterns {
        let mut flash = SimFlash::<4>::new(&geometry());
        let done = download(&mut flash, &image, sizes).unwrap();
        assert_eq!(slot(&flash, image.len()), &image[..], "{sizes:?}");
        assert_eq!(done.version, ImageVersion::new(1, 1, 0, 0));
        assert_eq!(done.size as usize, image.len());
        assert_eq!(done.key_index, None);
        assert_eq!(pending(&mut flash), Some(InstallKind::Test));
    }
}

#[test]
fn the_slot_is_erased_one_sector_ahead_of_the_data_and_only_as_far_as_the_image() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    UpdateWriter::new(&mut flash, layout()).unwrap().write(&image[..5000]).unwrap();
    assert_eq!(flash.erase_count(SECONDARY), 1);
    assert_eq!(flash.erase_count(SECONDARY + 0x1000), 1);
    assert_eq!(flash.erase_count(SECONDARY + 0x2000), 0);
    download(&mut flash, &image, &[999]).unwrap();
    let sectors = image.len().div_ceil(0x1000) as u32;
    assert_eq!(flash.erase_count(SECONDARY + (sectors - 1) * 0x1000), 1);
    assert_eq!(flash.erase_count(SECONDARY + sectors * 0x1000), 0);
}

#[test]
fn a_dropped_connection_resumes_from_resume_offset() {
    let image = v2();
    for cut in [1, 31, 32, 33, 300, 512, 4097, 20_000, image.len() - 1] {
        let mut flash = SimFlash::<4>::new(&geometry());
        let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
        for piece in image[..cut].chunks(1460) {
            writer.write(piece).unwrap();
        }
        // The connection drops; a new one asks for `Range: bytes=N-`.
        let offset = writer.resume_offset();
        assert_eq!(offset as usize, cut);
        assert!(!writer.is_complete());
        for (i, piece) in image[offset as usize..].chunks(1000).enumerate() {
            writer.write_at(offset + 1000 * i as u32, piece).unwrap();
        }
        assert!(writer.is_complete());
        writer.finish().unwrap();
        assert_eq!(slot(&flash, image.len()), &image[..], "cut at {cut}");
        assert_eq!(pending(&mut flash), Some(InstallKind::Test));
    }
}

#[test]
fn a_server_that_ignores_the_range_resends_bytes_that_are_skipped() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    writer.write(&image[..7000]).unwrap();
    writer.write_at(0, &image).unwrap();
    writer.finish().unwrap();
    assert_eq!(slot(&flash, image.len()), &image[..]);
}

#[test]
fn a_chunk_past_the_received_bytes_is_a_gap() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    writer.write(&image[..100]).unwrap();
    let error = writer.write_at(200, &image[200..300]).unwrap_err();
    assert_eq!(error, Error::Gap { offset: 200, received: 100 });
    assert_eq!(
        error.to_string(),
        "the data jumps to offset 200 but only 100 bytes arrived: ask the server for the bytes from \
         resume_offset() on"
    );
    assert_eq!(writer.write(&image[100..]), Err(Error::Aborted));
    assert_eq!(
        writer.finish().unwrap_err().to_string(),
        "an earlier error ended this download: start again with a new UpdateWriter"
    );
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn a_corrupted_byte_is_refused_and_nothing_is_marked_pending() {
    let image = v2();
    for offset in [0x200, 0x2000, image.len() - 200] {
        let mut corrupted = image.clone();
        corrupted[offset] ^= 0x01;
        let mut flash = SimFlash::<4>::new(&geometry());
        let error = download(&mut flash, &corrupted, &[1460]).unwrap_err();
        assert_eq!(error, Error::Image(boot_image::Error::HashMismatch), "byte {offset:#x}");
        assert!(error.to_string().starts_with("update refused: the image's SHA-256 does not match its hash TLV"));
        assert_eq!(pending(&mut flash), None);
    }
}

#[test]
fn header_garbage_is_refused_before_the_flash_is_touched() {
    let mut garbage = vec![0u8; 4096];
    Rng::new(3).fill(&mut garbage);
    garbage[..4].copy_from_slice(b"HTTP");
    let mut flash = SimFlash::<4>::new(&geometry());
    let error = download(&mut flash, &garbage, &[1460]).unwrap_err();
    assert_eq!(error, Error::Image(boot_image::Error::BadMagic { found: u32::from_le_bytes(*b"HTTP") }));
    assert!(error.to_string().starts_with("update refused: not an MCUboot image: the header magic is 0x50545448"));
    assert_eq!(flash.stats().ops(), 0, "no erase, no write");
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn an_image_larger_than_the_slot_is_refused_at_its_header() {
    let too_large = image(ImageVersion::new(2, 0, 0, 0), SLOT as usize, 3);
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    writer.write(&too_large[..31]).unwrap();
    let error = writer.write(&too_large[31..64]).unwrap_err();
    assert_eq!(writer.resume_offset(), 32, "refused right after the header");
    // Header, body, the security counter TLV (12 bytes) and the smallest TLV area (4).
    let size = 0x200 + u64::from(SLOT) + 12 + 4;
    assert_eq!(error, Error::TooLarge { size, max: SLOT });
    assert_eq!(
        error.to_string(),
        format!(
            "update refused: the image is {size} bytes but the slot holds at most 65536 bytes: make the app \
             smaller, or give the slots more room (restrict_size, slot_size)"
        )
    );
    assert_eq!(flash.stats().ops(), 0);
    assert_eq!(pending(&mut flash), None);
}

/// Where the unprotected TLV area's info header is.
fn tlv_info_at(image: &[u8]) -> usize {
    boot_image::ImageLayout::parse(image).unwrap().tlv_offset() as usize
}

#[test]
fn bytes_past_the_image_or_past_the_slot_are_refused() {
    let v2 = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut longer = v2.clone();
    longer.extend_from_slice(b"trailing");
    let error = download(&mut flash, &longer, &[4000]).unwrap_err();
    assert_eq!(error, Error::TooLong { total: v2.len() as u32 });
    assert_eq!(
        error.to_string(),
        format!(
            "update refused: more bytes arrived than the image's {}: the server sent something else after the \
             image, or the file is not one image",
            v2.len()
        )
    );
    assert_eq!(pending(&mut flash), None);

    // A TLV area that claims to run past the slot.
    let mut huge = image(ImageVersion::new(1, 0, 0, 0), 50_000, 1);
    let info = tlv_info_at(&huge);
    huge[info + 2..info + 4].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let error = download(&mut flash, &huge, &[4000]).unwrap_err();
    assert_eq!(error, Error::TooLarge { size: info as u64 + 0xFFFF, max: SLOT });
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn a_missing_tlv_area_is_refused_when_it_should_arrive() {
    let mut image = v2();
    let info = tlv_info_at(&image);
    image[info] = 0x00;
    let mut flash = SimFlash::<4>::new(&geometry());
    let error = download(&mut flash, &image, &[333]).unwrap_err();
    let found = u16::from_le_bytes([0x00, image[info + 1]]);
    assert_eq!(error, Error::Image(boot_image::Error::BadTlvMagic { offset: info as u32, found }));
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn images_built_to_run_elsewhere_are_refused() {
    let body = [0x55u8; 100];
    let ram_load = builder(ImageVersion::new(1, 1, 0, 0), 2).load_addr(0x2000_0000).build(&body, None).unwrap();
    let mut flash = SimFlash::<4>::new(&geometry());
    let error = download(&mut flash, &ram_load, &[64]).unwrap_err();
    assert_eq!(error, Error::RamLoad { load_addr: 0x2000_0000 });
    assert!(error.to_string().contains("sign it without --load-addr"), "{error}");

    let mut rom_fixed = builder(ImageVersion::new(1, 1, 0, 0), 2).build(&body, None).unwrap();
    rom_fixed[4..8].copy_from_slice(&0x0800_8000u32.to_le_bytes());
    rom_fixed[16..20].copy_from_slice(&flags::ROM_FIXED.to_le_bytes());
    let error = download(&mut flash, &rom_fixed, &[64]).unwrap_err();
    assert_eq!(error, Error::WrongLoadAddress { load_addr: 0x0800_8000, expected: PRIMARY });
    assert_eq!(
        error.to_string(),
        "update refused: the image was signed for address 0x08008000, but the primary slot is at 0x00008000: \
         build and sign it for this board's layout"
    );
    rom_fixed[4..8].copy_from_slice(&PRIMARY.to_le_bytes());
    // The header changed after signing: accepted early, refused by the hash.
    let error = download(&mut flash, &rom_fixed, &[64]).unwrap_err();
    assert_eq!(error, Error::Image(boot_image::Error::HashMismatch));
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn finishing_early_says_how_much_arrived() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    writer.write(&image[..10]).unwrap();
    let error = writer.finish().unwrap_err();
    assert_eq!(error, Error::Incomplete { received: 10, total: None });
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    writer.write(&image[..20_600]).unwrap();
    let error = writer.finish().unwrap_err();
    let total = image.len() as u32;
    assert_eq!(error, Error::Incomplete { received: 20_600, total: Some(total) });
    assert_eq!(
        error.to_string(),
        format!("the download is incomplete: 20600 of {total} bytes arrived; resume it from resume_offset()")
    );
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn trusted_keys_check_the_signature_too() {
    let image = v2();
    let (good, other) = (Key::new(1).public_key(), Key::new(2).public_key());
    let mut flash = SimFlash::<4>::new(&geometry());
    let keys = [other, good];
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap().with_trusted_keys(&keys);
    writer.write(&image).unwrap();
    assert_eq!(writer.finish().unwrap().key_index, Some(1));

    let mut flash = SimFlash::<4>::new(&geometry());
    let keys = [other];
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap().with_trusted_keys(&keys);
    writer.write(&image).unwrap();
    let error = writer.finish().unwrap_err();
    assert!(matches!(error, Error::Image(boot_image::Error::UnknownKey { .. })), "{error:?}");
    assert!(error.to_string().contains("signed by a key that is not trusted here"), "{error}");
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn a_flash_that_does_not_keep_what_was_written_is_caught() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    flash.fail_to_program_after(30);
    let error = download(&mut flash, &image, &[1000]).unwrap_err();
    // The stored image no longer matches its hash TLV: the read-back caught it.
    assert_eq!(error, Error::Image(boot_image::Error::HashMismatch));
    assert_eq!(pending(&mut flash), None);
}

#[test]
fn flash_errors_are_passed_on() {
    let image = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    flash.fail_after(3);
    let error = download(&mut flash, &image, &[1000]).unwrap_err();
    assert_eq!(error, Error::Flash(SimError::PowerLoss));
    assert_eq!(error.to_string(), "flash operation failed: PowerLoss");
}

#[test]
fn larger_erase_units_and_write_sizes_work() {
    let image = v2();
    let mut flash = SimFlash::<16>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap().with_erase_unit(0x2000).unwrap();
    writer.write(&image).unwrap();
    writer.finish().unwrap();
    assert_eq!(flash.contents(SECONDARY, image.len()), &image[..]);
    assert_eq!(flash.erase_count(SECONDARY + 0x4000), 1);

    let writer = UpdateWriter::new(&mut flash, layout());
    let error = writer.ok().unwrap().with_erase_unit(0x3000).err().unwrap();
    assert_eq!(error, Error::EraseUnit { unit: 0x3000, erase_size: 16, slot_size: SLOT });
    assert!(error.to_string().contains("use whole sectors of the slot"), "{error}");
}

/// boot-core's validator with boot-image's verification, as the secure bootloader has it.
struct Mcuboot;

impl ImageValidator for Mcuboot {
    fn validate<F: ReadNorFlash>(&mut self, image: &mut SlotReader<'_, F>) -> Result<ImageInfo, Rejection> {
        let len = image.len();
        let mut source = FlashSource::new(&mut *image, 0, len);
        let verified = boot_image::verify(&mut source, &[Key::new(1).public_key()]).map_err(|error| match error {
            boot_image::Error::HashMismatch => Rejection::HashMismatch,
            _ => Rejection::Malformed,
        })?;
        Ok(ImageInfo::new(verified.total_size, verified.security_counter.unwrap_or(0)))
    }
}

/// A reset: the bootloader core runs.
fn boot(flash: &mut SimFlash<4>) -> BootOutcome {
    let app = layout();
    let request = LayoutRequest {
        primary: app.primary,
        secondary: app.secondary,
        state: app.state,
        header_size: app.header_size,
        write_size: 4,
    };
    let slots = SlotLayout::new(&geometry(), &request).unwrap();
    let mut buffer = [0u8; 512];
    BootLoader::new(&slots, BootConfig::default()).boot(flash, &mut Mcuboot, &mut buffer).unwrap().outcome
}

#[test]
fn the_bootloader_installs_what_the_writer_wrote_and_refuses_nothing_else() {
    let old = image(ImageVersion::new(1, 0, 0, 0), 30_000, 1);
    let new = v2();
    let mut flash = SimFlash::<4>::new(&geometry());
    flash.program(PRIMARY, &old);
    assert_eq!(boot(&mut flash), BootOutcome::Normal);

    download(&mut flash, &new, &[1460]).unwrap();
    assert_eq!(boot(&mut flash), BootOutcome::Trial { security_counter: 2 });
    assert_eq!(flash.contents(PRIMARY, new.len()), &new[..]);
    let mut control = BootControl::new(&mut flash, layout()).unwrap();
    assert_eq!(control.status().unwrap().image, RunningImage::Trial);

    // On trial, the secondary slot holds the image a revert needs: no new download.
    let error = UpdateWriter::new(&mut flash, layout()).err().unwrap();
    assert_eq!(error, Error::Boot(boot_app::Error::Unconfirmed));
    assert!(error.to_string().starts_with("the running image is on trial: call mark_booted"), "{error}");
    BootControl::new(&mut flash, layout()).unwrap().mark_booted().unwrap();

    // A refused download after a confirmed update leaves the state alone.
    let mut corrupted = old.clone();
    corrupted[0x300] ^= 0x80;
    assert!(download(&mut flash, &corrupted, &[1460]).is_err());
    assert_eq!(boot(&mut flash), BootOutcome::Normal);
    let status = BootControl::new(&mut flash, layout()).unwrap().status().unwrap();
    assert_eq!(status.last_update, LastUpdate::Confirmed);
    assert_eq!(status.pending, None);
}
