//! Bounds on untrusted input. A config or CSV anyone can push to a pull
//! request, and a webhook body anyone can post, must cost bounded time and
//! memory and end in a clear error, never an abort (docs/hostile-input.md).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Deepest nesting of a config, plan file or JSON document that is accepted.
/// Every recursive walk (YAML → JSON, schema check, interpolation, hashing,
/// serde) stays far from the stack's end below it; serde_json refuses more
/// than 128 by default, so one number holds everywhere.
pub(crate) const MAX_DEPTH: usize = 128;

/// Largest config file read (a config with 300,000 keys is about 4 MB;
/// recipients in the millions belong in CSV files).
pub(crate) const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// Longest CSV record (row) of a recipients file.
pub(crate) const MAX_CSV_ROW_BYTES: usize = 64 << 10;

/// Diagnostics shown in full; past it only counted ("and N more").
pub(crate) const MAX_DIAGNOSTICS: usize = 200;

/// Opens `path` for reading only if it is a regular file: a FIFO would block
/// the open (hence O_NONBLOCK, which regular files ignore) and `/dev/zero`
/// never ends. The error says what the path is instead.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a folder"
        } else if kind.is_symlink() {
            "a symbolic link"
        } else {
            "not a regular file (a device, FIFO or socket)"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is {what}; only regular files are read", path.display()),
        ));
    }
    Ok(file)
}

/// Reads a regular file of at most `max` bytes as UTF-8 text.
pub(crate) fn read_text(path: &Path, max: u64) -> std::io::Result<String> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is larger than {} MB; split it or move recipients into CSV files",
                path.display(),
                max >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open() {
        assert!(open_regular(Path::new("/dev/zero")).is_err());
        assert!(open_regular(Path::new("/")).is_err());
    }
}
