//! `cargo boot new`.

use std::path::PathBuf;

use cargo_boot::board::BoardDatabase;
use cargo_boot::metadata::Template;

use super::args::BoardArgs;
use cargo_boot::scaffold::NewProject;

/// Create a new project for a board that builds at once with `cargo boot build`.
#[derive(clap::Args)]
pub struct Cmd {
    #[command(flatten)]
    board: BoardArgs,
    /// The package name (default: the directory name).
    #[arg(long)]
    name: Option<String>,
    /// The bundled bootloader: `secure` (signed updates, swap, revert) or `minimal` (a jump).
    #[arg(long, default_value = "secure", value_parser = parse_template)]
    template: Template,
    /// Where to create the project.
    path: PathBuf,
}

impl Cmd {
    /// Creates the project.
    pub fn run(self) -> anyhow::Result<()> {
        let db = BoardDatabase::bundled();
        let board = db.get(&self.board.board)?;
        let project = NewProject {
            path: &self.path,
            name: self.name.as_deref(),
            board,
            restrict_size: self.board.restrict_size,
            template: self.template,
        };
        project.create()?;
        eprintln!("     Created `{}` for {} ({})", self.path.display(), board.name, board.description);
        eprintln!("        Next: cd {} && cargo boot build", self.path.display());
        Ok(())
    }
}

fn parse_template(text: &str) -> Result<Template, String> {
    match text {
        "secure" => Ok(Template::Secure),
        "minimal" => Ok(Template::Minimal),
        other => Err(format!("`{other}` is not a template: use secure or minimal")),
    }
}
