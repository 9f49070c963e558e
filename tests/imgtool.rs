//! Interoperability with MCUboot's own `imgtool` (the real one, from PyPI): images and
//! keys must work in both directions. These tests never skip: without imgtool they
//! fail and say to run `scripts/setup.sh`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `cargo boot <args>` through the built binary.
fn cargo_boot(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-boot"));
    command.arg("boot").args(args);
    command.output().expect("the cargo-boot binary runs")
}

/// Runs `imgtool <args>`, failing with a fix when imgtool is not installed.
fn imgtool(args: &[&str]) -> Output {
    match Command::new("imgtool").args(args).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run imgtool ({e}): these tests need MCUboot's imgtool 2.5; run scripts/setup.sh \
             (it installs it with `pip install imgtool`) and make sure it is on PATH"
        ),
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[track_caller]
fn ok(output: Output) -> String {
    assert!(output.status.success(), "command failed:\n{}", text(&output));
    text(&output)
}

#[track_caller]
fn fails(output: Output) -> String {
    assert!(!output.status.success(), "command succeeded but should have failed:\n{}", text(&output));
    text(&output)
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("a temporary directory"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// A 20 KiB app binary that is not all one value.
    fn body(&self) -> String {
        let bytes: Vec<u8> = (0..20 * 1024u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(self.path("app.bin"), bytes).unwrap();
        self.arg("app.bin")
    }
}

/// The options both tools get, in imgtool's spelling (cargo boot accepts the same).
const SIGN_OPTIONS: &[&str] = &[
    "--header-size",
    "0x200",
    "--version",
    "1.2.3+4",
    "--security-counter",
    "42",
    "--vid",
    "example.com",
    "--cid",
    "sensor",
    "--slot-size",
    "0x10000",
    "--confirm",
];

#[test]
fn imgtool_verifies_what_cargo_boot_signs() {
    let dir = Dir::new();
    let body = dir.body();
    let (key, image) = (dir.arg("key.pem"), dir.arg("ours.bin"));
    ok(cargo_boot(&["keygen", "--key", &key]));
    let mut args = vec!["sign", "--key", &*key, &*body, "-o", &*image];
    args.extend_from_slice(SIGN_OPTIONS);
    ok(cargo_boot(&args));
    let out = ok(imgtool(&["verify", "-k", &dir.arg("key.pem"), &dir.arg("ours.bin")]));
    assert!(out.contains("Image was correctly validated"), "{out}");
    assert!(out.contains("Image version: 1.2.3+4"), "{out}");
}

#[test]
fn cargo_boot_signs_byte_for_byte_what_imgtool_signs() {
    let dir = Dir::new();
    let body = dir.body();
    ok(imgtool(&["keygen", "-k", &dir.arg("key.pem"), "-t", "ed25519"]));
    let key = dir.arg("key.pem");
    let mut ours = vec!["sign", "--key", &*key, &*body];
    ours.extend_from_slice(SIGN_OPTIONS);
    let ours_out = dir.arg("ours.bin");
    ours.extend_from_slice(&["-o", &ours_out]);
    ok(cargo_boot(&ours));
    let theirs_out = dir.arg("theirs.bin");
    let mut theirs = vec!["sign", "--pad-header", "-k", &*key];
    theirs.extend_from_slice(SIGN_OPTIONS);
    theirs.extend_from_slice(&[&*body, &*theirs_out]);
    ok(imgtool(&theirs));
    let (ours, theirs) = (std::fs::read(&ours_out).unwrap(), std::fs::read(&theirs_out).unwrap());
    assert_eq!(ours.len(), 0x10000);
    let first_difference = ours.iter().zip(&theirs).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "cargo boot and imgtool images differ");
    assert_eq!(ours, theirs);
}

#[test]
fn cargo_boot_verifies_what_imgtool_signs() {
    let dir = Dir::new();
    let body = dir.body();
    ok(imgtool(&["keygen", "-k", &dir.arg("key.pem"), "-t", "ed25519"]));
    let key = dir.arg("key.pem");
    let image = dir.arg("imgtool.bin");
    let mut args = vec!["sign", "--pad-header", "-k", &*key];
    args.extend_from_slice(SIGN_OPTIONS);
    args.extend_from_slice(&[&*body, &*image]);
    ok(imgtool(&args));
    let out = ok(cargo_boot(&["verify", "--key", &key, &image]));
    for expected in [
        "Image verified",
        "version       1.2.3+4",
        "security cnt  42",
        "vendor UUID   cfbff0d1-9375-5685-968c-48ce8b15ae17",
        "class UUID    57f55ecb-eaa3-5765-960e-e1e1418a661b",
        "image_ok set: confirmed",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    // The public half alone, as `imgtool getpub -e pem` writes it, is enough to verify.
    let public = ok(imgtool(&["getpub", "-k", &key, "-e", "pem"]));
    std::fs::write(dir.path("public.pem"), public).unwrap();
    ok(cargo_boot(&["verify", "--key", &dir.arg("public.pem"), &image]));
    let out = ok(cargo_boot(&["inspect", &image]));
    assert!(out.contains("Ed25519 signature (TLV 0x24)") && out.contains("hash                 matches"), "{out}");
}

#[test]
fn a_changed_image_fails_in_both_tools() {
    let dir = Dir::new();
    let body = dir.body();
    ok(cargo_boot(&["keygen", "--key", &dir.arg("key.pem")]));
    let image = dir.arg("image.bin");
    ok(cargo_boot(&["sign", "-k", &dir.arg("key.pem"), "-H", "0x200", "-v", "1.0.0", &body, "-o", &image]));
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[0x200 + 100] ^= 0x40;
    std::fs::write(&image, bytes).unwrap();
    let out = fails(cargo_boot(&["verify", "-k", &dir.arg("key.pem"), &image]));
    assert!(out.contains("does not match its hash TLV: the image was changed after signing"), "{out}");
    let out = imgtool(&["verify", "-k", &dir.arg("key.pem"), &image]);
    assert!(text(&out).contains("Image has an invalid hash"), "{}", text(&out));
}

#[test]
fn ecdsa_images_and_keys_get_a_clear_error() {
    let dir = Dir::new();
    let body = dir.body();
    ok(imgtool(&["keygen", "-k", &dir.arg("ec.pem"), "-t", "ecdsa-p256"]));
    let image = dir.arg("ec.bin");
    ok(imgtool(&[
        "sign",
        "--pad-header",
        "-H",
        "0x200",
        "-v",
        "1.0.0",
        "-S",
        "0x10000",
        "-k",
        &dir.arg("ec.pem"),
        &body,
        &image,
    ]));
    ok(cargo_boot(&["keygen", "--key", &dir.arg("ed.pem")]));
    let out = fails(cargo_boot(&["verify", "--key", &dir.arg("ed.pem"), &image]));
    assert!(out.contains("ECDSA signature (TLV 0x22) is not supported: sign the image with an Ed25519 key"), "{out}");
    let out = fails(cargo_boot(&[
        "sign",
        "--key",
        &dir.arg("ec.pem"),
        "-H",
        "0x200",
        "-v",
        "1",
        &body,
        "-o",
        &dir.arg("x.bin"),
    ]));
    assert!(out.contains("holds an ECDSA P-256 key, but cargo boot signs with Ed25519 only"), "{out}");
    assert!(!dir.path("x.bin").exists());
}

#[test]
fn keygen_writes_mode_0600_and_refuses_to_overwrite() {
    let dir = Dir::new();
    let key = dir.arg("key.pem");
    let out = ok(cargo_boot(&["keygen", "--key", &key]));
    assert!(out.contains("keep it out of"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key is readable by others");
    }
    let before = std::fs::read(&key).unwrap();
    let out = fails(cargo_boot(&["keygen", "--key", &key]));
    assert!(out.contains("already exists: cargo boot keygen never overwrites a key"), "{out}");
    assert_eq!(std::fs::read(&key).unwrap(), before);
}

#[test]
fn keys_work_in_both_tools() {
    let dir = Dir::new();
    let body = dir.body();
    // imgtool's key signs with cargo boot, and imgtool accepts the image.
    ok(imgtool(&["keygen", "-k", &dir.arg("imgtool.pem"), "-t", "ed25519"]));
    let image = dir.arg("a.bin");
    ok(cargo_boot(&["sign", "-k", &dir.arg("imgtool.pem"), "-H", "0x100", "-v", "2.0", &body, "-o", &image]));
    assert!(ok(imgtool(&["verify", "-k", &dir.arg("imgtool.pem"), &image])).contains("correctly validated"));
    // cargo boot's key signs with imgtool, and cargo boot accepts the image.
    let keygen = cargo_boot(&["keygen", "--key", &dir.arg("ours.pem")]);
    let printed_public_key = String::from_utf8(keygen.stdout.clone()).unwrap();
    ok(keygen);
    let image = dir.arg("b.bin");
    ok(imgtool(&[
        "sign",
        "--pad-header",
        "-H",
        "0x100",
        "-v",
        "2.0",
        "-S",
        "0x8000",
        "-k",
        &dir.arg("ours.pem"),
        &body,
        &image,
    ]));
    ok(cargo_boot(&["verify", "-k", &dir.arg("ours.pem"), &image]));
    // Both tools agree on the public key (imgtool's raw form is the DER SubjectPublicKeyInfo).
    ok(imgtool(&["getpub", "-k", &dir.arg("ours.pem"), "-e", "raw", "-o", &dir.arg("public.der")]));
    let der = std::fs::read(dir.path("public.der")).unwrap();
    let hex: String = der[der.len() - 32..].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(printed_public_key.trim(), hex);
}
