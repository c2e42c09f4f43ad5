//! Cleanup when a terminating signal arrives: SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGABRT.
//!
//! The handler (registered through `signal-hook-registry`, which keeps any handler installed
//! before it) removes the segments, spill files and directory of every run this process owns,
//! then lets the process die by the same signal, as it would without shmflow. When the
//! application handles the signal itself (the Node layer reports its `process.on(signal)`
//! listeners through [`set_app_handles`]), the handler does nothing and the application's
//! handler runs; cleanup then happens at exit. A listener of a thread that cannot report it (the
//! main thread, when a worker thread owns the run) is recognised by the handler Node installed
//! for it. When the application removes its last listener, Node resets the signal to its
//! default action, and [`rearm`] puts the handler back.
//!
//! Everything the handler does is async-signal-safe: it reads fixed slots filled in advance
//! (no allocation, no lock), and makes only `open`, `getdents`, `unlinkat`, `close`, `signal`
//! and `raise` system calls, with buffers on its stack.
//!
//! A signal the kernel delivers by killing outright (SIGKILL, the OOM killer) runs no handler;
//! the owner lock and the sweeper cover it. SIGSEGV and SIGBUS are not handled: they mean the
//! process is already broken, so it dies as it would without shmflow and its runs are swept.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Once;

use rustix::fs::{AtFlags, Mode, OFlags, RawDir, CWD};

use crate::names::RUN_ID_LEN;

/// The signals whose default action would end the process without cleanup.
pub const SIGNALS: [i32; 5] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGABRT,
];

/// How many owned runs can be cleaned in a signal handler; more are left to the sweeper.
const SLOTS: usize = 64;

/// The longest run directory path a slot holds.
const MAX_PATH: usize = 1024;

const FREE: u8 = 0;
const FILLING: u8 = 1;
const ACTIVE: u8 = 2;

/// One owned run, as the handler needs it: filled before it becomes `ACTIVE`, read only then.
struct Slot {
    state: AtomicU8,
    run_id: UnsafeCell<[u8; RUN_ID_LEN]>,
    dir: UnsafeCell<[u8; MAX_PATH]>,
    dir_len: AtomicUsize,
}

// SAFETY: the cells are written only by the thread that moved the slot from FREE to FILLING,
// and read only while it is ACTIVE (Release on publication, Acquire on reading).
unsafe impl Sync for Slot {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    state: AtomicU8::new(FREE),
    run_id: UnsafeCell::new([0; RUN_ID_LEN]),
    dir: UnsafeCell::new([0; MAX_PATH]),
    dir_len: AtomicUsize::new(0),
};

static RUNS: [Slot; SLOTS] = [EMPTY_SLOT; SLOTS];

/// Whether the application handles each signal itself, by signal number.
static APP_HANDLES: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

/// Whether a JavaScript listener's handler was in place when shmflow installed its own: seen
/// from the signal action, for listeners of threads whose Node layer cannot report them (a run
/// owned by a worker thread, while the main thread listens).
static LISTENER_BEFORE: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

static INSTALL: Once = Once::new();

/// Registers the handler for every signal in [`SIGNALS`], once per process.
pub fn install() {
    INSTALL.call_once(|| {
        for signal in SIGNALS {
            LISTENER_BEFORE[signal as usize].store(has_listener_handler(signal), Ordering::Release);
            // SAFETY: the action is async-signal-safe, as the module documentation explains.
            let registered = unsafe {
                signal_hook_registry::register_unchecked(signal, move |_| on_signal(signal))
            };
            if let Err(error) = registered {
                tracing::warn!(signal, %error, "could not register the cleanup on a signal");
            }
        }
    });
}

/// Whether the action of `signal` is a handler that Node installs for a JavaScript listener:
/// libuv's, which, unlike Node's own exit handler for SIGINT and SIGTERM (installed with
/// `SA_RESETHAND`), stays in place after it runs.
fn has_listener_handler(signal: i32) -> bool {
    // SAFETY: sigaction only reads the current action into a zeroed struct.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction != libc::SIG_DFL
            && current.sa_sigaction != libc::SIG_IGN
            && current.sa_flags & libc::SA_RESETHAND == 0
            && current.sa_sigaction != rearmed_handler as extern "C" fn(libc::c_int) as usize
    }
}

/// Installs the handler for `signal` again, directly, after something reset the signal to its
/// default action: Node does so when the application removes its last listener of a signal,
/// which would otherwise leave that signal without cleanup for the rest of the process.
/// Does nothing before [`install`], or unless the signal's action is the default one right now.
pub fn rearm(signal: i32) {
    if !SIGNALS.contains(&signal) || !INSTALL.is_completed() {
        return;
    }

    // SAFETY: sigaction with a zeroed, then filled, struct; the handler is async-signal-safe.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal, std::ptr::null(), &mut current) != 0
            || current.sa_sigaction != libc::SIG_DFL
        {
            return;
        }
        LISTENER_BEFORE[signal as usize].store(false, Ordering::Release);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = rearmed_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
}

extern "C" fn rearmed_handler(signal: libc::c_int) {
    on_signal(signal);
}

/// Tells the handler whether the application handles `signal` itself.
pub fn set_app_handles(signal: i32, handles: bool) {
    if let Some(flag) = usize::try_from(signal)
        .ok()
        .and_then(|s| APP_HANDLES.get(s))
    {
        flag.store(handles, Ordering::Release);
    }
}

/// Makes an owned run known to the handler; `None` when every slot is taken or the path is too
/// long, in which case the run is cleaned at exit or by the sweeper.
pub(crate) fn watch(run_id: &str, dir: &std::path::Path) -> Option<usize> {
    let dir = dir.as_os_str().as_encoded_bytes();
    if dir.len() >= MAX_PATH || run_id.len() != RUN_ID_LEN {
        return None;
    }
    let index = RUNS.iter().position(|slot| {
        slot.state
            .compare_exchange(FREE, FILLING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    })?;
    let slot = &RUNS[index];

    // SAFETY: this thread moved the slot to FILLING, so nothing else reads or writes the cells.
    unsafe {
        (*slot.run_id.get()).copy_from_slice(run_id.as_bytes());
        (&mut *slot.dir.get())[..dir.len()].copy_from_slice(dir);
    }
    slot.dir_len.store(dir.len(), Ordering::Relaxed);
    slot.state.store(ACTIVE, Ordering::Release);
    Some(index)
}

/// Forgets a run given to [`watch`].
pub(crate) fn unwatch(index: usize) {
    RUNS[index].state.store(FREE, Ordering::Release);
}

fn on_signal(signal: i32) {
    let index = signal as usize;
    let listening = LISTENER_BEFORE[index].load(Ordering::Acquire);
    if APP_HANDLES[index].load(Ordering::Acquire) || listening {
        return;
    }
    clean_watched_runs();

    // SAFETY: signal and raise are async-signal-safe. The signal stays blocked until this
    // handler returns, and is then delivered with the default action: the process ends by it.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

/// Removes the directory and every shared-memory object of each watched run.
fn clean_watched_runs() {
    for slot in &RUNS {
        if slot.state.load(Ordering::Acquire) != ACTIVE {
            continue;
        }
        let mut path = [0u8; MAX_PATH + 1];
        let len = slot.dir_len.load(Ordering::Relaxed);
        let mut prefix = [0u8; RUN_ID_LEN + 3];

        // SAFETY: the slot is ACTIVE, so its cells were completely written before it became so.
        unsafe {
            path[..len].copy_from_slice(&(&*slot.dir.get())[..len]);
            prefix[2..2 + RUN_ID_LEN].copy_from_slice(&*slot.run_id.get());
        }
        prefix[..2].copy_from_slice(b"sf");
        prefix[RUN_ID_LEN + 2] = b'-';
        if let Ok(dir) = CStr::from_bytes_until_nul(&path) {
            remove_tree(dir, 2);
        }
        remove_matching(c"/dev/shm", &prefix);
    }
}

/// Removes a directory and what it holds, `depth` levels deep, without allocating.
fn remove_tree(path: &CStr, depth: u32) {
    let Some(dir) = open_dir(CWD, path) else {
        return;
    };
    // Entries removed while a directory is read can hide others from the same read: try again.
    for _ in 0..3 {
        remove_entries(&dir, depth);
        if rustix::fs::unlinkat(CWD, path, AtFlags::REMOVEDIR).is_ok() {
            return;
        }
    }
}

fn remove_entries(dir: &OwnedFd, depth: u32) {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        if entry.file_type() == rustix::fs::FileType::Directory && depth > 0 {
            if let Some(child) = open_dir(dir, name) {
                for _ in 0..3 {
                    remove_entries(&child, depth - 1);
                    if rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR).is_ok() {
                        break;
                    }
                }
            }
        } else {
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        }
    }
}

/// Unlinks every entry of `path` whose name starts with `prefix`.
fn remove_matching(path: &CStr, prefix: &[u8]) {
    let Some(dir) = open_dir(CWD, path) else {
        return;
    };
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(&dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        if entry.file_name().to_bytes().starts_with(prefix) {
            let _ = rustix::fs::unlinkat(&dir, entry.file_name(), AtFlags::empty());
        }
    }
}

fn open_dir(at: impl std::os::fd::AsFd, path: &CStr) -> Option<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(at, path, flags, Mode::empty()).ok()
}
