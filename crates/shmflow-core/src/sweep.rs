//! Finding and removing what dead owners left behind: `ls`, `sweep` and `rm` of shmflow.
//!
//! Runs are found in `/dev/shm` (their segments and owner locks, see [`crate::owner`]) and under a
//! root (their directories). A run is an orphan when its owner lock can be taken; its segments,
//! spill files and directory are then removed. Segments and directories without any owner lock
//! are removed once they are older than a grace period, which covers a run whose owner died
//! while it was being created. Objects of other users are never touched, and a run whose owner
//! lives is never removed unless the caller forces it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crate::budget::SHM_DIR;
use crate::error::{Error, Result};
use crate::names;
use crate::owner::{self, Liveness, LOCK_TAG};
use crate::run::{self, Tier, TierUsage};

/// How long an object or directory without an owner lock is left alone, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Whether a run's owner lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Its owner holds the owner lock.
    Alive,
    /// Its owner is gone: the lock could be taken.
    Orphaned,
    /// There is no owner lock at all (a run cut short while being created, or half removed).
    Unowned,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Alive => "alive",
            RunState::Orphaned => "orphaned",
            RunState::Unowned => "unowned",
        }
    }
}

/// What `list_runs` knows of one run of this user.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub run_id: String,
    pub state: RunState,
    pub pid: Option<u32>,
    /// The run directory, when known and present.
    pub dir: Option<PathBuf>,
    /// Shared-memory objects of the run (the owner lock excluded) and their bytes.
    pub shm: TierUsage,
    /// Spill files by tier, from the run's index, when its directory is readable.
    pub mmap_file: TierUsage,
    pub disk: TierUsage,
}

/// One run removed (or, in a dry run, that would be), with what it held.
#[derive(Clone, Debug)]
pub struct Removed {
    pub run_id: String,
    pub state: RunState,
    pub segments: u64,
    pub bytes: u64,
    pub dir: Option<PathBuf>,
}

/// The objects of one run found in /dev/shm.
#[derive(Default)]
struct ShmObjects {
    names: Vec<String>,
    bytes: u64,
    newest: Option<SystemTime>,
}

/// Every shared-memory object of this user that names a run, grouped by run id.
fn scan_shm() -> BTreeMap<String, ShmObjects> {
    let uid = rustix::process::getuid().as_raw();
    let mut runs: BTreeMap<String, ShmObjects> = BTreeMap::new();
    let Ok(items) = fs::read_dir(SHM_DIR) else {
        return runs;
    };
    for item in items.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        let Some(run_id) = names::run_of_segment(&name) else {
            continue;
        };
        let Ok(meta) = item.metadata() else { continue };
        if meta.uid() != uid || !meta.is_file() {
            continue;
        }
        let objects = runs.entry(run_id.to_owned()).or_default();
        if !name.ends_with(LOCK_TAG) {
            objects.bytes += meta.len();
        }
        objects.newest = objects.newest.max(meta.modified().ok());
        objects.names.push(name);
    }
    runs
}

/// Run directories under this user's directory of `root`.
fn scan_dirs(root: &Path) -> BTreeMap<String, PathBuf> {
    let user_dir = run::user_dir_path(root);
    let Ok(items) = fs::read_dir(&user_dir) else {
        return BTreeMap::new();
    };
    items
        .flatten()
        .filter_map(|item| {
            let name = item.file_name().to_string_lossy().into_owned();
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            (names::is_run_id(&name) && is_dir).then(|| (name, item.path()))
        })
        .collect()
}

/// The run ids found in /dev/shm or among the run directories, each once, in order.
fn run_ids<'a>(
    shm: &'a BTreeMap<String, ShmObjects>,
    dirs: &'a BTreeMap<String, PathBuf>,
) -> Vec<&'a String> {
    let mut ids: Vec<&String> = shm.keys().chain(dirs.keys()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Every run of this user found in /dev/shm or under `root`, in run id order.
pub fn list_runs(root: &Path) -> Result<Vec<RunInfo>> {
    let shm = scan_shm();
    let dirs = scan_dirs(root);

    let mut runs = Vec::new();
    for run_id in run_ids(&shm, &dirs) {
        let (state, pid, recorded) = match probe(run_id)? {
            Liveness::Alive { pid } => (RunState::Alive, pid, None),
            Liveness::Orphan { pid, dir, .. } => (RunState::Orphaned, pid, dir),
            Liveness::NoLock => (RunState::Unowned, None, None),
        };
        let dir = dirs
            .get(run_id)
            .cloned()
            .or(recorded)
            .filter(|d| d.is_dir());
        let objects = shm.get(run_id);
        let count = objects.map_or(0, |o| {
            o.names.iter().filter(|n| !n.ends_with(LOCK_TAG)).count()
        });
        let shm = TierUsage {
            bytes: objects.map_or(0, |o| o.bytes),
            count: count as u64,
        };
        let (mmap_file, disk) = dir.as_deref().map(spill_usage).unwrap_or_default();
        runs.push(RunInfo {
            run_id: run_id.clone(),
            state,
            pid,
            dir,
            shm,
            mmap_file,
            disk,
        });
    }
    Ok(runs)
}

fn probe(run_id: &str) -> Result<Liveness> {
    owner::probe(run_id).map_err(|e| Error::io(format!("checking the owner of run {run_id}"), e))
}

/// Spill-file usage of a run directory, from its index.
fn spill_usage(dir: &Path) -> (TierUsage, TierUsage) {
    let (mut mmap_file, mut disk) = (TierUsage::default(), TierUsage::default());
    for entry in run::read_all_entries(&dir.join("index")) {
        let usage = match entry.tier {
            Tier::MmapFile => &mut mmap_file,
            Tier::Disk => &mut disk,
            Tier::Shm => continue,
        };
        usage.bytes += entry.bytes;
        usage.count += 1;
    }
    (mmap_file, disk)
}

/// Removes every orphaned run of this user (and, past `grace`, unowned leftovers); with
/// `dry_run`, only reports what it would remove.
pub fn sweep(root: &Path, grace: Duration, dry_run: bool) -> Result<Vec<Removed>> {
    let shm = scan_shm();
    let dirs = scan_dirs(root);

    let mut removed = Vec::new();
    for run_id in run_ids(&shm, &dirs) {
        let objects = shm.get(run_id);
        let dir = dirs.get(run_id);
        match probe(run_id)? {
            Liveness::Alive { .. } => {}
            Liveness::Orphan {
                guard,
                dir: recorded,
                ..
            } => {
                let dir = dir.cloned().or(recorded);
                removed.push(remove(run_id, RunState::Orphaned, objects, dir, dry_run));
                drop(guard);
            }
            Liveness::NoLock if older_than(objects, dir, grace) => {
                // A directory made in another mount namespace has its owner lock out of sight:
                // only its shared-memory objects, which are in this one, are judged here.
                let dir = dir.filter(|d| owner::dir_shares_shm(d)).cloned();
                if objects.is_some() || dir.is_some() {
                    removed.push(remove(run_id, RunState::Unowned, objects, dir, dry_run));
                }
            }
            Liveness::NoLock => {}
        }
    }
    if !dry_run {
        remove_abandoned_lock_files(grace);
    }
    if !removed.is_empty() {
        tracing::info!(runs = removed.len(), dry_run, "swept orphaned runs");
    }
    Ok(removed)
}

/// Whether everything known of an unowned run is older than `grace`.
fn older_than(objects: Option<&ShmObjects>, dir: Option<&PathBuf>, grace: Duration) -> bool {
    let Some(cutoff) = SystemTime::now().checked_sub(grace) else {
        return true;
    };
    let dir_time = dir.and_then(|d| fs::metadata(d).and_then(|m| m.modified()).ok());
    let newest = objects.and_then(|o| o.newest).max(dir_time);
    newest.is_none_or(|time| time <= cutoff)
}

/// Removes a run's objects (the owner lock last) and its directory.
fn remove(
    run_id: &str,
    state: RunState,
    objects: Option<&ShmObjects>,
    dir: Option<PathBuf>,
    dry_run: bool,
) -> Removed {
    let mut names: Vec<&String> = objects
        .map(|o| o.names.iter().collect())
        .unwrap_or_default();
    names.sort_by_key(|name| name.ends_with(LOCK_TAG));
    let segments = names.iter().filter(|n| !n.ends_with(LOCK_TAG)).count() as u64;
    let dir = dir.filter(|d| is_run_dir(d, run_id));
    if !dry_run {
        if let Some(dir) = &dir {
            if let Err(error) = fs::remove_dir_all(dir) {
                tracing::warn!(run_id, dir = %dir.display(), %error, "could not remove a run directory");
            }
        }
        for name in names {
            let _ = fs::remove_file(Path::new(SHM_DIR).join(name));
        }
    }
    Removed {
        run_id: run_id.to_owned(),
        state,
        segments,
        bytes: objects.map_or(0, |o| o.bytes),
        dir,
    }
}

/// Whether `dir` is a real directory of this user named after the run, as a recorded path must
/// be before anything under it is removed.
fn is_run_dir(dir: &Path, run_id: &str) -> bool {
    let named = dir.file_name().is_some_and(|n| n == run_id)
        && dir.parent().and_then(Path::file_name).is_some_and(|n| {
            n.to_string_lossy() == format!("shmflow-{}", rustix::process::getuid().as_raw())
        });
    let meta = fs::symlink_metadata(dir);
    named && meta.is_ok_and(|m| m.is_dir() && m.uid() == rustix::process::getuid().as_raw())
}

/// Removes owner locks that a dying creator left under their temporary name.
fn remove_abandoned_lock_files(grace: Duration) {
    let Ok(items) = fs::read_dir(SHM_DIR) else {
        return;
    };
    for item in items.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix("creating"))
        else {
            continue;
        };
        let is_ours = item.metadata().is_ok_and(|m| {
            m.uid() == rustix::process::getuid().as_raw()
                && m.modified()
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > grace))
        });
        let lockable = fs::File::open(item.path()).is_ok_and(|f| {
            owner::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
        });
        let names_a_run = rest
            .strip_prefix(names::SEGMENT_PREFIX)
            .and_then(|r| r.strip_suffix('-'))
            .is_some_and(names::is_run_id);
        if names_a_run && is_ours && lockable {
            let _ = fs::remove_file(item.path());
        }
    }
}

/// Removes one run of this user. A run whose owner lives is refused unless `force` is set.
pub fn remove_run(root: &Path, run_id: &str, force: bool) -> Result<Removed> {
    let not_found = run::not_found(root, run_id)?;
    let shm = scan_shm();
    let objects = shm.get(run_id);
    let own_dir = Some(run::user_dir_path(root).join(run_id)).filter(|d| d.is_dir());
    let (state, recorded, _guard) = match probe(run_id)? {
        Liveness::Alive { pid } if !force => {
            return Err(Error::RunAlive {
                run_id: run_id.to_owned(),
                pid,
            })
        }
        Liveness::Alive { .. } => (RunState::Alive, None, None),
        Liveness::Orphan { guard, dir, .. } => (RunState::Orphaned, dir, Some(guard)),
        Liveness::NoLock => (RunState::Unowned, None, None),
    };
    let dir = own_dir.or(recorded);
    if objects.is_none() && dir.is_none() {
        return Err(not_found("no shared-memory object and no run directory"));
    }
    Ok(remove(run_id, state, objects, dir, false))
}

/// The process's background sweeper: a thread that sweeps at an interval until stopped.
static SWEEPER: Mutex<Option<(std::thread::JoinHandle<()>, std::sync::Arc<Stop>)>> =
    Mutex::new(None);

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// Starts the background sweeper of this process if none runs; it sweeps `root` every
/// `interval`. The thread never keeps the process alive.
pub fn start_background_sweeper(root: PathBuf, interval: Duration) -> io::Result<()> {
    let mut sweeper = SWEEPER.lock().unwrap_or_else(|p| p.into_inner());
    if sweeper.is_some() {
        return Ok(());
    }
    let stop = std::sync::Arc::new(Stop::default());
    let thread_stop = std::sync::Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("shmflow-sweeper".into())
        .spawn(move || {
            let mut stopped = thread_stop
                .stopped
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            while !*stopped {
                let (guard, timeout) = thread_stop
                    .wake
                    .wait_timeout(stopped, interval)
                    .unwrap_or_else(|p| p.into_inner());
                stopped = guard;
                if !*stopped && timeout.timed_out() {
                    if let Err(error) = sweep(&root, DEFAULT_GRACE, false) {
                        tracing::warn!(%error, "background sweep failed");
                    }
                }
            }
        })?;
    *sweeper = Some((handle, stop));
    Ok(())
}

/// Stops the background sweeper, if one runs, and waits for its thread to end.
pub fn stop_background_sweeper() {
    let Some((handle, stop)) = SWEEPER.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return;
    };
    *stop.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
    stop.wake.notify_all();
    let _ = handle.join();
}
