//! Writing files so that nothing is ever half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Writes `contents` to `path` atomically: a temporary file in the same directory,
/// flushed to disk, then renamed over the destination.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let staged = stage(path, contents)?;
    staged.commit()
}

/// A file written next to its destination, not yet in place.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    dest: PathBuf,
}

impl Staged {
    /// Moves the file into place.
    pub fn commit(self) -> Result<()> {
        std::fs::rename(&self.temp, &self.dest).io_context(|| format!("cannot write {}", self.dest.display()))?;
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Writes `contents` beside `path` under a temporary name; `commit` moves it into place.
/// Dropping the result without committing removes the temporary file.
pub fn stage(path: &Path, contents: &[u8]) -> Result<Staged> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).io_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let staged = Staged { temp, dest: path.to_path_buf() };
    let mut file =
        std::fs::File::create(&staged.temp).io_context(|| format!("cannot create {}", staged.temp.display()))?;
    file.write_all(contents).and_then(|_| file.sync_all()).io_context(|| format!("cannot write {}", path.display()))?;
    Ok(staged)
}

/// Stages every file first and moves them all into place only if every write worked.
/// Files that already hold exactly these bytes are left alone.
pub fn write_all_atomic(files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    let changed = files.iter().filter(|(path, bytes)| !has_contents(path, bytes));
    let staged = changed.map(|(path, bytes)| stage(path, bytes)).collect::<Result<Vec<_>>>()?;
    staged.into_iter().try_for_each(Staged::commit)
}

/// True when `path` exists and holds exactly `bytes`.
fn has_contents(path: &Path, bytes: &[u8]) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() == bytes.len() as u64)
        && std::fs::read(path).is_ok_and(|existing| existing == bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_set_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"a file, not a directory").unwrap();
        let files = vec![(dir.path().join("a.bin"), vec![1]), (blocker.join("b.bin"), vec![2])];
        assert!(write_all_atomic(&files).is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("blocker")]);
    }

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        write_all_atomic(&[(path.clone(), b"same".to_vec())]).unwrap();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_all_atomic(&[(path.clone(), b"same".to_vec())]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn writes_replace_the_old_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
