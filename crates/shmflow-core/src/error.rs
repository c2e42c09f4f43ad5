//! The one error type of shmflow-core.
//!
//! Every variant names what went wrong and to which key or run, so that a caller can show the
//! message as it is. OS failures keep their errno as the source.

use std::io;

use crate::budget::TierFailure;

fn list(tried: &[TierFailure]) -> String {
    tried
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything that can fail in shmflow-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No value is stored under the key in this run.
    #[error("no value is stored under key {key:?} in run {run_id}")]
    KeyNotFound { key: String, run_id: String },

    /// The run does not exist (never created, or already shut down), or the id is malformed.
    #[error("run {run_id:?} does not exist for this user under {root}: {reason}")]
    RunNotFound {
        run_id: String,
        root: String,
        reason: &'static str,
    },

    /// The run's owner is alive, so the run is not removed without force.
    #[error("run {run_id} is alive (its owner{} holds the owner lock); force removal to remove it anyway", pid.map(|p| format!(", pid {p},")).unwrap_or_default())]
    RunAlive { run_id: String, pid: Option<u32> },

    /// The context was shut down; nothing can be saved to or loaded from it any more.
    #[error("run {run_id} is closed: it was shut down in this process")]
    ContextClosed { run_id: String },

    /// No tier allowed could hold the value; each tier tried says which limit it hit.
    #[error("no space to store {bytes} bytes under key {key:?} in run {run_id}: {}", list(.tried))]
    NoSpace {
        key: String,
        run_id: String,
        bytes: u64,
        tried: Vec<TierFailure>,
    },

    /// The value is larger than physical memory: refused before anything was allocated.
    #[error(
        "the value under key {key:?} is {bytes} bytes, more than this machine's {memory} bytes \
         of physical memory; nothing was stored"
    )]
    TooLarge {
        key: String,
        bytes: u64,
        memory: u64,
    },

    /// A segment failed validation; it is never read past its checked bounds.
    #[error("segment {location} is damaged or not a shmflow segment: {reason}")]
    CorruptSegment { location: String, reason: String },

    /// An argument is outside what the format can hold.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Any other OS failure, with what was being done.
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

/// The result type of shmflow-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an OS error with a sentence saying what was being done.
    pub fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// The stable code that the binding exposes to JavaScript.
    pub fn code(&self) -> &'static str {
        match self {
            Error::KeyNotFound { .. } => "ERR_SHMFLOW_KEY_NOT_FOUND",
            Error::RunNotFound { .. } => "ERR_SHMFLOW_RUN_NOT_FOUND",
            Error::ContextClosed { .. } => "ERR_SHMFLOW_CONTEXT_CLOSED",
            Error::RunAlive { .. } => "ERR_SHMFLOW_RUN_ALIVE",
            Error::NoSpace { .. } => "ERR_SHMFLOW_NO_SPACE",
            Error::TooLarge { .. } => "ERR_SHMFLOW_VALUE_TOO_LARGE",
            Error::CorruptSegment { .. } => "ERR_SHMFLOW_CORRUPT_SEGMENT",
            Error::InvalidArgument(_) => "ERR_SHMFLOW_INVALID_ARGUMENT",
            Error::Io { .. } => "ERR_SHMFLOW_IO",
        }
    }
}
