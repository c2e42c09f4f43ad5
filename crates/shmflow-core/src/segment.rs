//! Segments: one POSIX shared-memory object per stored value.
//!
//! A segment is created exclusively (`O_CREAT | O_EXCL`, mode 0600), its whole size is reserved
//! up front so that a full tmpfs fails the save and never raises SIGBUS later, the header and
//! payload are written, and the state byte is set to sealed last. Readers map it
//! copy-on-write (`MAP_PRIVATE`), so a reader that writes into its view changes only its own
//! pages. A sealed segment never changes; an overwrite creates a new one.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;

use rustix::fs::{FallocateFlags, Mode};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;

use crate::error::{Error, Result};
use crate::format::{Header, HEADER_LEN, STATE_OFFSET, STATE_SEALED, STATE_WRITING};
use crate::registry;

/// Writes at most this many bytes per `pwrite`, below Linux's per-call limit.
const MAX_WRITE: usize = 1 << 30;

/// Creates a shared-memory object under `name` holding `header` and `payload`, sealed.
///
/// On any failure the object is unlinked again, so a failed save leaves nothing behind.
/// `EEXIST` is returned as is, so that the caller can retry with another name.
pub fn create(name: &str, header: &Header, payload: &[u8]) -> io::Result<()> {
    let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
    let fd = shm::open(name, flags, Mode::from_raw_mode(0o600))?;
    registry::segment_created(name);

    let written = reserve(&fd, HEADER_LEN as u64 + payload.len() as u64)
        .and_then(|()| write_sealed(&fd, header, payload));
    if let Err(error) = written {
        remove(name);
        return Err(error);
    }
    Ok(())
}

/// Reserves `len` bytes of the object, so that later writes cannot fail for lack of space.
fn reserve(fd: impl AsFd, len: u64) -> io::Result<()> {
    loop {
        match rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len) {
            Err(rustix::io::Errno::INTR) => continue,
            // A filesystem without fallocate only gets its size set: the space is not reserved.
            Err(rustix::io::Errno::OPNOTSUPP) => return Ok(rustix::fs::ftruncate(&fd, len)?),
            other => return Ok(other?),
        }
    }
}

/// Writes the header in the writing state, then the payload, then the sealed state byte.
pub(crate) fn write_sealed(fd: &impl AsFd, header: &Header, payload: &[u8]) -> io::Result<()> {
    write_all_at(fd, &header.encode(STATE_WRITING), 0)?;
    write_all_at(fd, payload, HEADER_LEN as u64)?;
    write_all_at(fd, &[STATE_SEALED], STATE_OFFSET as u64)
}

fn write_all_at(fd: &impl AsFd, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let chunk = &bytes[..bytes.len().min(MAX_WRITE)];
        match rustix::io::pwrite(fd, chunk, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Creates the spill file `path` (which must not exist, and is never a followed symbolic link)
/// holding `header` and `payload`, sealed. With `reserve`, the space is reserved first, as for a
/// shared-memory segment, so the file can later be mapped safely. On failure the file is removed.
pub fn create_file(
    path: &Path,
    header: &Header,
    payload: &[u8],
    reserve_space: bool,
) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;

    let total = HEADER_LEN as u64 + payload.len() as u64;
    let reserved = if reserve_space {
        reserve(file.as_fd(), total)
    } else {
        Ok(())
    };
    if let Err(error) = reserved.and_then(|()| write_sealed(&file, header, payload)) {
        let _ = std::fs::remove_file(path);
        return Err(error);
    }
    Ok(())
}

/// Unlinks a segment this process created, ignoring one that is already gone.
pub fn remove(name: &str) {
    match shm::unlink(name) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => registry::segment_removed(name),
        Err(error) => tracing::warn!(segment = name, %error, "could not unlink a segment"),
    }
}

/// Unlinks a segment by name; `Ok(false)` if it was already gone.
pub fn unlink(name: &str) -> io::Result<bool> {
    match shm::unlink(name) {
        Ok(()) => {
            registry::segment_removed(name);
            Ok(true)
        }
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// A private, copy-on-write mapping of a whole sealed segment, unmapped on drop.
///
/// The mapping stays valid after the segment is unlinked or overwritten.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
    header: Header,
}

// SAFETY: the mapping is plain memory owned by this value; nothing else unmaps it.
unsafe impl Send for Mapping {}
// SAFETY: shared access only reads through `payload`; writes go through JavaScript's own view.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Opens a shared-memory segment read-only and maps it copy-on-write; `None` if no object
    /// has that name (any more).
    pub fn open_segment(name: &str) -> Result<Option<Self>> {
        match shm::open(name, shm::OFlags::RDONLY, Mode::empty()) {
            Ok(fd) => Self::map(&fd, name).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io(format!("opening segment {name}"), e)),
        }
    }

    /// Opens a segment file (an export, or a spilled value) and maps it copy-on-write; `None` if
    /// there is no such file (any more). A symbolic link is never followed.
    pub fn open_file(path: &Path) -> Result<Option<Self>> {
        match open_nofollow(path) {
            Ok(file) => Self::map(&file, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("opening {}", path.display()), e)),
        }
    }

    fn map(fd: &impl AsFd, location: &str) -> Result<Self> {
        let stat = rustix::fs::fstat(fd)
            .map_err(|e| Error::io(format!("reading the size of {location}"), e))?;
        let corrupt = |reason: String| Error::CorruptSegment {
            location: location.to_owned(),
            reason,
        };
        let len = usize::try_from(stat.st_size).map_err(|_| corrupt("negative size".into()))?;
        if len < HEADER_LEN {
            return Err(corrupt(format!(
                "{len} bytes is shorter than the {HEADER_LEN}-byte header"
            )));
        }

        // SAFETY: a fresh mapping chosen by the kernel, of the object's whole current size, so no
        // existing memory is affected; MAP_PRIVATE keeps the reader's writes to itself.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
                fd,
                0,
            )
        }
        .map_err(|e| Error::io(format!("mapping {location}"), e))?;
        let ptr = NonNull::new(ptr).expect("mmap never returns null on success");

        // SAFETY: the mapping is at least HEADER_LEN bytes long, checked above.
        let head = unsafe { std::slice::from_raw_parts(ptr.as_ptr() as *const u8, HEADER_LEN) };
        match Header::decode(head, len as u64) {
            Ok(header) => Ok(Mapping { ptr, len, header }),
            Err(reason) => {
                // SAFETY: the mapping was made just above and no reference into it is kept.
                let _ = unsafe { rustix::mm::munmap(ptr.as_ptr(), len) };
                Err(corrupt(reason))
            }
        }
    }

    /// What the header says about the value.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// A pointer to the first payload byte, 64-byte aligned; valid for `payload_len` bytes
    /// while this mapping lives. Writes through it stay private to this process.
    pub fn payload_ptr(&self) -> *mut u8 {
        // SAFETY: HEADER_LEN is inside the mapping, checked when it was opened.
        unsafe { (self.ptr.as_ptr() as *mut u8).add(HEADER_LEN) }
    }

    /// The payload length in bytes.
    pub fn payload_len(&self) -> usize {
        self.header.payload_len as usize
    }

    /// The payload, read-only.
    pub fn payload(&self) -> &[u8] {
        // SAFETY: decode checked that the payload lies inside the mapping.
        unsafe { std::slice::from_raw_parts(self.payload_ptr(), self.payload_len()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr and len are exactly what mmap returned, and nothing else unmaps them.
        if let Err(error) = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) } {
            tracing::warn!(%error, "munmap failed");
        }
    }
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// A value read into memory from a `disk`-tier file: its checked header and its payload.
#[derive(Debug)]
pub struct Copy {
    pub header: Header,
    pub payload: Vec<u8>,
}

/// Reads a segment file into memory, checking the header before the payload is read; `None` if
/// there is no such file (any more).
pub fn read_file(path: &Path) -> Result<Option<Copy>> {
    let location = path.display().to_string();
    let io_error = |e| Error::io(format!("reading {location}"), e);
    let file = match open_nofollow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    let len = file.metadata().map_err(io_error)?.len();
    let mut head = [0u8; HEADER_LEN];
    read_exact_at(&file, &mut head, 0).map_err(io_error)?;
    let header = Header::decode(&head, len).map_err(|reason| Error::CorruptSegment {
        location: location.clone(),
        reason,
    })?;

    let mut payload = vec![0u8; header.payload_len as usize];
    read_exact_at(&file, &mut payload, HEADER_LEN as u64).map_err(io_error)?;
    Ok(Some(Copy { header, payload }))
}

fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::pread(file, &mut *buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
