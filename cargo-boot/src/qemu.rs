//! Running images on the virtual boards in QEMU (being written).

/// Errors running QEMU.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{0} is not a virtual board: `cargo boot run` needs a board with a [qemu] section, such as qemu-an386")]
    NotVirtual(String),
}
