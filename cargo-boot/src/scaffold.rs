//! `cargo boot new` and `cargo boot init` (being written).

/// Errors creating or changing a project.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0} already exists: choose another name, or use `cargo boot init` inside an existing package")]
    Exists(String),
}
