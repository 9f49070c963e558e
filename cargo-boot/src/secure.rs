//! What `cargo boot build` adds for the secure template: the signing key, the signed
//! app image for the primary slot and `update.bin`, and the settings built into the
//! bootloader (its public key, UUIDs, primary validation, watchdog).

use std::path::{Path, PathBuf};

use boot_image::ImageVersion;

use crate::elf::FlatImage;
use crate::error::IoContext;
use crate::layout::Layout;
use crate::metadata::BootMetadata;
use crate::signing::{self, SignOptions, SigningKey};
use crate::templates;

/// The development key's file name under `$CARGO_BOOT_HOME`.
pub const DEV_KEY_FILE: &str = "dev-key.pem";

/// The warning printed whenever the development key signs an image.
pub fn dev_key_warning(path: &Path) -> String {
    format!(
        "signing with the DEVELOPMENT key {} because [package.metadata.boot] has no `key`. \
         It is NOT FOR PRODUCTION: anyone with this file can sign images your devices accept. \
         Create a key with `cargo boot keygen <path>`, keep it offline, and set `key = \"<path>\"`",
        path.display()
    )
}

/// The signing key and where it came from.
#[derive(Debug)]
pub struct KeyChoice {
    /// The key.
    pub key: SigningKey,
    /// Its file.
    pub path: PathBuf,
    /// True for the generated development key.
    pub is_dev_key: bool,
}

/// The configured key, or the development key (generated on first use).
pub fn signing_key(meta: &BootMetadata) -> crate::Result<KeyChoice> {
    if let Some(path) = &meta.key {
        let key = signing::load_signing_key(path)?;
        return Ok(KeyChoice { key, path: path.clone(), is_dev_key: false });
    }
    dev_key_in(&templates::home())
}

/// The development key in `home`, generated (with `home` itself) on first use.
fn dev_key_in(home: &Path) -> crate::Result<KeyChoice> {
    let path = home.join(DEV_KEY_FILE);
    if path.exists() {
        return Ok(KeyChoice { key: signing::load_signing_key(&path)?, path, is_dev_key: true });
    }
    std::fs::create_dir_all(home).io_context(|| format!("cannot create {}", home.display()))?;
    Ok(KeyChoice { key: signing::keygen(&path)?, path, is_dev_key: true })
}

/// The image version: `version` from the metadata, else the package version.
pub fn image_version(meta: &BootMetadata, package_version: &str) -> crate::Result<ImageVersion> {
    let text = meta.version.as_deref().unwrap_or(package_version);
    // Cargo versions may carry a pre-release part, which MCUboot's header cannot hold.
    let core = text.split('-').next().unwrap_or(text);
    core.parse::<ImageVersion>().map_err(|_| {
        crate::metadata::MetadataError::BadValue {
            key: "version".into(),
            manifest: "the package".into(),
            message: format!("`{text}` is not an image version: use major.minor.revision[+build], e.g. \"1.2.3+4\""),
        }
        .into()
    })
}

/// Signs the app (which starts with its vector table) for the primary slot.
pub fn sign_app(
    app: &FlatImage,
    layout: &Layout,
    meta: &BootMetadata,
    key: &SigningKey,
    version: ImageVersion,
) -> crate::Result<Vec<u8>> {
    let ids = signing::resolve_uuids(meta.vendor_id.as_deref(), meta.class_id.as_deref())?;
    let mut options = SignOptions::new(SignOptions::header_size_from(layout.header_size)?, version);
    options.security_counter = meta.security_counter;
    options.vendor_uuid = ids.vendor;
    options.class_uuid = ids.class;
    options.erased_val = layout.erased_value;
    Ok(signing::sign(&app.bytes, key, &options)?)
}

/// The environment the secure template is built with (see its `build.rs`).
pub fn bootloader_env(meta: &BootMetadata, public_key: &[u8; 32]) -> crate::Result<Vec<(String, String)>> {
    let ids = signing::resolve_uuids(meta.vendor_id.as_deref(), meta.class_id.as_deref())?;
    let mut env = vec![("BOOT_PUBKEY_HEX".to_string(), signing::hex(public_key))];
    if let Some(vendor) = ids.vendor {
        env.push(("BOOT_VENDOR_UUID".into(), signing::hex(&vendor)));
    }
    if let Some(class) = ids.class {
        env.push(("BOOT_CLASS_UUID".into(), signing::hex(&class)));
    }
    env.push(("BOOT_VALIDATE_PRIMARY".into(), if meta.validate_primary.unwrap_or(true) { "1" } else { "0" }.into()));
    if let Some(ms) = meta.watchdog_ms {
        env.push(("BOOT_WATCHDOG_MS".into(), ms.to_string()));
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Template;

    fn meta() -> BootMetadata {
        BootMetadata::new("qemu-an386", 0x10000, Template::Secure)
    }

    #[test]
    fn the_dev_key_is_created_with_its_directory_once_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("not/yet/there");
        let first = dev_key_in(&home).unwrap();
        assert!(first.is_dev_key && first.path.is_file());
        let again = dev_key_in(&home).unwrap();
        assert_eq!(again.key.public_key(), first.key.public_key(), "the same key signs every build");
    }

    #[test]
    fn the_version_defaults_to_the_package_version() {
        assert_eq!(image_version(&meta(), "1.2.3").unwrap().to_string(), "1.2.3+0");
        assert_eq!(image_version(&meta(), "1.2.3-beta.1").unwrap().to_string(), "1.2.3+0");
        let mut m = meta();
        m.version = Some("2.0.1+7".into());
        assert_eq!(image_version(&m, "1.0.0").unwrap().to_string(), "2.0.1+7");
        m.version = Some("two".into());
        let err = image_version(&m, "1.0.0").unwrap_err().to_string();
        assert!(err.contains("`two` is not an image version"), "{err}");
    }

    #[test]
    fn the_bootloader_gets_the_public_key_and_never_the_private_one() {
        let key = SigningKey::generate().unwrap();
        let mut m = meta();
        m.vendor_id = Some("example.com".into());
        m.class_id = Some("sensor".into());
        m.watchdog_ms = Some(4000);
        let env = bootloader_env(&m, &key.public_key()).unwrap();
        let get = |k: &str| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
        assert_eq!(get("BOOT_PUBKEY_HEX").unwrap(), signing::hex(&key.public_key()));
        assert_eq!(get("BOOT_VALIDATE_PRIMARY").unwrap(), "1");
        assert_eq!(get("BOOT_WATCHDOG_MS").unwrap(), "4000");
        assert_eq!(get("BOOT_VENDOR_UUID").unwrap().len(), 32);
        let names: Vec<&str> = env.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            ["BOOT_PUBKEY_HEX", "BOOT_VENDOR_UUID", "BOOT_CLASS_UUID", "BOOT_VALIDATE_PRIMARY", "BOOT_WATCHDOG_MS"]
        );
    }
}
