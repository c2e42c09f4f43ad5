//! Limits of the shared-memory tier, and why a tier could not take a value.
//!
//! A save tries the tiers in order and moves on when one cannot take the value: its budget is
//! spent, its filesystem lacks the free space (checked with `statvfs` before anything is
//! allocated, keeping a safety margin), or the system refuses the allocation. Each refusal is
//! recorded as a [`TierFailure`] with its reason.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::run::Tier;

/// Why a tier did not take a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The context's shared-memory budget would be exceeded.
    Budget,
    /// The budget for all contexts of the process would be exceeded.
    ProcessBudget,
    /// `statvfs` shows too little free space, margin included.
    FreeSpace,
    /// The filesystem is full (`ENOSPC`, `EFBIG`, `EDQUOT`).
    NoSpace,
    /// The kernel refused the memory (`ENOMEM`).
    NoMemory,
    /// Too many open files (`EMFILE`, `ENFILE`).
    TooManyFiles,
    /// Permission denied (`EACCES`, `EPERM`).
    PermissionDenied,
}

impl Reason {
    /// The reason's stable name, as reported by `usage()` and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Budget => "budget",
            Reason::ProcessBudget => "process-budget",
            Reason::FreeSpace => "free-space",
            Reason::NoSpace => "ENOSPC",
            Reason::NoMemory => "ENOMEM",
            Reason::TooManyFiles => "EMFILE",
            Reason::PermissionDenied => "EACCES",
        }
    }

    /// The reason for an OS error that the next tier may not share; `None` for any other error.
    pub fn of_io(error: &io::Error) -> Option<Self> {
        use rustix::io::Errno;
        let errno = Errno::from_raw_os_error(error.raw_os_error()?);
        match errno {
            Errno::NOSPC | Errno::FBIG | Errno::DQUOT => Some(Reason::NoSpace),
            Errno::NOMEM => Some(Reason::NoMemory),
            Errno::MFILE | Errno::NFILE => Some(Reason::TooManyFiles),
            Errno::ACCESS | Errno::PERM => Some(Reason::PermissionDenied),
            _ => None,
        }
    }
}

/// One tier that did not take a value, and why, in words that name the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierFailure {
    pub tier: Tier,
    pub reason: Reason,
    pub detail: String,
}

impl fmt::Display for TierFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.tier.as_str(),
            self.detail,
            self.reason.as_str()
        )
    }
}

/// The size of physical memory in bytes.
pub fn physical_memory() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // Asked once: every save checks against it.
        static MEMORY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        *MEMORY.get_or_init(|| {
            let info = rustix::system::sysinfo();
            info.totalram as u64 * info.mem_unit.max(1) as u64
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Only Linux is supported so far; elsewhere no value is refused for its size.
        u64::MAX
    }
}

/// The default budget of one context's shared-memory tier: half of physical memory.
pub fn default_max_shared_bytes() -> u64 {
    physical_memory() / 2
}

/// Free space of the filesystem holding `path`, and the margin to keep free on it: 1% of its
/// size, at least 64 KiB and at most 64 MiB. `None` when the filesystem cannot be asked.
pub fn free_space(path: &Path) -> Option<(u64, u64)> {
    let stat = rustix::fs::statvfs(path).ok()?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let size = stat.f_blocks.saturating_mul(stat.f_frsize);
    Some((free, (size / 100).clamp(64 << 10, 64 << 20)))
}

/// The directory whose filesystem holds shared-memory objects.
pub const SHM_DIR: &str = "/dev/shm";

/// Bytes of shared memory held by every context of this process, and their common limit.
static PROCESS_HELD: AtomicU64 = AtomicU64::new(0);
static PROCESS_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Sets the shared-memory budget for all contexts of this process together (`u64::MAX`: none).
pub fn set_process_max_shared_bytes(limit: u64) {
    PROCESS_LIMIT.store(limit, Ordering::Relaxed);
}

/// The process-wide budget and what the process's contexts hold against it.
pub fn process_budget() -> (u64, u64) {
    (
        PROCESS_LIMIT.load(Ordering::Relaxed),
        PROCESS_HELD.load(Ordering::Relaxed),
    )
}

/// The shared-memory budget of one context, and the bytes it holds against it.
///
/// It counts the segments saved through this context and not yet replaced or deleted through
/// it: a value that another process replaces stays counted here, which errs on the safe side.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    held: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Self {
        Budget {
            limit,
            held: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Why `bytes` more would not fit, if they would not.
    pub fn refuse(&self, bytes: u64) -> Option<(Reason, String)> {
        if self.held().saturating_add(bytes) > self.limit {
            let detail = format!(
                "the context's budget maxSharedBytes={} has {} bytes left, {bytes} needed",
                self.limit,
                self.limit.saturating_sub(self.held())
            );
            return Some((Reason::Budget, detail));
        }
        let (limit, held) = process_budget();
        if held.saturating_add(bytes) > limit {
            let detail = format!(
                "the process-wide budget of {limit} bytes has {} left, {bytes} needed",
                limit.saturating_sub(held)
            );
            return Some((Reason::ProcessBudget, detail));
        }
        None
    }

    pub fn add(&self, bytes: u64) {
        self.held.fetch_add(bytes, Ordering::Relaxed);
        PROCESS_HELD.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn release(&self, bytes: u64) {
        let sub = |held: u64| Some(held.saturating_sub(bytes));
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub);
        let _ = PROCESS_HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, sub);
    }
}
