//! Reading a file the tool did not write without being tricked by it: only regular files
//! (opening never blocks on a FIFO, and a device is refused), a read capped in bytes (a file
//! that grows, or claims a wrong size, stops at the cap), and optionally no symlink in the last
//! path component. docs/security.md ("Inputs", "Paths") says where each is used.
//!
//! What it is not: writing (that is `output::write_atomic`), nor deciding which paths may be
//! read (the input walk and `check` decide, and call this).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// A FIFO, socket, device or directory: reading it could block forever or never end.
    NotRegular(&'static str),
    /// The last path component is a symbolic link and links were not to be followed.
    Symlink,
    /// More than the cap.
    TooLarge,
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "not a regular file ({what})"),
            ReadError::Symlink => f.write_str("is a symbolic link"),
            ReadError::TooLarge => f.write_str("larger than the size limit"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Opens `path` for reading if it is a regular file. `follow_symlink: false` refuses a
/// symbolic link as the last component (O_NOFOLLOW). The open does not block on a FIFO
/// (O_NONBLOCK), and the type is checked on the opened file, so a swap after a check cannot
/// slip a FIFO in.
pub fn open_regular(path: &Path, follow_symlink: bool) -> Result<File, ReadError> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    if !follow_symlink {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(file) => file,
        Err(e) if !follow_symlink && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::Symlink);
        }
        Err(e) => return Err(ReadError::Io(e)),
    };
    let kind = file.metadata().map_err(ReadError::Io)?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(ReadError::NotRegular(describe(kind)))
    }
}

/// Reads at most `limit` bytes of a regular file ([`open_regular`]); more is
/// [`ReadError::TooLarge`], whatever size the file claims.
pub fn read_regular(path: &Path, follow_symlink: bool, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, follow_symlink)?;
    read_capped(file, limit)
}

/// Reads at most `limit` bytes from `reader`; more is [`ReadError::TooLarge`].
pub fn read_capped(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// What a file type is, for messages.
pub fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_devices_links_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.yaml");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_regular(&fifo, true, 10),
            Err(ReadError::NotRegular("a FIFO"))
        ));
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), true, 10),
            Err(ReadError::NotRegular("a device"))
        ));
        let file = dir.path().join("a.yaml");
        std::fs::write(&file, "0123456789").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            read_regular(&link, false, 10),
            Err(ReadError::Symlink)
        ));
        assert_eq!(read_regular(&link, true, 10).unwrap(), b"0123456789");
        assert!(matches!(
            read_regular(&file, false, 9),
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(
            read_capped(std::io::repeat(0), 1 << 20),
            Err(ReadError::TooLarge)
        ));
    }
}
