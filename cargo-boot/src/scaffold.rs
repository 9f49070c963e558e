//! `cargo boot new` and `cargo boot init`.
//!
//! `new` renders a project template for the board into a fresh directory (all files
//! are written into a staging directory first and moved into place at once, so a
//! failure leaves nothing behind). `init` adds `[package.metadata.boot]` to an existing
//! `Cargo.toml` with toml_edit, keeping its comments and formatting.

use std::path::{Path, PathBuf};

use crate::board::Board;
use crate::error::{IoContext, Result};
use crate::metadata::Template;
use crate::{fsutil, templates};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/app_templates.rs"));
}

/// Errors creating or changing a project.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaffoldError {
    #[error("{0} already exists: choose another path, or run `cargo boot init` inside an existing package")]
    Exists(String),
    #[error("`{name}` is not a valid package name: use letters, digits, `-` and `_`, starting with a letter (or pass --name)")]
    BadName { name: String },
    #[error("{manifest} has no [package] table (is it a virtual workspace?): run `cargo boot init` in the package's directory or pass its --manifest-path")]
    NoPackage { manifest: String },
    #[error("{manifest} already has [package.metadata.boot]: edit it there (`cargo boot boards {board}` shows the memory map)")]
    AlreadyInitialised { manifest: String, board: String },
    #[error("{manifest} is not valid TOML: {message}")]
    BadManifest { manifest: String, message: String },
    #[error("cargo boot has no `{kind}` project template (this is a bug in the build of cargo boot)")]
    NoTemplate { kind: String },
}

/// What `cargo boot new` creates.
#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    /// Where the project goes (must not exist).
    pub path: &'a Path,
    /// The package name (defaults to the directory name).
    pub name: Option<&'a str>,
    /// The board.
    pub board: &'a Board,
    /// The bootloader region size (defaults to the board's).
    pub restrict_size: Option<u32>,
    /// The bundled bootloader the project builds.
    pub template: Template,
}

impl NewProject<'_> {
    /// Creates the project and returns the files written (relative paths).
    pub fn create(&self) -> Result<Vec<String>> {
        if self.path.exists() {
            return Err(ScaffoldError::Exists(self.path.display().to_string()).into());
        }
        let name = self.package_name()?;
        let kind = if self.board.is_virtual() { "app-virtual" } else { "app-hardware" };
        let values = self.placeholders(&name)?;
        let mut files = render(kind, &values)?;
        if inside_a_workspace(self.path) {
            own_workspace(&mut files);
        }
        write_tree(self.path, &files)?;
        Ok(files.into_iter().map(|(path, _)| path).collect())
    }

    fn package_name(&self) -> Result<String, ScaffoldError> {
        let name = match self.name {
            Some(name) => name.to_string(),
            None => self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(name)
        } else {
            Err(ScaffoldError::BadName { name })
        }
    }

    fn placeholders(&self, name: &str) -> Result<Vec<(&'static str, String)>> {
        let boot_app = templates::unpack()?.join("boot-app");
        Ok(vec![
            ("name", name.to_string()),
            ("crate_name", name.replace('-', "_")),
            ("board", self.board.name.clone()),
            ("restrict_size", format!("{:#x}", self.restrict_size.unwrap_or(self.board.default_restrict_size))),
            ("target", self.board.target.clone()),
            ("template", self.template.name().to_string()),
            ("boot_app_path", toml_string_body(&boot_app.display().to_string())),
        ])
    }
}

/// True when a `Cargo.toml` with a `[workspace]` table is in a directory above `path`.
fn inside_a_workspace(path: &Path) -> bool {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.ancestors().skip(1).any(|dir| {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .ok()
            .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
            .is_some_and(|doc| doc.contains_key("workspace"))
    })
}

/// Makes the new package a workspace of its own, so that an enclosing workspace (built
/// for the host) does not claim it.
fn own_workspace(files: &mut [(String, String)]) {
    if let Some((_, manifest)) = files.iter_mut().find(|(path, _)| path == "Cargo.toml") {
        manifest.push_str(
            "\n# A workspace of its own: this firmware builds for a Cortex-M target, apart from\n\
             # the workspace this directory is in.\n[workspace]\n",
        );
    }
}

/// The text of a TOML basic string, without the quotes.
fn toml_string_body(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders every file of a template kind, plus the files all kinds share (`common/`),
/// with `{{key}}` placeholders replaced.
fn render(kind: &str, values: &[(&str, String)]) -> Result<Vec<(String, String)>, ScaffoldError> {
    let of_kind = |prefix: String| {
        embedded::APP_FILES
            .iter()
            .filter_map(move |(path, text)| path.strip_prefix(&prefix).map(|rel| (rel.to_string(), fill(text, values))))
            .collect::<Vec<_>>()
    };
    let own = of_kind(format!("{kind}/"));
    if own.is_empty() {
        return Err(ScaffoldError::NoTemplate { kind: kind.to_string() });
    }
    Ok(own.into_iter().chain(of_kind("common/".to_string())).collect())
}

/// Replaces each `{{key}}` in `text`.
fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_string(), |acc, (key, value)| acc.replace(&format!("{{{{{key}}}}}"), value))
}

/// Writes the files into a staging directory beside `dest`, then renames it into place.
fn write_tree(dest: &Path, files: &[(String, String)]) -> Result<()> {
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).io_context(|| format!("cannot create {}", parent.display()))?;
    let leaf = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(format!(".{leaf}.{}.new", std::process::id()));
    let result = write_files(&staging, files)
        .and_then(|()| std::fs::rename(&staging, dest).io_context(|| format!("cannot create {}", dest.display())));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

fn write_files(root: &Path, files: &[(String, String)]) -> Result<()> {
    for (rel, text) in files {
        let path = root.join(rel);
        let dir = path.parent().expect("a file is in a directory");
        std::fs::create_dir_all(dir).io_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, text).io_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// What `cargo boot init` did, and what the user should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReport {
    /// The manifest that was changed.
    pub manifest: PathBuf,
    /// Things in the package that will get in the way.
    pub warnings: Vec<String>,
}

/// Adds `[package.metadata.boot]` with `board` and `restrict_size` to `manifest`.
pub fn init(manifest: &Path, board: &Board, restrict_size: Option<u32>) -> Result<InitReport> {
    let shown = manifest.display().to_string();
    let text = std::fs::read_to_string(manifest).io_context(|| format!("cannot read {shown}"))?;
    let updated = add_boot_table(&text, &shown, board, restrict_size.unwrap_or(board.default_restrict_size))?;
    fsutil::write_atomic(manifest, updated.as_bytes())?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    Ok(InitReport { manifest: manifest.to_path_buf(), warnings: init_warnings(dir) })
}

/// The manifest text with the boot table added; everything else is kept as it was.
pub fn add_boot_table(text: &str, manifest: &str, board: &Board, restrict_size: u32) -> Result<String, ScaffoldError> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        ScaffoldError::BadManifest { manifest: manifest.into(), message: e.to_string() }
    })?;
    let package = doc
        .get_mut("package")
        .and_then(|p| p.as_table_mut())
        .ok_or_else(|| ScaffoldError::NoPackage { manifest: manifest.into() })?;
    if let Some(existing) = package.get("metadata").and_then(|m| m.get("boot")) {
        let board = existing.get("board").and_then(|b| b.as_str()).unwrap_or("<board>").to_string();
        return Err(ScaffoldError::AlreadyInitialised { manifest: manifest.into(), board });
    }
    let metadata = package.entry("metadata").or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    let mut boot = toml_edit::Table::new();
    boot.decor_mut().set_prefix("\n# The bootloader layout: see `cargo boot boards` and the cargo boot book.\n");
    boot.insert("board", toml_edit::value(&board.name));
    boot.insert("restrict_size", toml_edit::value(format!("{restrict_size:#x}")));
    metadata
        .as_table_mut()
        .ok_or_else(|| ScaffoldError::BadManifest {
            manifest: manifest.into(),
            message: "`package.metadata` is not a table".into(),
        })?
        .insert("boot", toml_edit::Item::Table(boot));
    Ok(doc.to_string())
}

/// Files in an existing package that fight the generated memory.x.
fn init_warnings(dir: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    if dir.join("memory.x").is_file() {
        warnings.push(format!(
            "{} exists: cargo boot generates memory.x with the app's FLASH origin; if your build.rs copies this one onto the link search path, the app is linked at the wrong address (cargo boot build detects it). Remove it, or stop build.rs from copying it",
            dir.join("memory.x").display()
        ));
    }
    let build_rs = std::fs::read_to_string(dir.join("build.rs")).unwrap_or_default();
    let config = std::fs::read_to_string(dir.join(".cargo/config.toml")).unwrap_or_default();
    if !build_rs.contains("link.x") && !config.contains("link.x") {
        warnings.push("nothing passes `-Tlink.x` to the linker: add `println!(\"cargo:rustc-link-arg-bins=-Tlink.x\");` to build.rs (cortex-m-rt needs it)".into());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardDatabase;

    fn odin() -> Board {
        BoardDatabase::bundled().get("odin-w2").unwrap().clone()
    }

    #[test]
    fn init_keeps_comments_and_formatting() {
        let text = "# my firmware\n[package]\nname = \"fw\"   # the name\nversion = \"0.1.0\"\n\n[dependencies]\ncortex-m = \"0.7\" # pinned\n";
        let out = add_boot_table(text, "Cargo.toml", &odin(), 0x40000).unwrap();
        let added = "\n# The bootloader layout: see `cargo boot boards` and the cargo boot book.\n\
                     [package.metadata.boot]\nboard = \"odin-w2\"\nrestrict_size = \"0x40000\"\n";
        assert!(out.contains(added), "{out}");
        assert_eq!(out.replacen(added, "", 1), text, "everything else is kept byte for byte");
    }

    #[test]
    fn init_refuses_to_replace_existing_metadata() {
        let text = "[package]\nname = \"fw\"\n\n[package.metadata.boot]\nboard = \"xdot\"\n";
        let err = add_boot_table(text, "Cargo.toml", &odin(), 0x40000).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cargo.toml already has [package.metadata.boot]: edit it there (`cargo boot boards xdot` shows the memory map)"
        );
    }

    #[test]
    fn init_needs_a_package_and_valid_toml() {
        let err = add_boot_table("[workspace]\nmembers = []\n", "Cargo.toml", &odin(), 0).unwrap_err();
        assert!(err.to_string().contains("has no [package] table"));
        let err = add_boot_table("[package\n", "Cargo.toml", &odin(), 0).unwrap_err();
        assert!(err.to_string().starts_with("Cargo.toml is not valid TOML"));
    }

    #[test]
    fn init_warns_about_a_memory_x_and_a_missing_link_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("memory.x"), "MEMORY {}").unwrap();
        let warnings = init_warnings(dir.path());
        assert_eq!(warnings.len(), 2);
        assert!(warnings[0].contains("memory.x exists"));
        assert!(warnings[1].contains("-Tlink.x"));
    }

    #[test]
    fn placeholders_are_filled_and_names_checked() {
        let values = [("name", "blinky".to_string())];
        assert_eq!(fill("name = \"{{name}}\" {{other}}", &values), "name = \"blinky\" {{other}}");
        let board = odin();
        let project = NewProject {
            path: Path::new("/tmp/9lives"),
            name: None,
            board: &board,
            restrict_size: None,
            template: Template::Secure,
        };
        assert_eq!(project.package_name().unwrap_err(), ScaffoldError::BadName { name: "9lives".into() });
        assert_eq!(toml_string_body(r#"C:\a"b"#), r#"C:\\a\"b"#);
    }

    #[test]
    fn every_kind_gets_the_shared_files() {
        for kind in ["app-virtual", "app-hardware"] {
            let files = render(kind, &[]).unwrap();
            let names: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
            for expected in ["Cargo.toml", "build.rs", ".gitignore", ".cargo/config.toml", "src/main.rs"] {
                assert!(names.contains(&expected), "{kind} lacks {expected}: {names:?}");
            }
        }
        assert_eq!(render("app-nothing", &[]).unwrap_err(), ScaffoldError::NoTemplate { kind: "app-nothing".into() });
    }

    #[test]
    fn a_project_inside_a_workspace_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        let inner = dir.path().join("firmware/app");
        assert!(inside_a_workspace(&inner));
        let mut files = vec![("Cargo.toml".to_string(), "[package]\nname = \"app\"\n".to_string())];
        own_workspace(&mut files);
        let doc: toml_edit::DocumentMut = files[0].1.parse().unwrap();
        assert!(doc.contains_key("workspace") && doc.contains_key("package"));
        let outside = tempfile::tempdir().unwrap();
        assert!(!inside_a_workspace(&outside.path().join("app")));
    }

    #[test]
    fn new_refuses_an_existing_path() {
        let dir = tempfile::tempdir().unwrap();
        let board = odin();
        let project = NewProject {
            path: dir.path(),
            name: Some("x"),
            board: &board,
            restrict_size: None,
            template: Template::Minimal,
        };
        let err = project.create().unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }
}
