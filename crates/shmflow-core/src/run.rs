//! A run: the storage of one workflow context, shared by every process that attaches to it.
//!
//! On disk a run is a directory `<root>/shmflow-<uid>/<run id>/` holding `owner` (its owner's
//! pid) and `index/`, one small entry file per key that says where the value is stored; its
//! owner holds the run's owner lock in `/dev/shm` (see [`crate::owner`]). A value is published by renaming a
//! complete entry over the old one, under a short lock that also tells the writer which storage
//! the old entry pointed to, so that it is freed once and only once. A reader that finds an entry
//! whose storage was just freed by an overwrite reads the entry again, so it sees the old value
//! or the new one, never a mix.
//!
//! A value goes to the first tier that can take it: `shm`, then `mmap-file` and `disk`, files in
//! the run's `spill/` directory (see [`crate::budget`] for the limits checked before each).

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::FlockOperation;

use std::collections::BTreeMap;

use crate::budget::{self, Budget, Reason, TierFailure};
use crate::error::{Error, Result};
use crate::format::{Header, HEADER_LEN};
use crate::names;
use crate::owner;
use crate::registry;
use crate::segment::{self, Mapping};
use crate::signals;
use crate::sweep;

/// How often a save retries after drawing a segment name that already exists.
const NAME_ATTEMPTS: usize = 16;

/// How often a load re-reads an entry whose storage vanished under it (a concurrent overwrite).
const LOAD_ATTEMPTS: usize = 16;

/// Where a value is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// A POSIX shared-memory object.
    Shm,
    /// A file in the run's spill directory, mapped.
    MmapFile,
    /// A file in the run's spill directory, read on load.
    Disk,
}

impl Tier {
    /// The tier's name in the index and in the public API.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Shm => "shm",
            Tier::MmapFile => "mmap-file",
            Tier::Disk => "disk",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Tier::Shm, Tier::MmapFile, Tier::Disk]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// What the index says about one stored value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub tier: Tier,
    /// The segment name (shm) or file path (file tiers).
    pub location: String,
    /// The payload length in bytes.
    pub bytes: u64,
}

impl Entry {
    fn encode(&self) -> String {
        format!(
            "shmflow-entry 1\ntier {}\nlocation {}\nbytes {}\nkey {}",
            self.tier.as_str(),
            self.location,
            self.bytes,
            self.key
        )
    }

    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.splitn(5, '\n');
        if lines.next()? != "shmflow-entry 1" {
            return None;
        }
        let tier = Tier::parse(lines.next()?.strip_prefix("tier ")?)?;
        let location = lines.next()?.strip_prefix("location ")?.to_owned();
        let bytes = lines.next()?.strip_prefix("bytes ")?.parse().ok()?;
        let key = lines.next()?.strip_prefix("key ")?.to_owned();
        Some(Entry {
            key,
            tier,
            location,
            bytes,
        })
    }
}

/// Bytes and values held in one tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierUsage {
    pub bytes: u64,
    pub count: u64,
}

/// Bytes and values per tier, the budget, and the saves that fell back to a later tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub shm: TierUsage,
    pub mmap_file: TierUsage,
    pub disk: TierUsage,
    pub keys: u64,
    /// The context's shared-memory budget and the segment bytes it holds against it.
    pub max_shared_bytes: u64,
    pub held_shared_bytes: u64,
    /// Free bytes of the shared-memory filesystem right now, when it can be asked.
    pub shared_free_bytes: Option<u64>,
    /// How many saves through this context fell back, and how often for each reason.
    pub fallbacks: u64,
    pub fallback_reasons: BTreeMap<&'static str, u64>,
}

/// How to open a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The root of run directories (and so of spill files); [`default_root`] by default.
    pub root: Option<PathBuf>,
    /// The run id to create, instead of a random one (create only).
    pub run_id: Option<String>,
    /// This context's budget for the `shm` tier, in bytes;
    /// [`budget::default_max_shared_bytes`] by default.
    pub max_shared_bytes: Option<u64>,
    /// Whether creating the run first sweeps orphaned runs of this user (create only).
    pub sweep_on_create: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            root: None,
            run_id: None,
            max_shared_bytes: None,
            sweep_on_create: true,
        }
    }
}

/// How to store one value.
#[derive(Clone, Copy, Debug)]
pub struct SaveOptions {
    /// Store in this tier only.
    pub tier: Option<Tier>,
    /// Whether a value that does not fit in `shm` may go to a file tier.
    pub spill: bool,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            tier: None,
            spill: true,
        }
    }
}

/// What a save did: where the value is, and each tier that could not take it first.
#[derive(Clone, Debug)]
pub struct Saved {
    pub entry: Entry,
    pub fallbacks: Vec<TierFailure>,
}

/// A loaded value: mapped in place (`shm`, `mmap-file`) or read into memory (`disk`).
#[derive(Debug)]
pub enum Value {
    Mapped(Mapping),
    Copied(segment::Copy),
}

impl Value {
    pub fn header(&self) -> &Header {
        match self {
            Value::Mapped(mapping) => mapping.header(),
            Value::Copied(copy) => &copy.header,
        }
    }

    pub fn payload(&self) -> &[u8] {
        match self {
            Value::Mapped(mapping) => mapping.payload(),
            Value::Copied(copy) => &copy.payload,
        }
    }
}

/// Why a tier did not take a value: a reason to try the next one, or an error that ends the save.
enum Refusal {
    Next(TierFailure),
    Fatal(Error),
}

/// The root under which run directories live: `$SHMFLOW_DIR`, else the OS temporary directory.
pub fn default_root() -> PathBuf {
    std::env::var_os("SHMFLOW_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// One run, as seen from this process: its owner, or a process attached to it.
#[derive(Debug)]
pub struct Run {
    run_id: String,
    dir: PathBuf,
    /// The owner's `flock`ed file; `Some` only in the owner, until shutdown.
    owner_lock: Mutex<Option<File>>,
    is_owner: bool,
    closed: AtomicBool,
    /// Serializes this process's publishes; `flock` on `index.lock` serializes processes.
    index_lock: Mutex<Option<File>>,
    budget: Budget,
    fallbacks: Mutex<BTreeMap<Reason, u64>>,
    /// The owner's slot in the signal handler's table of runs to clean.
    signal_slot: Mutex<Option<usize>>,
}

impl Run {
    /// Creates a new run owned by this process and registers it for cleanup at exit.
    ///
    /// `token` tells apart the owners inside one process (for example Node environments), so
    /// that each cleans up only its own runs.
    pub fn create(options: &RunOptions, token: u64) -> Result<Arc<Self>> {
        let run_id = match options.run_id.as_deref() {
            Some(id) if names::is_run_id(id) => id.to_owned(),
            Some(id) => {
                return Err(Error::InvalidArgument(format!(
                    "{id:?} is not a run id (20 characters of a-z and 2-7)"
                )))
            }
            None => names::new_run_id()?,
        };
        let root = options.root.clone().unwrap_or_else(default_root);
        if options.sweep_on_create {
            if let Err(error) = sweep::sweep(&root, sweep::DEFAULT_GRACE, false) {
                tracing::warn!(%error, "sweeping orphaned runs failed");
            }
        }
        let dir = user_dir(Some(&root))?.join(&run_id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("creating run directory {}", dir.display()), e))?;

        let lock = owner::take(&run_id, &dir).and_then(|lock| {
            let record = format!(
                "pid {}\nshm-dev {}\n",
                std::process::id(),
                owner::shm_device()
            );
            fs::write(dir.join("owner"), record)?;
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir.join("index"))?;
            Ok(lock)
        });
        let lock = match lock {
            Ok(lock) => lock,
            Err(error) => {
                let _ = fs::remove_dir_all(&dir);
                let _ = fs::remove_file(owner::lock_path(&run_id));
                return Err(Error::io(
                    format!("setting up run directory {}", dir.display()),
                    error,
                ));
            }
        };

        let run = Arc::new(Run::new(run_id, dir, Some(lock), options));
        *run.signal_slot.lock().unwrap_or_else(|p| p.into_inner()) =
            signals::watch(&run.run_id, &run.dir);
        registry::run_opened(token, Arc::clone(&run));
        tracing::debug!(run_id = run.run_id, dir = %run.dir.display(), "run created");
        Ok(run)
    }

    /// Opens an existing run of this user. Never takes ownership: this process will not delete
    /// the run's data when it exits.
    pub fn attach(run_id: &str, options: &RunOptions) -> Result<Arc<Self>> {
        let root = options.root.clone().unwrap_or_else(default_root);
        let not_found = not_found(&root, run_id)?;
        let dir = user_dir_path(&root).join(run_id);
        if !dir.join("index").is_dir() {
            return Err(not_found(
                "no run directory (it was never created here, or was shut down)",
            ));
        }
        tracing::debug!(run_id, dir = %dir.display(), "run attached");
        Ok(Arc::new(Run::new(run_id.to_owned(), dir, None, options)))
    }

    fn new(run_id: String, dir: PathBuf, owner_lock: Option<File>, options: &RunOptions) -> Self {
        let is_owner = owner_lock.is_some();
        let limit = options
            .max_shared_bytes
            .unwrap_or_else(budget::default_max_shared_bytes);
        Run {
            run_id,
            dir,
            owner_lock: Mutex::new(owner_lock),
            is_owner,
            closed: AtomicBool::new(false),
            index_lock: Mutex::new(None),
            budget: Budget::new(limit),
            fallbacks: Mutex::new(BTreeMap::new()),
            signal_slot: Mutex::new(None),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this process created the run (and will remove it).
    pub fn is_owner(&self) -> bool {
        self.is_owner
    }

    /// Whether this handle was shut down.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            return Err(Error::ContextClosed {
                run_id: self.run_id.clone(),
            });
        }
        Ok(())
    }

    fn index_dir(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// The index entry of `key`; an empty key is refused, since it names no file.
    fn entry_path(&self, key: &str) -> Result<PathBuf> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "an empty key in run {}",
                self.run_id
            )));
        }
        Ok(self.index_dir().join(names::index_file_name(key)))
    }

    /// Stores `payload` under `key`, replacing any earlier value atomically.
    ///
    /// The value goes to the first tier allowed by `options` that can take it; the storage is
    /// reserved, written and sealed before the index points to it. When no tier can take it,
    /// [`Error::NoSpace`] names each limit, and the earlier value under `key` stays intact.
    pub fn save(
        &self,
        key: &str,
        header: &Header,
        payload: &[u8],
        options: &SaveOptions,
    ) -> Result<Saved> {
        self.check_open()?;
        self.entry_path(key)?;
        if header.payload_len != payload.len() as u64 {
            let (said, has) = (header.payload_len, payload.len());
            return Err(Error::InvalidArgument(format!(
                "header says {said} bytes, payload has {has}"
            )));
        }
        let memory = budget::physical_memory();
        if payload.len() as u64 > memory {
            return Err(Error::TooLarge {
                key: key.to_owned(),
                bytes: payload.len() as u64,
                memory,
            });
        }

        let tiers = match (options.tier, options.spill) {
            (Some(tier), _) => vec![tier],
            (None, true) => vec![Tier::Shm, Tier::MmapFile, Tier::Disk],
            (None, false) => vec![Tier::Shm],
        };
        let mut tried = Vec::new();
        for tier in tiers {
            match self.store(tier, key, header, payload) {
                Ok(location) => return self.commit(key, tier, location, payload.len(), tried),
                Err(Refusal::Next(failure)) => tried.push(failure),
                Err(Refusal::Fatal(error)) => return Err(error),
            }
        }
        let bytes = payload.len() as u64;
        Err(Error::NoSpace {
            key: key.to_owned(),
            run_id: self.run_id.clone(),
            bytes,
            tried,
        })
    }

    /// Publishes a stored value and accounts for it; on failure the storage is freed again.
    fn commit(
        &self,
        key: &str,
        tier: Tier,
        location: String,
        len: usize,
        fallbacks: Vec<TierFailure>,
    ) -> Result<Saved> {
        let entry = Entry {
            key: key.to_owned(),
            tier,
            location,
            bytes: len as u64,
        };
        if let Err(error) = self.publish(&entry) {
            self.free_location(tier, &entry.location);
            return Err(error);
        }
        if tier == Tier::Shm {
            registry::segment_published(&entry.location);
            self.budget.add(segment_bytes(entry.bytes));
        }
        self.record_fallbacks(key, &fallbacks);
        Ok(Saved { entry, fallbacks })
    }

    fn record_fallbacks(&self, key: &str, fallbacks: &[TierFailure]) {
        if fallbacks.is_empty() {
            return;
        }
        let mut counts = self.fallbacks.lock().unwrap_or_else(|p| p.into_inner());
        for failure in fallbacks {
            *counts.entry(failure.reason).or_default() += 1;
            tracing::info!(run_id = self.run_id, key, %failure, "tier fallback");
        }
    }

    /// Stores the value in one tier, unpublished; returns its location.
    fn store(
        &self,
        tier: Tier,
        key: &str,
        header: &Header,
        payload: &[u8],
    ) -> Result<String, Refusal> {
        let bytes = segment_bytes(payload.len() as u64);
        let refuse = |reason, detail| {
            Refusal::Next(TierFailure {
                tier,
                reason,
                detail,
            })
        };
        if tier == Tier::Shm {
            if let Some((reason, detail)) = self.budget.refuse(bytes) {
                return Err(refuse(reason, detail));
            }
        }
        let fs_path = if tier == Tier::Shm {
            PathBuf::from(budget::SHM_DIR)
        } else {
            self.spill_dir().map_err(Refusal::Fatal)?
        };
        if let Some((free, margin)) = budget::free_space(&fs_path) {
            if bytes.saturating_add(margin) > free {
                let detail = format!(
                    "{} has {free} bytes free, {bytes} needed plus a margin of {margin}",
                    fs_path.display()
                );
                return Err(refuse(Reason::FreeSpace, detail));
            }
        }

        let stored = match tier {
            Tier::Shm => self.create_segment(header, payload),
            Tier::MmapFile | Tier::Disk => self.create_spill_file(&fs_path, tier, header, payload),
        };
        stored.map_err(|error| match Reason::of_io(&error) {
            Some(reason) => refuse(
                reason,
                format!("{} refused {bytes} bytes: {error}", fs_path.display()),
            ),
            None => Refusal::Fatal(Error::io(
                format!(
                    "storing key {key:?} of run {} in tier {}",
                    self.run_id,
                    tier.as_str()
                ),
                error,
            )),
        })
    }

    fn create_segment(&self, header: &Header, payload: &[u8]) -> io::Result<String> {
        for _ in 0..NAME_ATTEMPTS {
            let name = names::new_segment_name(&self.run_id).map_err(io::Error::other)?;
            match segment::create(&name, header, payload) {
                Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
                other => return other.map(|()| name),
            }
        }
        Err(io::Error::new(
            ErrorKind::AlreadyExists,
            "every segment name drawn was taken",
        ))
    }

    fn create_spill_file(
        &self,
        spill: &Path,
        tier: Tier,
        header: &Header,
        payload: &[u8],
    ) -> io::Result<String> {
        for _ in 0..NAME_ATTEMPTS {
            let tag = names::new_spill_name().map_err(io::Error::other)?;
            let path = spill.join(tag);
            match segment::create_file(&path, header, payload, tier == Tier::MmapFile) {
                Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
                other => return other.map(|()| path.display().to_string()),
            }
        }
        Err(io::Error::new(
            ErrorKind::AlreadyExists,
            "every spill file name drawn was taken",
        ))
    }

    /// The run's spill directory, created 0700 on first use; never a symbolic link.
    fn spill_dir(&self) -> Result<PathBuf> {
        let dir = self.dir.join("spill");
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::io(
                    format!("creating spill directory {}", dir.display()),
                    e,
                ))
            }
        }
        check_private_dir(&dir)?;
        Ok(dir)
    }

    /// Makes `entry` the value of its key and frees the storage of the value it replaces.
    fn publish(&self, entry: &Entry) -> Result<()> {
        let context = || format!("publishing key {:?} in run {}", entry.key, self.run_id);
        let path = self.entry_path(&entry.key)?;
        let tmp = self
            .index_dir()
            .join(format!(".tmp-{}", names::new_run_id()?));
        write_new_file(&tmp, &[entry.encode().as_bytes()]).map_err(|e| Error::io(context(), e))?;

        let replaced = self.with_index_lock(|| {
            let old = read_entry(&path).ok().flatten();
            fs::rename(&tmp, &path)?;
            Ok(old)
        });
        let replaced = match replaced {
            Ok(old) => old,
            Err(error) => {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io(context(), error));
            }
        };

        if let Some(old) = replaced.filter(|old| old.location != entry.location) {
            self.free_storage(&old);
        }
        Ok(())
    }

    /// Runs `f` while holding this run's index lock, across threads and processes.
    fn with_index_lock<T>(&self, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let mut guard = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(self.dir.join("index.lock"))?;
            *guard = Some(file);
        }
        let file = guard.as_ref().expect("opened above");
        owner::flock(file, FlockOperation::LockExclusive)?;
        let result = f();
        owner::flock(file, FlockOperation::Unlock)?;
        result
    }

    /// The value stored under `key`: mapped copy-on-write, or read into memory from `disk`.
    pub fn load(&self, key: &str) -> Result<(Value, Entry)> {
        self.check_open()?;
        let path = self.entry_path(key)?;
        for _ in 0..LOAD_ATTEMPTS {
            let entry = self
                .entry_at(&path, key)?
                .ok_or_else(|| self.key_not_found(key))?;
            if let Some(value) = self.open_storage(&entry)? {
                return Ok((value, entry));
            }
        }
        Err(Error::io(
            format!("loading key {key:?} in run {}", self.run_id),
            io::Error::other("the value kept being replaced while it was read"),
        ))
    }

    fn key_not_found(&self, key: &str) -> Error {
        Error::KeyNotFound {
            key: key.to_owned(),
            run_id: self.run_id.clone(),
        }
    }

    /// Reads and checks the entry at `path`; `None` if there is none.
    fn entry_at(&self, path: &Path, key: &str) -> Result<Option<Entry>> {
        let entry = read_entry(path).map_err(|e| {
            Error::io(
                format!(
                    "reading the index entry of key {key:?} in run {}",
                    self.run_id
                ),
                e,
            )
        })?;
        match entry {
            Some(entry) if entry.key != key => Ok(None),
            Some(entry) if !self.owns_location(&entry) => Err(Error::CorruptSegment {
                location: path.display().to_string(),
                reason: format!(
                    "the entry points outside run {}: {}",
                    self.run_id, entry.location
                ),
            }),
            other => Ok(other),
        }
    }

    /// Whether an entry's storage belongs to this run; a hostile entry cannot point elsewhere.
    fn owns_location(&self, entry: &Entry) -> bool {
        match entry.tier {
            Tier::Shm => {
                names::run_of_segment(entry.location.trim_start_matches('/'))
                    == Some(self.run_id.as_str())
            }
            Tier::MmapFile | Tier::Disk => {
                let path = Path::new(&entry.location);
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                path.parent() == Some(self.dir.join("spill").as_path())
                    && names::is_spill_name(name)
            }
        }
    }

    fn open_storage(&self, entry: &Entry) -> Result<Option<Value>> {
        let path = Path::new(&entry.location);
        match entry.tier {
            Tier::Shm => Ok(Mapping::open_segment(&entry.location)?.map(Value::Mapped)),
            Tier::MmapFile => Ok(Mapping::open_file(path)?.map(Value::Mapped)),
            Tier::Disk => Ok(segment::read_file(path)?.map(Value::Copied)),
        }
    }

    /// Whether a value is stored under `key`.
    pub fn has(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        Ok(self.entry_at(&self.entry_path(key)?, key)?.is_some())
    }

    /// Removes the value under `key`; `false` if there was none. Readers keep their views.
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        let path = self.entry_path(key)?;
        let removed = self.with_index_lock(|| {
            let Some(entry) = read_entry(&path)?.filter(|e| e.key == key) else {
                return Ok(None);
            };
            fs::remove_file(&path)?;
            Ok(Some(entry))
        });
        match removed
            .map_err(|e| Error::io(format!("deleting key {key:?} in run {}", self.run_id), e))?
        {
            Some(entry) => {
                self.free_storage(&entry);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every entry in the index, in key order.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        self.check_open()?;
        let context = || format!("listing the keys of run {}", self.run_id);
        let mut entries = Vec::new();
        for item in fs::read_dir(self.index_dir()).map_err(|e| Error::io(context(), e))? {
            let item = item.map_err(|e| Error::io(context(), e))?;
            if item.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // An entry deleted since the listing is simply not there any more.
            if let Some(entry) = read_entry(&item.path()).map_err(|e| Error::io(context(), e))? {
                entries.push(entry);
            }
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// Every key with a value, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        Ok(self.entries()?.into_iter().map(|e| e.key).collect())
    }

    /// Bytes and values per tier, the budget and the fallbacks of saves through this context.
    pub fn usage(&self) -> Result<Usage> {
        let fallbacks = self.fallbacks.lock().unwrap_or_else(|p| p.into_inner());
        let mut usage = Usage {
            max_shared_bytes: self.budget.limit(),
            held_shared_bytes: self.budget.held(),
            shared_free_bytes: budget::free_space(Path::new(budget::SHM_DIR)).map(|(free, _)| free),
            fallbacks: fallbacks.values().sum(),
            fallback_reasons: fallbacks.iter().map(|(r, n)| (r.as_str(), *n)).collect(),
            ..Usage::default()
        };
        drop(fallbacks);
        for entry in self.entries()? {
            usage.keys += 1;
            let tier = match entry.tier {
                Tier::Shm => &mut usage.shm,
                Tier::MmapFile => &mut usage.mmap_file,
                Tier::Disk => &mut usage.disk,
            };
            tier.bytes += entry.bytes;
            tier.count += 1;
        }
        Ok(usage)
    }

    /// Writes the value under `key` to `path` as a self-describing segment file (header and
    /// payload, the format of `docs/format.md`). The file outlives the run.
    pub fn export(&self, key: &str, path: &Path) -> Result<()> {
        let (value, _) = self.load(key)?;
        let tmp = path.with_file_name(format!(
            ".{}.shmflow-tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let head = value.header().encode(crate::format::STATE_SEALED);
        let written = write_new_file(&tmp, &[&head[..], value.payload()])
            .and_then(|()| fs::rename(&tmp, path));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io(
                format!(
                    "exporting key {key:?} of run {} to {}",
                    self.run_id,
                    path.display()
                ),
                e,
            )
        })
    }

    /// Closes this handle. In the owner, also removes every segment and file of the run and the
    /// run directory, and releases the owner lock. Calling it again does nothing.
    pub fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // A closed handle keeps no descriptor open, however long its JavaScript object lives.
        self.index_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if !self.is_owner {
            return Ok(());
        }
        registry::run_closed(self);

        for entry in read_all_entries(&self.index_dir()) {
            self.free_storage(&entry);
        }
        let removed = fs::remove_dir_all(&self.dir);
        // The owner lock goes with the segments, and only now: until then the run is alive.
        remove_segments_of_run(&self.run_id);
        if let Some(slot) = self
            .signal_slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            signals::unwatch(slot);
        }
        self.owner_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        tracing::debug!(run_id = self.run_id, "run shut down");
        match removed {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(Error::io(
                format!("removing run directory {}", self.dir.display()),
                error,
            )),
            _ => Ok(()),
        }
    }

    /// Frees a replaced or deleted value's storage; readers that map it keep their pages.
    fn free_storage(&self, entry: &Entry) {
        if entry.tier == Tier::Shm {
            self.budget.release(segment_bytes(entry.bytes));
        }
        self.free_location(entry.tier, &entry.location);
    }

    fn free_location(&self, tier: Tier, location: &str) {
        let freed = match tier {
            Tier::Shm => segment::unlink(location).map(|_| ()),
            Tier::MmapFile | Tier::Disk => match fs::remove_file(location) {
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(error) = freed {
            tracing::warn!(run_id = self.run_id, location, %error, "could not free storage");
        }
    }
}

/// Checks that `run_id` has the form of a run id, and gives the error for a run that is not found
/// under `root` for a reason to be named.
pub(crate) fn not_found<'a>(
    root: &'a Path,
    run_id: &'a str,
) -> Result<impl Fn(&'static str) -> Error + 'a> {
    let error = move |reason| Error::RunNotFound {
        run_id: run_id.to_owned(),
        root: root.display().to_string(),
        reason,
    };
    if !names::is_run_id(run_id) {
        return Err(error("a run id is 20 characters of a-z and 2-7"));
    }
    Ok(error)
}

/// The per-user directory under `root`, created 0700 if missing, and refused unless it is a real
/// directory (not a symbolic link) owned by this user and closed to others.
fn user_dir(root: Option<&Path>) -> Result<PathBuf> {
    let root = root.map(Path::to_path_buf).unwrap_or_else(default_root);
    if !root.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| Error::io(format!("creating the root {}", root.display()), e))?;
    }
    let dir = user_dir_path(&root);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
    }
    check_private_dir(&dir)?;
    Ok(dir)
}

/// Refuses `dir` unless it is a real directory (never a followed symbolic link), owned by this
/// user and closed to others.
fn check_private_dir(dir: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dir)
        .map_err(|e| Error::io(format!("inspecting {}", dir.display()), e))?;
    let uid = rustix::process::getuid().as_raw();
    let refuse = |why: String| {
        Err(Error::InvalidArgument(format!(
            "refusing to use {}: {why}",
            dir.display()
        )))
    };
    if !meta.file_type().is_dir() {
        return refuse("it is not a directory (a symbolic link is never followed)".into());
    }
    if meta.uid() != uid {
        return refuse(format!(
            "it belongs to uid {}, not to this user ({uid})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        let mode = meta.mode() & 0o777;
        return refuse(format!(
            "its mode {mode:o} lets other users in; expected 0700"
        ));
    }
    Ok(())
}

/// The bytes a value occupies in its storage: header and payload.
fn segment_bytes(payload_len: u64) -> u64 {
    HEADER_LEN as u64 + payload_len
}

pub(crate) fn user_dir_path(root: &Path) -> PathBuf {
    root.join(format!("shmflow-{}", rustix::process::getuid().as_raw()))
}

/// Creates `path` (which must not exist) with mode 0600 and writes `parts` to it.
fn write_new_file(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    parts.iter().try_for_each(|part| file.write_all(part))
}

/// Reads an index entry; `None` if there is none. A damaged entry is an error.
fn read_entry(path: &Path) -> io::Result<Option<Entry>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Entry::decode(&text).map(Some).ok_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("damaged index entry {}", path.display()),
        )
    })
}

/// Every readable entry in an index directory, skipping what cannot be read (for cleanup).
pub(crate) fn read_all_entries(index: &Path) -> Vec<Entry> {
    let Ok(items) = fs::read_dir(index) else {
        return Vec::new();
    };
    items
        .flatten()
        .filter_map(|item| read_entry(&item.path()).ok().flatten())
        .collect()
}

/// Unlinks every shared-memory object named after the run, including ones a save left
/// unpublished. Linux lists them in /dev/shm; elsewhere the index is all there is.
fn remove_segments_of_run(run_id: &str) {
    let Ok(items) = fs::read_dir("/dev/shm") else {
        return;
    };
    for item in items.flatten() {
        let name = item.file_name();
        let name = name.to_string_lossy();
        if names::run_of_segment(&name) == Some(run_id) {
            let _ = segment::unlink(&format!("/{name}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_with_any_key() {
        let entry = Entry {
            key: "line one\nline two".into(),
            tier: Tier::Shm,
            location: "/sfx-y".into(),
            bytes: 42,
        };
        assert_eq!(Entry::decode(&entry.encode()), Some(entry));
        assert_eq!(Entry::decode("shmflow-entry 1\ntier tape\n"), None);
    }
}
