//! The napi-rs binding of shmflow-core: a thin layer that converts arguments, results and errors.
//!
//! Loaded values come back as external ArrayBuffers over the segment's private mapping, without a
//! copy; the mapping is unmapped when the last view is collected. Where the runtime refuses
//! external buffers, napi-rs copies instead. Errors carry shmflow-core's stable codes
//! (`ERR_SHMFLOW_*`) as the JavaScript error's `code`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use shmflow_core::run::Value;
use shmflow_core::{self as core, Header, Mapping, RunOptions, SaveOptions, Tier};

/// Failures carry a stable `ERR_SHMFLOW_*` code instead of a napi status.
type Code = &'static str;

fn to_js(error: core::Error) -> napi::Error<&'static str> {
    napi::Error::new(error.code(), error.to_string())
}

fn invalid(message: String) -> napi::Error<&'static str> {
    to_js(core::Error::InvalidArgument(message))
}

thread_local! {
    /// The Node environments of this thread whose cleanup hook is registered.
    static HOOKED_ENVS: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

/// Identifies the calling Node environment, so that each cleans up only the runs it created.
fn env_token(env: &Env) -> u64 {
    env.raw() as usize as u64
}

/// Registers, once per environment, a cleanup hook that shuts down the runs it owns when the
/// environment goes away (process exit, or a worker thread ending).
fn ensure_cleanup_hook(env: &Env) -> Result<(), Code> {
    let token = env_token(env);
    if HOOKED_ENVS.with(|envs| envs.borrow_mut().insert(token)) {
        env.add_env_cleanup_hook(token, |token| {
            core::sweep::stop_background_sweeper();
            core::shutdown_owned_runs(Some(token))
        })
        .map_err(|e| {
            to_js(core::Error::io(
                "registering the exit cleanup",
                std::io::Error::other(e.reason),
            ))
        })?;
    }
    Ok(())
}

/// Options of `NativeRun.create`.
#[napi(object)]
pub struct CreateOptions {
    /// The root of run directories; `$SHMFLOW_DIR` or the OS temp dir by default.
    pub root: Option<String>,
    /// A run id to use instead of a random one.
    pub run_id: Option<String>,
    /// This context's budget for the `shm` tier in bytes; half of physical memory by default.
    pub max_shared_bytes: Option<f64>,
    /// Sweep orphaned runs of this user before creating this one; true by default.
    pub sweep_on_create: Option<bool>,
    /// Start this process's background sweeper with this interval; 0 leaves it off.
    pub sweep_interval_ms: Option<f64>,
}

/// Options of `save`.
#[napi(object)]
pub struct NativeSaveOptions {
    /// `'shm'`, `'mmap-file'` or `'disk'`: store in this tier only.
    pub tier: Option<String>,
    /// `false`: fail with ERR_SHMFLOW_NO_SPACE instead of spilling to a file tier.
    pub spill: Option<bool>,
}

/// A tier that could not take a value, and why.
#[napi(object)]
pub struct Fallback {
    pub tier: String,
    /// `budget`, `process-budget`, `free-space`, `ENOSPC`, `ENOMEM`, `EMFILE` or `EACCES`.
    pub reason: String,
    pub detail: String,
}

/// How a value is encoded, as stored in the segment header.
#[napi(object)]
pub struct ValueMeta {
    pub codec: u32,
    pub container: u32,
    pub dtype: u32,
    pub shape: Option<Vec<i64>>,
}

/// Where a save put the value.
#[napi(object)]
pub struct SaveReceipt {
    pub tier: String,
    pub bytes: f64,
    pub location: String,
    /// The tiers tried first that could not take the value.
    pub fallbacks: Vec<Fallback>,
}

/// Bytes and values in one tier.
#[napi(object)]
pub struct TierUsage {
    pub bytes: f64,
    pub count: f64,
}

/// Bytes and values per tier, and the number of keys.
#[napi(object)]
pub struct RunUsage {
    pub shm: TierUsage,
    pub mmap_file: TierUsage,
    pub disk: TierUsage,
    pub keys: f64,
    pub max_shared_bytes: f64,
    pub held_shared_bytes: f64,
    pub shared_free_bytes: Option<f64>,
    pub fallbacks: f64,
    pub fallback_reasons: std::collections::HashMap<String, f64>,
}

impl From<core::TierUsage> for TierUsage {
    fn from(usage: core::TierUsage) -> Self {
        TierUsage {
            bytes: usage.bytes as f64,
            count: usage.count as f64,
        }
    }
}

fn header_of(meta: &ValueMeta, payload_len: usize) -> Result<Header, Code> {
    let byte = |value: u32, field: &str| {
        u8::try_from(value).map_err(|_| invalid(format!("{field} {value} is out of range")))
    };
    let shape = meta
        .shape
        .iter()
        .flatten()
        .map(|&dim| {
            u64::try_from(dim).map_err(|_| invalid(format!("shape dimension {dim} is negative")))
        })
        .collect::<Result<Vec<u64>, Code>>()?;
    Header::new(
        byte(meta.codec, "codec")?,
        byte(meta.dtype, "dtype")?,
        byte(meta.container, "container")?,
        shape,
        payload_len as u64,
    )
    .map_err(to_js)
}

/// A value as loaded: what its header says, and `data`, a view on the mapped payload.
#[napi(object, object_from_js = false)]
pub struct LoadedValue<'env> {
    pub codec: u32,
    pub container: u32,
    pub dtype: u32,
    pub shape: Vec<f64>,
    pub tier: String,
    pub bytes: f64,
    pub data: ArrayBuffer<'env>,
}

fn loaded_value<'env>(env: &'env Env, value: Value, tier: &str) -> Result<LoadedValue<'env>, Code> {
    let header = value.header().clone();
    Ok(LoadedValue {
        codec: header.codec as u32,
        container: header.container as u32,
        dtype: header.dtype as u32,
        shape: header.shape.iter().map(|&d| d as f64).collect(),
        tier: tier.to_owned(),
        bytes: header.payload_len as f64,
        data: match value {
            Value::Mapped(mapping) => payload_buffer(env, mapping)?,
            Value::Copied(copy) => {
                ArrayBuffer::from_data(env, copy.payload).map_err(status_error)?
            }
        },
    })
}

/// An ArrayBuffer over the mapping's payload; the mapping lives until the buffer is collected.
fn payload_buffer(env: &Env, mapping: Mapping) -> Result<ArrayBuffer<'_>, Code> {
    if mapping.payload_len() == 0 {
        return ArrayBuffer::from_data(env, Vec::new()).map_err(status_error);
    }
    let (ptr, len) = (mapping.payload_ptr(), mapping.payload_len());

    // SAFETY: ptr is valid for len bytes for as long as `mapping` lives, and napi-rs drops
    // `mapping` only in the finalizer, after the last view is collected (or right after copying,
    // where external buffers are refused). The mapping is private, so writes stay in this process.
    unsafe { ArrayBuffer::from_external(env, ptr, len, mapping, |_, mapping| drop(mapping)) }
        .map_err(status_error)
}

fn status_error(error: napi::Error) -> napi::Error<&'static str> {
    napi::Error::new("ERR_SHMFLOW_IO", error.reason.clone())
}

/// A byte count from JavaScript: a whole, non-negative number.
fn byte_count(value: Option<f64>, name: &str) -> Result<Option<u64>, Code> {
    match value {
        Some(v) if v >= 0.0 && v.fract() == 0.0 => Ok(Some(v as u64)),
        Some(v) => Err(invalid(format!(
            "{name} must be a whole number of bytes, not {v}"
        ))),
        None => Ok(None),
    }
}

fn save_options(options: Option<NativeSaveOptions>) -> Result<SaveOptions, Code> {
    let Some(options) = options else {
        return Ok(SaveOptions::default());
    };
    let tier = match options.tier.as_deref() {
        None => None,
        Some("shm") => Some(Tier::Shm),
        Some("mmap-file") => Some(Tier::MmapFile),
        Some("disk") => Some(Tier::Disk),
        Some(other) => {
            return Err(invalid(format!(
                "tier {other:?} is not one of shm, mmap-file, disk"
            )))
        }
    };
    Ok(SaveOptions {
        tier,
        spill: options.spill.unwrap_or(true),
    })
}

fn root_path(root: Option<String>) -> Option<PathBuf> {
    root.filter(|r| !r.is_empty()).map(PathBuf::from)
}

/// One run of shmflow as seen from this process: its owner, or a process attached to it.
#[napi]
pub struct NativeRun {
    run: Arc<core::Run>,
}

#[napi]
impl NativeRun {
    /// Creates a new run owned by this process; it is removed at shutdown or exit.
    #[napi(factory)]
    pub fn create(env: Env, options: Option<CreateOptions>) -> Result<Self, Code> {
        ensure_cleanup_hook(&env)?;
        let options = match options {
            Some(o) => {
                start_sweeper(root_path(o.root.clone()), o.sweep_interval_ms)?;
                RunOptions {
                    root: root_path(o.root),
                    run_id: o.run_id,
                    max_shared_bytes: byte_count(o.max_shared_bytes, "maxSharedBytes")?,
                    sweep_on_create: o.sweep_on_create.unwrap_or(true),
                }
            }
            None => RunOptions::default(),
        };
        core::signals::install();
        let run = core::Run::create(&options, env_token(&env)).map_err(to_js)?;
        Ok(NativeRun { run })
    }

    /// Opens an existing run of this user without taking ownership.
    #[napi(factory)]
    pub fn attach(
        run_id: String,
        root: Option<String>,
        max_shared_bytes: Option<f64>,
    ) -> Result<Self, Code> {
        let options = RunOptions {
            root: root_path(root),
            max_shared_bytes: byte_count(max_shared_bytes, "maxSharedBytes")?,
            ..RunOptions::default()
        };
        let run = core::Run::attach(&run_id, &options).map_err(to_js)?;
        Ok(NativeRun { run })
    }

    #[napi(getter)]
    pub fn run_id(&self) -> String {
        self.run.run_id().to_owned()
    }

    #[napi(getter)]
    pub fn dir(&self) -> String {
        self.run.dir().display().to_string()
    }

    #[napi(getter)]
    pub fn is_owner(&self) -> bool {
        self.run.is_owner()
    }

    #[napi(getter)]
    pub fn is_closed(&self) -> bool {
        self.run.is_closed()
    }

    /// Copies `data` once into a new sealed segment and publishes it under `key`.
    #[napi]
    pub fn save(
        &self,
        key: String,
        meta: ValueMeta,
        data: Uint8ArraySlice,
        options: Option<NativeSaveOptions>,
    ) -> Result<SaveReceipt, Code> {
        let header = header_of(&meta, data.len())?;
        let options = save_options(options)?;
        let saved = self
            .run
            .save(&key, &header, &data, &options)
            .map_err(to_js)?;
        let fallbacks = saved
            .fallbacks
            .into_iter()
            .map(|f| Fallback {
                tier: f.tier.as_str().to_owned(),
                reason: f.reason.as_str().to_owned(),
                detail: f.detail,
            })
            .collect();
        Ok(SaveReceipt {
            tier: saved.entry.tier.as_str().to_owned(),
            bytes: saved.entry.bytes as f64,
            location: saved.entry.location,
            fallbacks,
        })
    }

    /// Maps the value under `key` copy-on-write and returns it with a view on its payload.
    #[napi]
    pub fn load<'env>(&self, env: &'env Env, key: String) -> Result<LoadedValue<'env>, Code> {
        let (value, entry) = self.run.load(&key).map_err(to_js)?;
        loaded_value(env, value, entry.tier.as_str())
    }

    #[napi]
    pub fn has(&self, key: String) -> Result<bool, Code> {
        self.run.has(&key).map_err(to_js)
    }

    #[napi]
    pub fn delete(&self, key: String) -> Result<bool, Code> {
        self.run.delete(&key).map_err(to_js)
    }

    #[napi]
    pub fn keys(&self) -> Result<Vec<String>, Code> {
        self.run.keys().map_err(to_js)
    }

    #[napi]
    pub fn usage(&self) -> Result<RunUsage, Code> {
        let usage = self.run.usage().map_err(to_js)?;
        Ok(RunUsage {
            shm: usage.shm.into(),
            mmap_file: usage.mmap_file.into(),
            disk: usage.disk.into(),
            keys: usage.keys as f64,
            max_shared_bytes: usage.max_shared_bytes as f64,
            held_shared_bytes: usage.held_shared_bytes as f64,
            shared_free_bytes: usage.shared_free_bytes.map(|b| b as f64),
            fallbacks: usage.fallbacks as f64,
            fallback_reasons: usage
                .fallback_reasons
                .into_iter()
                .map(|(reason, n)| (reason.to_owned(), n as f64))
                .collect(),
        })
    }

    /// Writes the value as a self-describing segment file at `path`.
    #[napi]
    pub fn export_data(&self, key: String, path: String) -> Result<(), Code> {
        self.run.export(&key, Path::new(&path)).map_err(to_js)
    }

    /// Owner: removes everything of the run. Attached: closes this handle. Idempotent.
    #[napi]
    pub fn shutdown(&self) -> Result<(), Code> {
        self.run.shutdown().map_err(to_js)
    }
}

/// The value of a file written by `exportData`, mapped copy-on-write.
#[napi]
pub fn load_exported<'env>(env: &'env Env, path: String) -> Result<LoadedValue<'env>, Code> {
    let mapping = Mapping::open_file(Path::new(&path))
        .map_err(to_js)?
        .ok_or_else(|| {
            let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
            to_js(core::Error::io(
                format!("opening exported value {path}"),
                missing,
            ))
        })?;
    loaded_value(env, Value::Mapped(mapping), "file")
}

/// Sets the `shm` budget for all contexts of this process together; `null` removes it.
#[napi]
pub fn set_process_max_shared_bytes(bytes: Option<f64>) -> Result<(), Code> {
    let limit = byte_count(bytes, "maxSharedBytes")?.unwrap_or(u64::MAX);
    core::budget::set_process_max_shared_bytes(limit);
    Ok(())
}

/// The size of physical memory in bytes, as shmflow sees it.
#[napi]
pub fn physical_memory() -> f64 {
    core::budget::physical_memory() as f64
}

/// The root of run directories: `$SHMFLOW_DIR`, else the OS temporary directory.
#[napi]
pub fn default_root() -> String {
    core::default_root().display().to_string()
}

/// Shuts down every run this process owns; for the process's `exit` event.
#[napi]
pub fn shutdown_owned_runs() {
    core::shutdown_owned_runs(None);
}

/// The names of the shared-memory objects this process created and has not unlinked.
#[napi]
pub fn created_segments() -> Vec<String> {
    core::created_segments()
}

fn start_sweeper(root: Option<PathBuf>, interval_ms: Option<f64>) -> Result<(), Code> {
    let Some(ms) = byte_count(interval_ms, "sweepIntervalMs")?.filter(|&ms| ms > 0) else {
        return Ok(());
    };
    let root = root.unwrap_or_else(core::default_root);
    core::sweep::start_background_sweeper(root, Duration::from_millis(ms))
        .map_err(|e| to_js(core::Error::io("starting the background sweeper", e)))
}

/// Stops this process's background sweeper, if one runs.
#[napi]
pub fn stop_background_sweeper() {
    core::sweep::stop_background_sweeper();
}

/// Tells the signal cleanup whether the application handles `signal` itself (then the
/// application's handler runs and cleanup waits for exit).
#[napi]
pub fn set_signal_handled_by_app(signal: i32, handled: bool) {
    core::signals::set_app_handles(signal, handled);
    if !handled {
        core::signals::rearm(signal);
    }
}

/// What `listRuns` reports of one run.
#[napi(object)]
pub struct NativeRunInfo {
    pub run_id: String,
    /// `alive`, `orphaned` or `unowned`.
    pub state: String,
    pub pid: Option<u32>,
    pub dir: Option<String>,
    pub shm: TierUsage,
    pub mmap_file: TierUsage,
    pub disk: TierUsage,
}

/// A run that a sweep or `removeRun` removed (or, in a dry run, would remove).
#[napi(object)]
pub struct NativeRemovedRun {
    pub run_id: String,
    pub state: String,
    pub segments: f64,
    pub bytes: f64,
    pub dir: Option<String>,
}

impl From<core::Removed> for NativeRemovedRun {
    fn from(removed: core::Removed) -> Self {
        NativeRemovedRun {
            run_id: removed.run_id,
            state: removed.state.as_str().to_owned(),
            segments: removed.segments as f64,
            bytes: removed.bytes as f64,
            dir: removed.dir.map(|d| d.display().to_string()),
        }
    }
}

fn root_or_default(root: Option<String>) -> PathBuf {
    root_path(root).unwrap_or_else(core::default_root)
}

/// Every run of this user, with its state and what it holds.
#[napi]
pub fn list_runs(root: Option<String>) -> Result<Vec<NativeRunInfo>, Code> {
    let runs = core::list_runs(&root_or_default(root)).map_err(to_js)?;
    Ok(runs
        .into_iter()
        .map(|run| NativeRunInfo {
            run_id: run.run_id,
            state: run.state.as_str().to_owned(),
            pid: run.pid,
            dir: run.dir.map(|d| d.display().to_string()),
            shm: run.shm.into(),
            mmap_file: run.mmap_file.into(),
            disk: run.disk.into(),
        })
        .collect())
}

/// Removes the orphaned runs of this user (and unowned leftovers older than `graceMs`).
#[napi]
pub fn sweep_orphans(
    root: Option<String>,
    grace_ms: Option<f64>,
    dry_run: Option<bool>,
) -> Result<Vec<NativeRemovedRun>, Code> {
    let grace = byte_count(grace_ms, "graceMs")?
        .map(Duration::from_millis)
        .unwrap_or(core::sweep::DEFAULT_GRACE);
    let removed = core::sweep(&root_or_default(root), grace, dry_run.unwrap_or(false));
    Ok(removed
        .map_err(to_js)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Removes one run of this user; a live run only with `force`.
#[napi]
pub fn remove_run(
    run_id: String,
    root: Option<String>,
    force: Option<bool>,
) -> Result<NativeRemovedRun, Code> {
    let removed = core::remove_run(&root_or_default(root), &run_id, force.unwrap_or(false));
    Ok(removed.map_err(to_js)?.into())
}
