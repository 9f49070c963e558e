//! `[package.metadata.boot]`: what a project tells cargo boot.
//!
//! Keys in `[workspace.metadata.boot]` are defaults for every package of the
//! workspace; the package's own keys win. An unknown key is an error that names the
//! closest valid key, so a typo never silently changes a layout.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Every key `[package.metadata.boot]` accepts, in the order the book lists them.
pub const KEYS: &[&str] = &[
    "board",
    "restrict_size",
    "bootloader_img",
    "app_offset",
    "header_size",
    "template",
    "slot_size",
    "boards_dir",
    "key",
    "version",
    "security_counter",
    "vendor_id",
    "class_id",
    "validate_primary",
    "watchdog_ms",
];

/// Which bundled bootloader to build when no `bootloader_img` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// Sets VTOR and the stack pointer and jumps to the app, as `mbed_start_application` does.
    Minimal,
    /// Verifies signed images, installs updates by swapping, and reverts unconfirmed ones.
    #[default]
    Secure,
}

impl Template {
    /// The name used in `[package.metadata.boot] template = "..."`.
    pub fn name(self) -> &'static str {
        match self {
            Template::Minimal => "minimal",
            Template::Secure => "secure",
        }
    }
}

/// `[package.metadata.boot]`, after workspace defaults are applied and paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootMetadata {
    /// Board name from the board database.
    pub board: String,
    /// Size of the bootloader region; the app starts right after it.
    pub restrict_size: u32,
    /// A prebuilt bootloader (.bin, .hex or .elf) used instead of the bundled template.
    pub bootloader_img: Option<PathBuf>,
    /// Unmanaged layouts: the app's offset from the start of flash.
    pub app_offset: Option<u32>,
    /// Bytes reserved before the app's vector table for the image header.
    pub header_size: Option<u32>,
    /// The bundled bootloader to build.
    pub template: Template,
    /// Size of each update slot (secure template).
    pub slot_size: Option<u32>,
    /// A directory of extra board files.
    pub boards_dir: Option<PathBuf>,
    /// The Ed25519 signing key (PEM).
    pub key: Option<PathBuf>,
    /// The image version; defaults to the package version.
    pub version: Option<String>,
    /// The anti-rollback security counter.
    pub security_counter: Option<u32>,
    /// Vendor UUID (or a name turned into one).
    pub vendor_id: Option<String>,
    /// Device class UUID (or a name turned into one).
    pub class_id: Option<String>,
    /// Whether the bootloader checks the running image at every boot.
    pub validate_primary: Option<bool>,
    /// Watchdog timeout the bootloader starts before handing over, in milliseconds.
    pub watchdog_ms: Option<u32>,
}

impl BootMetadata {
    /// Metadata with only the required keys and a template: every optional key unset.
    pub fn new(board: &str, restrict_size: u32, template: Template) -> BootMetadata {
        BootMetadata {
            board: board.to_string(),
            restrict_size,
            bootloader_img: None,
            app_offset: None,
            header_size: None,
            template,
            slot_size: None,
            boards_dir: None,
            key: None,
            version: None,
            security_counter: None,
            vendor_id: None,
            class_id: None,
            validate_primary: None,
            watchdog_ms: None,
        }
    }
}

/// Errors in `[package.metadata.boot]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    #[error("{manifest} has no [package.metadata.boot] table: add one with `cargo boot init --board <board>`, or write at least `board` and `restrict_size` (see `cargo boot boards`)")]
    Missing { manifest: String },
    #[error("[package.metadata.boot] in {manifest} has no `{key}` key: {hint}")]
    MissingKey { manifest: String, key: &'static str, hint: &'static str },
    #[error("unknown key `{key}` in {table} of {manifest}{suggestion}. Valid keys: {}", KEYS.join(", "))]
    UnknownKey { key: String, table: String, manifest: String, suggestion: String },
    #[error("`{key}` in [package.metadata.boot] of {manifest} is not valid: {message}")]
    BadValue { key: String, manifest: String, message: String },
    #[error("[package.metadata.boot] in {manifest} must be a table, not {found}")]
    NotATable { manifest: String, found: String },
}

/// Reads the metadata of one package.
///
/// `package_metadata` is the package's `[package.metadata]` and `workspace_metadata`
/// the workspace's `[workspace.metadata]`, both as cargo metadata returns them.
pub fn read(
    package_metadata: &Value,
    workspace_metadata: &Value,
    manifest: &Path,
    workspace_root: &Path,
) -> Result<BootMetadata, MetadataError> {
    let manifest_name = manifest.display().to_string();
    let package_dir = manifest.parent().unwrap_or(Path::new("."));
    let package = boot_table(package_metadata, &manifest_name, "[package.metadata.boot]")?;
    let workspace = boot_table(workspace_metadata, &manifest_name, "[workspace.metadata.boot]")?;
    if package.is_none() && workspace.is_none() {
        return Err(MetadataError::Missing { manifest: manifest_name });
    }
    let mut merged = Map::new();
    // Paths are relative to the manifest that wrote them.
    for (key, value) in workspace.into_iter().flatten() {
        merged.insert(key.clone(), resolve_path(key, value, workspace_root));
    }
    for (key, value) in package.into_iter().flatten() {
        merged.insert(key.clone(), resolve_path(key, value, package_dir));
    }
    Fields { map: &merged, manifest: &manifest_name }.parse()
}

/// The `boot` table inside a `metadata` value, with its keys checked.
fn boot_table<'a>(
    metadata: &'a Value,
    manifest: &str,
    table: &str,
) -> Result<Option<&'a Map<String, Value>>, MetadataError> {
    let Some(boot) = metadata.get("boot") else { return Ok(None) };
    let map = boot
        .as_object()
        .ok_or_else(|| MetadataError::NotATable { manifest: manifest.to_string(), found: json_kind(boot) })?;
    if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(MetadataError::UnknownKey {
            key: key.clone(),
            table: table.to_string(),
            manifest: manifest.to_string(),
            suggestion: did_you_mean(key, KEYS.iter().copied()),
        });
    }
    Ok(Some(map))
}

/// Makes relative paths in path-valued keys absolute, against `base`.
fn resolve_path(key: &str, value: &Value, base: &Path) -> Value {
    match (key, value) {
        ("bootloader_img" | "boards_dir" | "key", Value::String(s)) => {
            Value::String(base.join(s).to_string_lossy().into_owned())
        }
        _ => value.clone(),
    }
}

/// The merged key-value map, parsed into typed fields.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    manifest: &'a str,
}

impl Fields<'_> {
    fn parse(&self) -> Result<BootMetadata, MetadataError> {
        let board = self.string("board")?.ok_or_else(|| MetadataError::MissingKey {
            manifest: self.manifest.to_string(),
            key: "board",
            hint: "add `board = \"<name>\"`; `cargo boot boards` lists the boards",
        })?;
        let restrict_size = self.size("restrict_size")?.ok_or_else(|| MetadataError::MissingKey {
            manifest: self.manifest.to_string(),
            key: "restrict_size",
            hint: "add the size of the bootloader region, e.g. `restrict_size = \"0x40000\"`; `cargo boot boards <board>` shows the sector map",
        })?;
        Ok(BootMetadata {
            board,
            restrict_size,
            bootloader_img: self.string("bootloader_img")?.map(PathBuf::from),
            app_offset: self.size("app_offset")?,
            header_size: self.size("header_size")?,
            template: self.template()?,
            slot_size: self.size("slot_size")?,
            boards_dir: self.string("boards_dir")?.map(PathBuf::from),
            key: self.string("key")?.map(PathBuf::from),
            version: self.string("version")?,
            security_counter: self.size("security_counter")?,
            vendor_id: self.string("vendor_id")?,
            class_id: self.string("class_id")?,
            validate_primary: self.bool("validate_primary")?,
            watchdog_ms: self.size("watchdog_ms")?,
        })
    }

    fn bad(&self, key: &str, message: String) -> MetadataError {
        MetadataError::BadValue { key: key.to_string(), manifest: self.manifest.to_string(), message }
    }

    fn string(&self, key: &str) -> Result<Option<String>, MetadataError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(key, format!("expected a string, found {}", json_kind(other)))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, MetadataError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.bad(key, format!("expected true or false, found {}", json_kind(other)))),
        }
    }

    fn size(&self, key: &str) -> Result<Option<u32>, MetadataError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => parse_size_value(value).map(Some).map_err(|message| self.bad(key, message)),
        }
    }

    fn template(&self) -> Result<Template, MetadataError> {
        match self.string("template")?.as_deref() {
            None => Ok(Template::default()),
            Some("minimal") => Ok(Template::Minimal),
            Some("secure") => Ok(Template::Secure),
            Some(other) => {
                Err(self.bad("template", format!("`{other}` is not a template: use \"minimal\" or \"secure\"")))
            }
        }
    }
}

/// Parses a size given as an integer, a hex string (`"0x40000"`) or with a unit (`"256K"`, `"1M"`).
pub fn parse_size_value(value: &Value) -> Result<u32, String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{n} is not a size between 0 and 4 GiB")),
        Value::String(s) => parse_size(s),
        other => Err(format!("expected a size such as 0x40000, \"0x40000\" or \"256K\", found {}", json_kind(other))),
    }
}

/// Parses `"0x40000"`, `"262144"`, `"256K"`, `"256KiB"` or `"1M"`.
pub fn parse_size(text: &str) -> Result<u32, String> {
    let t = text.trim().replace('_', "");
    let (digits, multiplier) = if let Some(n) = t.strip_suffix("KiB").or_else(|| t.strip_suffix('K')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("MiB").or_else(|| t.strip_suffix('M')) {
        (n, 1024 * 1024)
    } else {
        (t.as_str(), 1)
    };
    let number = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => digits.parse::<u64>(),
    };
    number
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("`{text}` is not a size: write 0x40000, \"0x40000\", 262144 or \"256K\""))
}

/// `" (did you mean `x`?)"` for the closest candidate, or nothing if none is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance between two strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn json_kind(value: &Value) -> String {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_boot(package: Value, workspace: Value) -> Result<BootMetadata, MetadataError> {
        read(&package, &workspace, Path::new("/p/Cargo.toml"), Path::new("/w"))
    }

    #[test]
    fn sizes_accept_integers_hex_and_units() {
        assert_eq!(parse_size("0x40000"), Ok(0x40000));
        assert_eq!(parse_size("256K"), Ok(0x40000));
        assert_eq!(parse_size("256KiB"), Ok(0x40000));
        assert_eq!(parse_size("1M"), Ok(0x10_0000));
        assert_eq!(parse_size("0x4_0000"), Ok(0x40000));
        assert_eq!(parse_size_value(&json!(262144)), Ok(0x40000));
        assert!(parse_size("lots").unwrap_err().contains("`lots` is not a size"));
        assert!(parse_size("8M").is_ok());
        assert!(parse_size("5000M").unwrap_err().contains("is not a size"));
        assert!(parse_size_value(&json!(-1)).unwrap_err().contains("between 0 and 4 GiB"));
    }

    #[test]
    fn reads_the_seed_settings() {
        let meta = read_boot(
            json!({"boot": {"board": "odin-w2", "restrict_size": "0x40000", "bootloader_img": "bl/odin.bin"}}),
            Value::Null,
        )
        .unwrap();
        assert_eq!(meta.board, "odin-w2");
        assert_eq!(meta.restrict_size, 0x40000);
        assert_eq!(meta.bootloader_img, Some(PathBuf::from("/p/bl/odin.bin")));
        assert_eq!(meta.template, Template::Secure, "the secure template is the default");
    }

    #[test]
    fn workspace_keys_are_defaults_that_the_package_overrides() {
        let meta = read_boot(
            json!({"boot": {"restrict_size": "64K"}}),
            json!({"boot": {"board": "qemu-an386", "restrict_size": "32K", "key": "keys/dev.pem"}}),
        )
        .unwrap();
        assert_eq!(meta.board, "qemu-an386");
        assert_eq!(meta.restrict_size, 0x10000);
        assert_eq!(meta.key, Some(PathBuf::from("/w/keys/dev.pem")));
    }

    #[test]
    fn an_unknown_key_names_the_closest_valid_one() {
        let err = read_boot(json!({"boot": {"board": "xdot", "restrict_sise": 4096}}), Value::Null).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(
                "unknown key `restrict_sise` in [package.metadata.boot] of /p/Cargo.toml (did you mean `restrict_size`?). Valid keys:"
            ),
            "{message}"
        );
        assert!(message.contains("Valid keys: board, restrict_size"), "{message}");
    }

    #[test]
    fn missing_table_and_missing_keys_say_what_to_add() {
        let err = read_boot(json!({"other": 1}), Value::Null).unwrap_err().to_string();
        assert!(err.contains("has no [package.metadata.boot] table: add one with `cargo boot init"), "{err}");
        let err = read_boot(json!({"boot": {"restrict_size": 4096}}), Value::Null).unwrap_err().to_string();
        assert!(err.contains("has no `board` key: add `board = \"<name>\"`"), "{err}");
        let err = read_boot(json!({"boot": {"board": "xdot"}}), Value::Null).unwrap_err().to_string();
        assert!(err.contains("has no `restrict_size` key"), "{err}");
    }

    #[test]
    fn wrong_types_are_errors_not_defaults() {
        let err = read_boot(json!({"boot": {"board": 7, "restrict_size": 1}}), Value::Null).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`board` in [package.metadata.boot] of /p/Cargo.toml is not valid: expected a string, found a number"
        );
        let err = read_boot(json!({"boot": {"board": "x", "restrict_size": 1, "template": "fancy"}}), Value::Null)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`fancy` is not a template: use \"minimal\" or \"secure\""), "{err}");
        let err = read_boot(json!({"boot": "odin-w2"}), Value::Null).unwrap_err().to_string();
        assert!(err.contains("must be a table, not a string"), "{err}");
    }

    #[test]
    fn the_book_documents_every_key() {
        let book = include_str!("../../book/src/metadata.md");
        for key in KEYS {
            assert!(book.contains(&format!("| `{key}` |")), "book/src/metadata.md has no row for `{key}`");
        }
    }

    #[test]
    fn did_you_mean_only_suggests_close_words() {
        assert_eq!(did_you_mean("bord", KEYS.iter().copied()), " (did you mean `board`?)");
        assert_eq!(did_you_mean("zzzzzzzz", KEYS.iter().copied()), "");
    }
}
