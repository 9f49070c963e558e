//! `/manifest.json` of `cargo boot serve`: `{"version","size","sha256","path"}`.
//!
//! The parser reads flat JSON objects of strings, numbers, booleans and `null` (what
//! the server writes), without allocation; it refuses nesting and string escapes.

use core::fmt;

use boot_image::{ImageVersion, VersionError};

/// What the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest<'a> {
    /// The image's version; `None` when the served file is not an MCUboot image.
    pub version: Option<ImageVersion>,
    /// The image's size in bytes.
    pub size: u32,
    /// Where to download it (`/update.bin`); `None` if the manifest does not say.
    pub path: Option<&'a str>,
}

impl<'a> Manifest<'a> {
    /// Parses the manifest's JSON.
    pub fn parse(json: &'a [u8]) -> Result<Self, ManifestError> {
        let mut cursor = Cursor { text: json, at: 0 };
        let (mut version, mut size, mut path) = (None, None, None);
        cursor.object(|key, value| {
            match (key, value) {
                ("version", Value::Text(text)) => version = Some(text.parse().map_err(ManifestError::BadVersion)?),
                ("version", Value::Null) => version = None,
                ("version", _) => return Err(ManifestError::BadVersion(VersionError::Syntax)),
                ("size", Value::Number(n)) => size = Some(u32::try_from(n).map_err(|_| ManifestError::BadSize)?),
                ("size", _) => return Err(ManifestError::BadSize),
                ("path", Value::Text(text)) => path = Some(text),
                _ => {}
            }
            Ok(())
        })?;
        Ok(Self { version, size: size.ok_or(ManifestError::Missing { key: "size" })?, path })
    }

    /// True if the server offers a release newer than `running` (major.minor.revision;
    /// the build number is ignored, as MCUboot does).
    pub fn is_newer_than(&self, running: ImageVersion) -> bool {
        self.version.is_some_and(|offered| offered.release() > running.release())
    }
}

/// Why a manifest was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestError {
    /// Not a flat JSON object.
    Syntax {
        /// The byte offset where parsing stopped.
        at: usize,
    },
    /// A required key is missing.
    Missing {
        /// The key.
        key: &'static str,
    },
    /// The version is not `major.minor.revision+build`.
    BadVersion(VersionError),
    /// The size is not a whole number below 4 GiB.
    BadSize,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Syntax { at } => write!(
                f,
                "the manifest is not a flat JSON object (at byte {at}): expected {{\"version\": \"1.2.3+0\", \
                 \"size\": 1234, ...}}, as `cargo boot serve` writes it"
            ),
            ManifestError::Missing { key } => write!(f, "the manifest has no \"{key}\""),
            ManifestError::BadVersion(error) => write!(f, "the manifest's version is not an image version: {error}"),
            ManifestError::BadSize => f.write_str("the manifest's size is not a whole number of bytes below 4 GiB"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ManifestError {}

/// A JSON value of a flat object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Text(&'a str),
    Number(u64),
    Bool(bool),
    Null,
}

struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Calls `field` with each key and value of the object that fills the text.
    fn object(
        &mut self,
        mut field: impl FnMut(&'a str, Value<'a>) -> Result<(), ManifestError>,
    ) -> Result<(), ManifestError> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                let key = self.string()?;
                self.expect(b':')?;
                field(key, self.value()?)?;
                match self.next_token() {
                    Some(b',') => continue,
                    Some(b'}') => break,
                    _ => return Err(self.syntax()),
                }
            }
        }
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.syntax()),
        }
    }

    fn value(&mut self) -> Result<Value<'a>, ManifestError> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Text),
            Some(b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => self.word(),
            None => Err(self.syntax()),
        }
    }

    fn string(&mut self) -> Result<&'a str, ManifestError> {
        self.expect(b'"')?;
        let start = self.at;
        let len = self.text[start..].iter().position(|&b| b == b'"').ok_or(self.syntax())?;
        let bytes = &self.text[start..start + len];
        if bytes.iter().any(|&b| b == b'\\' || b < 0x20) {
            return Err(self.syntax());
        }
        self.at = start + len + 1;
        core::str::from_utf8(bytes).map_err(|_| self.syntax())
    }

    fn number(&mut self) -> Result<u64, ManifestError> {
        let start = self.at;
        let len = self.text[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        self.at += len;
        let digits = core::str::from_utf8(&self.text[start..start + len]).map_err(|_| self.syntax())?;
        digits.parse().map_err(|_| ManifestError::BadSize)
    }

    fn word(&mut self) -> Result<Value<'a>, ManifestError> {
        let rest = &self.text[self.at..];
        let (value, len) = if rest.starts_with(b"null") {
            (Value::Null, 4)
        } else if rest.starts_with(b"true") {
            (Value::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Value::Bool(false), 5)
        } else {
            return Err(self.syntax());
        };
        self.at += len;
        Ok(value)
    }

    fn expect(&mut self, byte: u8) -> Result<(), ManifestError> {
        match self.next_token() {
            Some(found) if found == byte => Ok(()),
            _ => Err(self.syntax()),
        }
    }

    /// The next byte that is not white space, consumed.
    fn next_token(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// The next byte that is not white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while self.text.get(self.at).is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
        self.text.get(self.at).copied()
    }

    fn syntax(&self) -> ManifestError {
        ManifestError::Syntax { at: self.at }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    #[test]
    fn the_manifest_of_cargo_boot_serve_parses() {
        let json = br#"{"version":"1.1.0+0","size":20669,"sha256":"ab12","path":"/update.bin"}
"#;
        let manifest = Manifest::parse(json).unwrap();
        assert_eq!(manifest.version, Some(ImageVersion::new(1, 1, 0, 0)));
        assert_eq!(manifest.size, 20669);
        assert_eq!(manifest.path, Some("/update.bin"));
        assert!(manifest.is_newer_than(ImageVersion::new(1, 0, 0, 9)));
        assert!(!manifest.is_newer_than(ImageVersion::new(1, 1, 0, 0)));
        assert!(!manifest.is_newer_than(ImageVersion::new(2, 0, 0, 0)));
    }

    #[test]
    fn pretty_printed_manifests_and_unknown_keys_are_fine() {
        let json = b" {\n  \"path\" : \"/u.bin\",\n  \"extra\": true, \"none\": null,\n  \"version\": null,\n  \"size\": 7\n}\n";
        let manifest = Manifest::parse(json).unwrap();
        assert_eq!(manifest.version, None);
        assert!(!manifest.is_newer_than(ImageVersion::new(0, 0, 0, 0)));
        assert_eq!((manifest.size, manifest.path), (7, Some("/u.bin")));
    }

    #[test]
    fn malformed_manifests_say_what_is_wrong() {
        let error = Manifest::parse(b"<html>").unwrap_err();
        assert_eq!(error, ManifestError::Syntax { at: 1 });
        assert!(error.to_string().starts_with("the manifest is not a flat JSON object (at byte 1)"), "{error}");
        for nested in [&br#"{"a":{"b":1},"size":1}"#[..], br#"{"a":[1],"size":1}"#, br#"{"size":1}x"#] {
            assert!(matches!(Manifest::parse(nested), Err(ManifestError::Syntax { .. })));
        }
        assert!(matches!(Manifest::parse(br#"{"size":"1"}"#), Err(ManifestError::BadSize)));
        assert!(matches!(Manifest::parse(br#"{"size":4294967296}"#), Err(ManifestError::BadSize)));
        let error = Manifest::parse(br#"{"version":"1.0.0"}"#).unwrap_err();
        assert_eq!(error.to_string(), "the manifest has no \"size\"");
        let error = Manifest::parse(br#"{"version":"v1","size":3}"#).unwrap_err();
        assert!(error.to_string().starts_with("the manifest's version is not an image version"), "{error}");
        assert!(matches!(Manifest::parse(br#"{"version":"a\"b","size":3}"#), Err(ManifestError::Syntax { .. })));
    }
}
