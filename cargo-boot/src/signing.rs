//! Signing keys and MCUboot-format images: `keygen`, `sign`, `verify` and `inspect`.
//!
//! The image format and its only verifier are in the `boot-image` crate, which the
//! bootloader uses too; this module adds what only a host does: Ed25519 keys in
//! PKCS#8 PEM files (the format `imgtool keygen -t ed25519` writes, so keys work with
//! both tools), signing, and human-readable reports.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use boot_image::trailer::{self, TrailerLayout, TrailerState};
use boot_image::{tlv, Ed25519Signer, ImageBuilder, ImageLayout, ImageVersion, KeyFormat, PadMode, VerifiedImage};
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::Decode;
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo, SecretDocument, SubjectPublicKeyInfoRef};
use zeroize::Zeroizing;

/// RFC 8410 `id-Ed25519`.
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Errors of key handling and signing.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("{path} already exists: cargo boot keygen never overwrites a key (images signed with it would stop verifying); choose another path, or delete the old key yourself if you really mean to replace it")]
    KeyExists { path: PathBuf },
    #[error("cannot write the key to {path}: {source}")]
    KeyWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the key {path}: {source}")]
    KeyRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PEM key file: give the PEM file written by `cargo boot keygen` or `imgtool keygen -t ed25519` (it starts with -----BEGIN PRIVATE KEY-----)")]
    NotPem { path: PathBuf },
    #[error("{path} is a password-protected key, which cargo boot cannot read: decrypt it with `openssl pkey -in {path} -out <new.pem>` and keep the result as private as the original")]
    EncryptedKey { path: PathBuf },
    #[error("{path} holds {found} key, but cargo boot signs with Ed25519 only: create an Ed25519 key with `cargo boot keygen` (or `imgtool keygen -t ed25519`)")]
    WrongKeyType { path: PathBuf, found: String },
    #[error("{path} holds only a public key: signing needs the private key written by `cargo boot keygen`")]
    PublicKeyOnly { path: PathBuf },
    #[error("{path} is not a valid {what} ({detail}): give the PEM file written by `cargo boot keygen` or `imgtool keygen -t ed25519`")]
    MalformedKey { path: PathBuf, what: &'static str, detail: String },
    #[error("{path} holds a PEM block `{label}`, not a key: give the PEM file written by `cargo boot keygen` or `imgtool keygen -t ed25519`")]
    UnexpectedPem { path: PathBuf, label: String },
    #[error("cannot get random bytes from the operating system for a new key: {0}")]
    Random(#[source] getrandom::Error),
    #[error("invalid {option} `{value}`: use a UUID (12345678-1234-5678-1234-567812345678, or 32 hex digits), or a name that imgtool turns into one")]
    BadUuid { option: &'static str, value: String },
    #[error("--cid `{value}` is a name, which imgtool turns into a UUID inside the vendor's namespace: also pass --vid, or give the class as a UUID")]
    ClassNameWithoutVendor { value: String },
    #[error("invalid security counter `{value}`: use a number (decimal, 0x hex, 0o octal or 0b binary) up to 4294967295, or `auto` to derive it from the version")]
    BadSecurityCounter { value: String },
    #[error("the header size {size:#x} does not fit the 16-bit header field: use at most 0xffff")]
    HeaderSizeTooLarge { size: u32 },
    #[error("the image was signed but does not verify with its own key ({0}): this is a bug in cargo boot, please report it")]
    SelfCheck(#[source] boot_image::Error),
    #[error(transparent)]
    Build(#[from] boot_image::BuildError),
    #[error(transparent)]
    Image(#[from] boot_image::Error),
}

type Result<T, E = SigningError> = std::result::Result<T, E>;

/// An Ed25519 private key. Its bytes are wiped from memory when it is dropped, and
/// `Debug` shows only the public key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(SigningError::Random)?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The 32-byte public key: what the bootloader embeds.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The key as PKCS#8 v1 PEM, byte for byte what imgtool (and OpenSSL) write.
    pub fn to_pem(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(self.0.to_bytes());
        // `CurvePrivateKey ::= OCTET STRING` (RFC 8410), inside PKCS#8's own OCTET STRING.
        let mut inner = Zeroizing::new([0u8; 34]);
        inner[..2].copy_from_slice(&[0x04, 0x20]);
        inner[2..].copy_from_slice(seed.as_ref());
        let algorithm = AlgorithmIdentifierRef { oid: ED25519_OID, parameters: None };
        let info = PrivateKeyInfo::new(algorithm, inner.as_ref());
        // Encoding 48 bytes of fixed structure cannot fail.
        let document = SecretDocument::try_from(info).expect("an Ed25519 PKCS#8 structure encodes");
        document.to_pem("PRIVATE KEY", pkcs8::LineEnding::LF).expect("PEM encoding of 48 bytes")
    }

    /// Reads a PKCS#8 PEM private key (ours or imgtool's); `path` names it in errors.
    pub fn from_pem(text: &str, path: &Path) -> Result<Self> {
        let (label, document) = decode_pem(text, path)?;
        match label {
            "PRIVATE KEY" => {}
            "PUBLIC KEY" => return Err(SigningError::PublicKeyOnly { path: path.into() }),
            other => return Err(other_pem(other, path)),
        }
        let info =
            PrivateKeyInfo::from_der(document.as_bytes()).map_err(|e| malformed(path, "PKCS#8 private key", e))?;
        require_ed25519(&info.algorithm, path)?;
        let seed = OctetStringRef::from_der(info.private_key).map_err(|e| malformed(path, "Ed25519 private key", e))?;
        let seed: &[u8; 32] = seed.as_bytes().try_into().map_err(|_| SigningError::MalformedKey {
            path: path.into(),
            what: "Ed25519 private key",
            detail: format!("the key is {} bytes, not 32", seed.as_bytes().len()),
        })?;
        Ok(Self(ed25519_dalek::SigningKey::from_bytes(seed)))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("public", &hex(&self.public_key())).finish_non_exhaustive()
    }
}

impl Ed25519Signer for SigningKey {
    fn public_key(&self) -> [u8; 32] {
        SigningKey::public_key(self)
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer;
        self.0.sign(message).to_bytes()
    }
}

/// Creates a new Ed25519 key at `path` (PKCS#8 PEM, mode 0600 on Unix) and returns
/// it. Never replaces an existing file.
pub fn keygen(path: &Path) -> Result<SigningKey> {
    let key = SigningKey::generate()?;
    write_new_secret(path, key.to_pem().as_bytes())?;
    Ok(key)
}

/// Writes `contents` to a file that must not exist yet, readable by its owner only.
fn write_new_secret(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => SigningError::KeyExists { path: path.into() },
        _ => SigningError::KeyWrite { path: path.into(), source },
    })?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(source) = written {
        drop(file);
        // The file is ours (create_new): do not leave half a key behind.
        let _ = std::fs::remove_file(path);
        return Err(SigningError::KeyWrite { path: path.into(), source });
    }
    Ok(())
}

/// Loads the private key at `path`.
pub fn load_signing_key(path: &Path) -> Result<SigningKey> {
    SigningKey::from_pem(&read_key_file(path)?, path)
}

/// The 32-byte public key of the key file at `path`, which may hold the private key
/// or only the public one (`-----BEGIN PUBLIC KEY-----`, as `imgtool getpub -e pem`
/// writes). This is what the bootloader embeds.
pub fn public_key_bytes(path: &Path) -> Result<[u8; 32]> {
    let text = read_key_file(path)?;
    let (label, document) = decode_pem(&text, path)?;
    match label {
        "PRIVATE KEY" => Ok(SigningKey::from_pem(&text, path)?.public_key()),
        "PUBLIC KEY" => public_key_from_spki(document.as_bytes(), path),
        other => Err(other_pem(other, path)),
    }
}

fn public_key_from_spki(der: &[u8], path: &Path) -> Result<[u8; 32]> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| malformed(path, "public key", e))?;
    let algorithm = AlgorithmIdentifierRef { oid: spki.algorithm.oid, parameters: spki.algorithm.parameters };
    require_ed25519(&algorithm, path)?;
    let bytes = spki.subject_public_key.as_bytes().unwrap_or_default();
    bytes.try_into().map_err(|_| SigningError::MalformedKey {
        path: path.into(),
        what: "Ed25519 public key",
        detail: format!("the key is {} bytes, not 32", bytes.len()),
    })
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>> {
    let bytes =
        Zeroizing::new(std::fs::read(path).map_err(|source| SigningError::KeyRead { path: path.into(), source })?);
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_owned())),
        Err(_) => Err(SigningError::NotPem { path: path.into() }),
    }
}

fn decode_pem<'a>(text: &'a str, path: &Path) -> Result<(&'a str, SecretDocument)> {
    if !text.trim_start().starts_with("-----BEGIN ") {
        return Err(SigningError::NotPem { path: path.into() });
    }
    let label = pem_label(text).unwrap_or_default();
    match label {
        "PRIVATE KEY" | "PUBLIC KEY" => {
            let (_, document) = SecretDocument::from_pem(text.trim()).map_err(|e| malformed(path, "PEM file", e))?;
            Ok((label, document))
        }
        other => Err(other_pem(other, path)),
    }
}

/// The label of the first `-----BEGIN <label>-----` line.
fn pem_label(text: &str) -> Option<&str> {
    text.trim_start().strip_prefix("-----BEGIN ")?.split_once("-----").map(|(label, _)| label)
}

/// The error for a PEM block that is not a PKCS#8 private or public key.
fn other_pem(label: &str, path: &Path) -> SigningError {
    let path = path.to_path_buf();
    let found = match label {
        "ENCRYPTED PRIVATE KEY" => return SigningError::EncryptedKey { path },
        "EC PRIVATE KEY" => "an ECDSA",
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => "an RSA",
        "OPENSSH PRIVATE KEY" => "an OpenSSH",
        _ => return SigningError::UnexpectedPem { path, label: label.into() },
    };
    SigningError::WrongKeyType { path, found: found.into() }
}

/// Accepts Ed25519; names any other algorithm.
fn require_ed25519(algorithm: &AlgorithmIdentifierRef<'_>, path: &Path) -> Result<()> {
    if algorithm.oid == ED25519_OID {
        return Ok(());
    }
    let curve = algorithm.parameters_oid().ok().map(|oid| oid.to_string());
    let found = match (algorithm.oid.to_string().as_str(), curve.as_deref()) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "an ECDSA P-256".to_string(),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => "an ECDSA P-384".to_string(),
        ("1.2.840.10045.2.1", _) => "an ECDSA".to_string(),
        ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", _) => "an RSA".to_string(),
        ("1.3.101.110", _) => "an X25519 (encryption, not signing)".to_string(),
        ("1.3.101.113", _) => "an Ed448".to_string(),
        (oid, _) => format!("an unknown (algorithm {oid})"),
    };
    Err(SigningError::WrongKeyType { path: path.into(), found })
}

fn malformed(path: &Path, what: &'static str, error: impl fmt::Display) -> SigningError {
    SigningError::MalformedKey { path: path.into(), what, detail: error.to_string() }
}

/// How to sign: the options of `cargo boot sign` (and `imgtool sign`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Bytes before the body: the app's vector table is at `slot + header_size`.
    pub header_size: u16,
    /// The image version.
    pub version: ImageVersion,
    /// The anti-rollback counter (protected SEC_CNT TLV).
    pub security_counter: Option<u32>,
    /// The vendor UUID (protected UUID_VID TLV).
    pub vendor_uuid: Option<[u8; 16]>,
    /// The class UUID (protected UUID_CID TLV).
    pub class_uuid: Option<[u8; 16]>,
    /// A RAM address for RAM-load images; 0 for images run from flash.
    pub load_addr: u32,
    /// The slot's size: the image plus MCUboot's trailer must fit.
    pub slot_size: Option<u32>,
    /// Whether to fill the slot and write MCUboot's trailer.
    pub pad: PadMode,
    /// The trailer's alignment parameters.
    pub trailer: TrailerLayout,
    /// The value of erased flash (header padding and slot padding).
    pub erased_val: u8,
    /// KEYHASH (default) or the full public key.
    pub key_format: KeyFormat,
}

impl SignOptions {
    /// Options with everything optional left out.
    pub fn new(header_size: u16, version: ImageVersion) -> Self {
        Self {
            header_size,
            version,
            security_counter: None,
            vendor_uuid: None,
            class_uuid: None,
            load_addr: 0,
            slot_size: None,
            pad: PadMode::None,
            trailer: TrailerLayout::default(),
            erased_val: 0xff,
            key_format: KeyFormat::Hash,
        }
    }

    /// The header size from a 32-bit layout value.
    pub fn header_size_from(size: u32) -> Result<u16> {
        u16::try_from(size).map_err(|_| SigningError::HeaderSizeTooLarge { size })
    }

    fn builder(&self) -> ImageBuilder {
        ImageBuilder::new(self.header_size)
            .version(self.version)
            .security_counter(self.security_counter)
            .vendor_uuid(self.vendor_uuid)
            .class_uuid(self.class_uuid)
            .load_addr(self.load_addr)
            .slot_size(self.slot_size)
            .pad(self.pad)
            .trailer(self.trailer)
            .erased_val(self.erased_val)
            .key_format(self.key_format)
    }
}

/// Signs an app binary (without header: it starts with the vector table) into an
/// MCUboot image, then checks the result with the bootloader's own verifier.
pub fn sign(body: &[u8], key: &SigningKey, options: &SignOptions) -> Result<Vec<u8>> {
    let image = options.builder().build(body, Some(key))?;
    boot_image::verify_slice(&image, &[key.public_key()]).map_err(SigningError::SelfCheck)?;
    Ok(image)
}

/// The vendor and class UUIDs of an image (`--vid`, `--cid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageIds {
    /// The vendor UUID.
    pub vendor: Option<[u8; 16]>,
    /// The device class UUID.
    pub class: Option<[u8; 16]>,
}

/// Turns `--vid` and `--cid` into UUIDs the way imgtool does: a UUID (with dashes or
/// as 32 hex digits) is taken as is; a vendor name becomes the UUIDv5 of that name in
/// the DNS namespace, and a class name the UUIDv5 of the name in the vendor's UUID.
pub fn resolve_uuids(vendor: Option<&str>, class: Option<&str>) -> Result<ImageIds> {
    let vendor = vendor.map(|v| parse_uuid("--vid", v, Some(uuid::Uuid::NAMESPACE_DNS))).transpose()?;
    let class = class.map(|value| parse_uuid("--cid", value, vendor)).transpose()?;
    Ok(ImageIds { vendor: vendor.map(uuid::Uuid::into_bytes), class: class.map(uuid::Uuid::into_bytes) })
}

fn parse_uuid(option: &'static str, value: &str, namespace: Option<uuid::Uuid>) -> Result<uuid::Uuid> {
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let groups: Vec<&str> = value.split('-').collect();
    let dashed = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| is_hex(g));
    if dashed || (value.len() == 32 && is_hex(value)) {
        return uuid::Uuid::try_parse(value).map_err(|_| SigningError::BadUuid { option, value: value.into() });
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(SigningError::BadUuid { option, value: value.into() });
    }
    match namespace {
        Some(namespace) => Ok(uuid::Uuid::new_v5(&namespace, value.as_bytes())),
        None => Err(SigningError::ClassNameWithoutVendor { value: value.into() }),
    }
}

/// Parses `--security-counter`: a number with an optional 0x/0o/0b prefix, or `auto`
/// (imgtool's `major << 24 | minor << 16 | revision`).
pub fn parse_security_counter(value: &str, version: ImageVersion) -> Result<u32> {
    if value.eq_ignore_ascii_case("auto") {
        return Ok(version.auto_security_counter());
    }
    let lower = value.to_ascii_lowercase();
    let (digits, radix) = match lower.get(..2) {
        Some("0x") => (&lower[2..], 16),
        Some("0o") => (&lower[2..], 8),
        Some("0b") => (&lower[2..], 2),
        _ => (lower.as_str(), 10),
    };
    let valid = !digits.is_empty() && !digits.starts_with('+');
    valid
        .then(|| u32::from_str_radix(digits, radix).ok())
        .flatten()
        .ok_or_else(|| SigningError::BadSecurityCounter { value: value.into() })
}

/// The result of a successful `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// What the verified image says.
    pub image: VerifiedImage,
    /// The public key that verified it.
    pub public_key: [u8; 32],
    /// The slot trailer, for padded images.
    pub trailer: TrailerState,
    /// Bytes after the image (padding and trailer).
    pub padding: usize,
}

/// Verifies `image` (padded or not) against `keys`, with the bootloader's verifier.
pub fn verify(image: &[u8], keys: &[[u8; 32]]) -> Result<VerifyReport> {
    let verified = boot_image::verify_slice(image, keys)?;
    let trailer = trailer::read_state(&mut &image[..])?;
    Ok(VerifyReport {
        image: verified,
        public_key: keys[verified.key_index],
        trailer,
        padding: image.len().saturating_sub(verified.total_size as usize),
    })
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let image = &self.image;
        writeln!(f, "Image verified: SHA-256 matches and the Ed25519 signature is valid.")?;
        writeln!(f, "  signed by     {}", hex(&self.public_key))?;
        writeln!(f, "  SHA-256       {}", hex(&image.hash))?;
        writeln!(f, "  version       {}", image.version)?;
        let counter = image.security_counter.map_or("none".to_string(), |c| c.to_string());
        writeln!(f, "  security cnt  {counter}")?;
        writeln!(f, "  vendor UUID   {}", optional_uuid(image.vendor_uuid))?;
        writeln!(f, "  class UUID    {}", optional_uuid(image.class_uuid))?;
        writeln!(
            f,
            "  header        {:#x} bytes, body {} bytes, image {} bytes",
            image.hdr_size, image.img_size, image.total_size
        )?;
        if image.load_addr != 0 {
            writeln!(f, "  load address  {:#010x} (RAM load)", image.load_addr)?;
        }
        write!(f, "  trailer       {}", trailer_text(self.trailer, self.padding))
    }
}

/// Everything an image holds, for `cargo boot inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The layout (header included).
    pub layout: ImageLayout,
    /// Every TLV, in order.
    pub tlvs: Vec<InspectedTlv>,
    /// `Ok(hash)` if the SHA256 TLV matches the image, else why not.
    pub hash: Result<[u8; 32], boot_image::Error>,
    /// The slot trailer.
    pub trailer: TrailerState,
    /// Bytes after the image.
    pub padding: usize,
}

/// One TLV as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectedTlv {
    /// Its type.
    pub kind: boot_image::TlvType,
    /// Offset of its value.
    pub offset: u32,
    /// In the protected area?
    pub protected: bool,
    /// Its value.
    pub value: Vec<u8>,
}

/// Reads the header and every TLV of `image`, and checks its hash (not its signature:
/// that needs a key; see [`verify`]).
pub fn inspect(image: &[u8]) -> Result<Inspection> {
    let layout = ImageLayout::parse(image)?;
    let mut src = image;
    let mut walk = layout.tlvs();
    let mut tlvs = Vec::new();
    while let Some(entry) = walk.next(&mut src)? {
        let mut value = vec![0; usize::from(entry.len)];
        entry.read_value(&mut src, &mut value)?;
        tlvs.push(InspectedTlv { kind: entry.kind, offset: entry.offset, protected: entry.protected, value });
    }
    Ok(Inspection {
        layout,
        tlvs,
        hash: boot_image::check_hash(&mut src),
        trailer: trailer::read_state(&mut src)?,
        padding: image.len().saturating_sub(layout.total_size() as usize),
    })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = &self.layout.header;
        writeln!(f, "MCUboot image, {} bytes", self.layout.total_size())?;
        writeln!(f, "header")?;
        writeln!(f, "  magic              {:#010x}", boot_image::IMAGE_MAGIC)?;
        writeln!(f, "  load address       {:#010x}", header.load_addr)?;
        writeln!(f, "  header size        {:#x} ({} bytes)", header.hdr_size, header.hdr_size)?;
        writeln!(f, "  protected TLVs     {} bytes", header.protect_tlv_size)?;
        writeln!(f, "  image size         {:#x} ({} bytes)", header.img_size, header.img_size)?;
        writeln!(f, "  flags              {:#010x}{}", header.flags, flag_names(header.flags))?;
        writeln!(f, "  version            {}", header.version)?;
        for protected in [true, false] {
            let title = if protected { "protected TLVs (covered by the hash)" } else { "unprotected TLVs" };
            writeln!(f, "{title}")?;
            for tlv in self.tlvs.iter().filter(|t| t.protected == protected) {
                writeln!(f, "  {:<38} {:>3} bytes  {}", tlv.kind.to_string(), tlv.value.len(), tlv_value(tlv))?;
            }
        }
        let hash = match &self.hash {
            Ok(_) => format!("matches (SHA-256 of bytes 0..{:#x})", self.layout.hashed_len()),
            Err(e) => format!("{e}"),
        };
        writeln!(f, "hash                 {hash}")?;
        writeln!(f, "signature            not checked (use `cargo boot verify --key <key.pem>`)")?;
        write!(f, "trailer              {}", trailer_text(self.trailer, self.padding))
    }
}

fn flag_names(flags: u32) -> String {
    use boot_image::flags::*;
    let names = [
        (PIC, "PIC"),
        (ENCRYPTED_AES128, "ENCRYPTED_AES128"),
        (ENCRYPTED_AES256, "ENCRYPTED_AES256"),
        (NON_BOOTABLE, "NON_BOOTABLE"),
        (RAM_LOAD, "RAM_LOAD"),
        (ROM_FIXED, "ROM_FIXED"),
        (COMPRESSED_LZMA1, "COMPRESSED_LZMA1"),
        (COMPRESSED_LZMA2, "COMPRESSED_LZMA2"),
        (COMPRESSED_ARM_THUMB, "COMPRESSED_ARM_THUMB"),
    ];
    let set: Vec<_> = names.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, name)| *name).collect();
    if set.is_empty() {
        String::new()
    } else {
        format!(" ({})", set.join(" | "))
    }
}

fn tlv_value(tlv: &InspectedTlv) -> String {
    match (tlv.kind.0, tlv.value.len()) {
        (tlv::SEC_CNT, 4) => {
            let counter = u32::from_le_bytes(tlv.value[..].try_into().unwrap_or_default());
            format!("{counter} ({counter:#x})")
        }
        (tlv::UUID_VID | tlv::UUID_CID, 16) => {
            uuid::Uuid::from_slice(&tlv.value).map_or_else(|_| hex(&tlv.value), |u| u.to_string())
        }
        (_, len) if len > 64 => format!("{}...", hex(&tlv.value[..64])),
        _ => hex(&tlv.value),
    }
}

fn trailer_text(state: TrailerState, padding: usize) -> String {
    match state {
        TrailerState::None if padding == 0 => "none (not padded)".to_string(),
        TrailerState::None => format!("none ({padding} bytes after the image, no MCUboot magic at the end)"),
        TrailerState::Pending { max_align } => {
            format!("MCUboot magic (max-align {max_align}), image_ok not set: MCUboot would test-boot it once")
        }
        TrailerState::Confirmed { max_align } => {
            format!("MCUboot magic (max-align {max_align}), image_ok set: confirmed, MCUboot installs it for good")
        }
    }
}

fn optional_uuid(uuid: Option<[u8; 16]>) -> String {
    uuid.map_or("none".to_string(), |u| uuid::Uuid::from_bytes(u).to_string())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&[1; 32]))
    }

    /// The PKCS#8 PEM that imgtool (Python's `cryptography`) writes for the seed of all 0x01.
    const IMGTOOL_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\n-----END PRIVATE KEY-----\n";

    fn path() -> &'static Path {
        Path::new("key.pem")
    }

    #[test]
    fn keys_are_written_exactly_as_imgtool_writes_them() {
        assert_eq!(key().to_pem().as_str(), IMGTOOL_PEM);
        let loaded = SigningKey::from_pem(IMGTOOL_PEM, path()).unwrap();
        assert_eq!(loaded.public_key(), key().public_key());
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let text = format!("{:?}", key());
        assert!(text.contains(&hex(&key().public_key())), "{text}");
        assert!(!text.contains(&hex(&[1; 32])), "{text}");
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(SigningKey::generate().unwrap().public_key(), SigningKey::generate().unwrap().public_key());
    }

    #[test]
    fn keygen_writes_mode_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let key = keygen(&path).unwrap();
        assert_eq!(load_signing_key(&path).unwrap().public_key(), key.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let before = std::fs::read(&path).unwrap();
        let err = keygen(&path).unwrap_err();
        assert!(matches!(err, SigningError::KeyExists { .. }), "{err:?}");
        assert!(err.to_string().contains("never overwrites a key"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn keygen_does_not_follow_a_symlink_onto_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep me").unwrap();
        let link = dir.path().join("k.pem");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&target, &link).unwrap();
            assert!(matches!(keygen(&link).unwrap_err(), SigningError::KeyExists { .. }));
            assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
        }
    }

    #[test]
    fn public_keys_load_from_private_and_public_pem() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private.pem");
        std::fs::write(&private, IMGTOOL_PEM).unwrap();
        assert_eq!(public_key_bytes(&private).unwrap(), key().public_key());
        let public = dir.path().join("public.pem");
        let spki = boot_image::ed25519_spki(&key().public_key());
        let pem = pkcs8::der::pem::encode_string("PUBLIC KEY", pkcs8::LineEnding::LF, &spki).unwrap();
        std::fs::write(&public, pem).unwrap();
        assert_eq!(public_key_bytes(&public).unwrap(), key().public_key());
        let err = load_signing_key(&public).unwrap_err();
        assert!(err.to_string().contains("holds only a public key: signing needs the private key"), "{err}");
    }

    #[test]
    fn missing_key_files_say_which() {
        let err = load_signing_key(Path::new("/nonexistent/k.pem")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read the key /nonexistent/k.pem"), "{err}");
    }

    #[test]
    fn non_pem_files_are_refused() {
        for text in ["", "hello", "MC4CAQAwBQYDK2VwBCIEIAEBAQ"] {
            let err = SigningKey::from_pem(text, path()).unwrap_err();
            assert!(err.to_string().contains("key.pem is not a PEM key file"), "{err}");
        }
    }

    #[test]
    fn other_key_types_are_named() {
        let cases = [
            ("EC PRIVATE KEY", "holds an ECDSA key, but cargo boot signs with Ed25519 only"),
            ("RSA PRIVATE KEY", "holds an RSA key"),
            ("ENCRYPTED PRIVATE KEY", "is a password-protected key"),
            ("CERTIFICATE", "holds a PEM block `CERTIFICATE`, not a key"),
        ];
        for (label, expected) in cases {
            let pem = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
            let err = SigningKey::from_pem(&pem, path()).unwrap_err();
            assert!(err.to_string().contains(expected), "{label}: {err}");
        }
    }

    #[test]
    fn pkcs8_keys_of_other_algorithms_are_named() {
        // A PKCS#8 header for an EC key on P-256 (what `imgtool keygen -t ecdsa-p256` writes);
        // the key body is never looked at.
        let der = [
            0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
            0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20, 1, 1,
            1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        ];
        let pem = pkcs8::der::pem::encode_string("PRIVATE KEY", pkcs8::LineEnding::LF, &der).unwrap();
        let err = SigningKey::from_pem(&pem, path()).unwrap_err();
        assert!(err.to_string().contains("holds an ECDSA P-256 key, but cargo boot signs with Ed25519 only: create an Ed25519 key with `cargo boot keygen`"), "{err}");
    }

    #[test]
    fn signing_never_puts_the_private_key_in_the_image() {
        let body = vec![0x5a; 4096];
        let mut options = SignOptions::new(0x200, ImageVersion::new(1, 0, 0, 0));
        options.slot_size = Some(0x4000);
        options.pad = PadMode::Confirm;
        let image = sign(&body, &key(), &options).unwrap();
        let secret = key().0.to_bytes();
        assert!(!image.windows(32).any(|w| w == secret), "the private key is in the image");
        let expanded = key().0.to_keypair_bytes();
        assert!(!image.windows(32).any(|w| w == &expanded[..32]));
        assert!(
            image.windows(32).any(|w| w == key().public_key())
                || image.windows(32).any(|w| w == boot_image::key_hash(&key().public_key()))
        );
    }

    #[test]
    fn signed_images_verify_and_report() {
        let mut options = SignOptions::new(0x200, ImageVersion::new(1, 2, 3, 4));
        options.security_counter = Some(5);
        let image = sign(&[1, 2, 3, 4], &key(), &options).unwrap();
        let report = verify(&image, &[key().public_key()]).unwrap();
        assert_eq!(report.image.version, ImageVersion::new(1, 2, 3, 4));
        let text = report.to_string();
        assert!(text.contains("version       1.2.3+4") && text.contains("security cnt  5"), "{text}");
        let err = verify(&image, &[SigningKey::generate().unwrap().public_key()]).unwrap_err();
        assert!(err.to_string().contains("signed by a key that is not trusted here"), "{err}");
    }

    #[test]
    fn uuids_are_resolved_like_imgtool() {
        // imgtool: uuid.uuid5(uuid.NAMESPACE_DNS, "example.com"), then uuid5(vid, "sensor").
        let ids = resolve_uuids(Some("example.com"), Some("sensor")).unwrap();
        assert_eq!(uuid::Uuid::from_bytes(ids.vendor.unwrap()).to_string(), "cfbff0d1-9375-5685-968c-48ce8b15ae17");
        assert_eq!(uuid::Uuid::from_bytes(ids.class.unwrap()).to_string(), "57f55ecb-eaa3-5765-960e-e1e1418a661b");
        let ids = resolve_uuids(Some("12345678-1234-5678-1234-567812345678"), None).unwrap();
        assert_eq!(ids.vendor.unwrap()[..4], [0x12, 0x34, 0x56, 0x78]);
        let ids = resolve_uuids(Some("0123456789abcdef0123456789ABCDEF"), None).unwrap();
        assert_eq!(ids.vendor.unwrap()[15], 0xef);
    }

    #[test]
    fn class_names_need_a_vendor() {
        let err = resolve_uuids(None, Some("sensor")).unwrap_err();
        assert!(err.to_string().contains("--cid `sensor` is a name"), "{err}");
        assert!(resolve_uuids(None, Some("12345678-1234-5678-1234-567812345678")).is_ok());
        let err = resolve_uuids(Some(""), None).unwrap_err();
        assert!(err.to_string().contains("invalid --vid ``"), "{err}");
    }

    #[test]
    fn security_counters_parse_like_imgtool() {
        let version = ImageVersion::new(1, 2, 3, 0);
        assert_eq!(parse_security_counter("auto", version).unwrap(), 0x0102_0003);
        assert_eq!(parse_security_counter("17", version).unwrap(), 17);
        assert_eq!(parse_security_counter("0x1F", version).unwrap(), 31);
        assert_eq!(parse_security_counter("0b101", version).unwrap(), 5);
        assert_eq!(parse_security_counter("0o17", version).unwrap(), 15);
        for bad in ["", "-1", "+1", "0x", "4294967296", "ten"] {
            let err = parse_security_counter(bad, version).unwrap_err();
            assert!(err.to_string().contains("use a number (decimal, 0x hex"), "{bad}: {err}");
        }
    }

    #[test]
    fn inspection_lists_the_header_and_every_tlv() {
        let mut options = SignOptions::new(0x200, ImageVersion::new(1, 2, 3, 4));
        options.security_counter = Some(5);
        let ids = resolve_uuids(Some("example.com"), Some("sensor")).unwrap();
        (options.vendor_uuid, options.class_uuid) = (ids.vendor, ids.class);
        options.slot_size = Some(0x1000);
        options.pad = PadMode::Pad;
        let image = sign(&[7; 100], &key(), &options).unwrap();
        let inspection = inspect(&image).unwrap();
        assert_eq!(inspection.tlvs.len(), 6);
        assert!(inspection.hash.is_ok());
        let text = inspection.to_string();
        for expected in [
            "header size        0x200 (512 bytes)",
            "version            1.2.3+4",
            "security counter (TLV 0x50)",
            "cfbff0d1-9375-5685-968c-48ce8b15ae17",
            "Ed25519 signature (TLV 0x24)",
            "hash                 matches",
            "image_ok not set: MCUboot would test-boot it once",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
        }
    }

    #[test]
    fn inspection_reports_a_broken_hash_without_failing() {
        let mut image = sign(&[7; 100], &key(), &SignOptions::new(0x20, ImageVersion::default())).unwrap();
        image[0x30] ^= 1;
        let text = inspect(&image).unwrap().to_string();
        assert!(text.contains("does not match its hash TLV"), "{text}");
    }

    #[test]
    fn header_sizes_must_fit_16_bits() {
        assert_eq!(SignOptions::header_size_from(0x200).unwrap(), 0x200);
        let err = SignOptions::header_size_from(0x10000).unwrap_err();
        assert!(err.to_string().contains("does not fit the 16-bit header field"), "{err}");
    }
}
