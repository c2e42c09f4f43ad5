//! Ownership and liveness of a run: the owner lock.
//!
//! The owner of a run holds an exclusive `flock` on `/dev/shm/sf<run id>-ownerlk` for as long as
//! it lives. The kernel drops the lock when the owner dies, however it dies, so a run whose lock
//! can be taken is an orphan, and PID reuse cannot make a dead owner look alive. The lock file
//! sits beside the run's segments, so any process of the user finds every run's liveness in
//! `/dev/shm` alone, whatever root its run directory is under; the file also records the owner's
//! pid and the run directory, for the sweeper and `shmflow ls`.
//!
//! The file is created under a temporary name, locked, filled, and only then renamed into
//! place, so no other process ever sees it unlocked while its owner lives.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;

use crate::budget::SHM_DIR;
use crate::names;

/// The tag of a run's owner lock among its segment names.
pub const LOCK_TAG: &str = "ownerlk";

/// The path of a run's owner lock.
pub fn lock_path(run_id: &str) -> PathBuf {
    Path::new(SHM_DIR).join(format!("{}{LOCK_TAG}", &names::segment_prefix(run_id)[1..]))
}

/// Creates and locks the owner lock of a new run, recording this process and the run directory.
pub fn take(run_id: &str, dir: &Path) -> io::Result<File> {
    let tmp = Path::new(SHM_DIR).join(format!(".{}creating", &names::segment_prefix(run_id)[1..]));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)?;

    let prepared = flock(&file, FlockOperation::NonBlockingLockExclusive)
        .and_then(|()| {
            let record = format!(
                "shmflow-owner 1\npid {}\ndir {}",
                std::process::id(),
                dir.display()
            );
            file.write_all(record.as_bytes())
        })
        .and_then(|()| fs::rename(&tmp, lock_path(run_id)));
    if let Err(error) = prepared {
        let _ = fs::remove_file(&tmp);
        return Err(error);
    }
    Ok(file)
}

/// What the owner lock of a run says.
#[derive(Debug)]
pub enum Liveness {
    /// The owner lives; its pid as recorded.
    Alive { pid: Option<u32> },
    /// The owner is gone. The caller holds a shared lock on it until `guard` is dropped.
    Orphan {
        guard: File,
        pid: Option<u32>,
        dir: Option<PathBuf>,
    },
    /// The run has no owner lock (never fully created, or already removed).
    NoLock,
}

/// Tries the owner lock of `run_id`. A lock file of another user is reported as alive: it is
/// never this user's to remove.
pub fn probe(run_id: &str) -> io::Result<Liveness> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(lock_path(run_id))
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Liveness::NoLock),
        Err(e) => return Err(e),
    };
    let (pid, dir) = read_record(&file);
    if file.metadata()?.uid() != rustix::process::getuid().as_raw() {
        return Ok(Liveness::Alive { pid });
    }
    // A shared lock: it fails only against the owner's exclusive one, so two sweepers that meet
    // on the same orphan both see it as an orphan (their removals are idempotent), and neither
    // takes it for alive while the other removes it.
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(Liveness::Orphan {
            guard: file,
            pid,
            dir,
        }),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Liveness::Alive { pid }),
        Err(e) => Err(e),
    }
}

/// The pid and run directory recorded in an owner lock; `None` for what cannot be read.
fn read_record(mut file: &File) -> (Option<u32>, Option<PathBuf>) {
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() || !text.starts_with("shmflow-owner 1\n") {
        return (None, None);
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::to_owned)
    };
    let pid = field("pid ").and_then(|p| p.parse().ok());
    (pid, field("dir ").map(PathBuf::from))
}

pub(crate) fn flock(file: &File, operation: FlockOperation) -> io::Result<()> {
    loop {
        match rustix::fs::flock(file, operation) {
            Err(rustix::io::Errno::INTR) => continue,
            other => return Ok(other?),
        }
    }
}

/// The device of the shared-memory filesystem this process sees. Processes in other mount
/// namespaces (containers, for one) may see another one while sharing the root of run
/// directories, and a run of theirs has its owner lock there, out of this process's sight.
pub fn shm_device() -> u64 {
    fs::metadata(SHM_DIR).map(|m| m.dev()).unwrap_or(0)
}

/// Whether a run directory was created by a process that sees the same shared-memory
/// filesystem as this one, so that the absence of its owner lock here means something.
pub fn dir_shares_shm(dir: &Path) -> bool {
    let Ok(record) = fs::read_to_string(dir.join("owner")) else {
        return false;
    };
    let device = record
        .lines()
        .find_map(|line| line.strip_prefix("shm-dev "));
    device.and_then(|d| d.parse::<u64>().ok()) == Some(shm_device())
}
