//! shmflow-core: the storage of shmflow, with no Node dependency.
//!
//! A [`Run`] stores values under keys for every process of the same user that attaches to it.
//! Each value is one sealed segment (see [`format`]) in a POSIX shared-memory object, published
//! in the run's index only once it is complete. The owner of a run removes all of it on
//! [`Run::shutdown`]; [`shutdown_owned_runs`] does the same for everything this process owns,
//! at exit. The Node binding in `crates/shmflow-node` is a thin layer over this crate.

pub mod budget;
pub mod error;
pub mod format;
pub mod names;
pub mod owner;
mod registry;
pub mod run;
pub mod segment;
pub mod signals;
pub mod sweep;

pub use budget::{Reason, TierFailure};
pub use error::{Error, Result};
pub use format::{Codec, Header};
pub use registry::{created_segments, shutdown_owned_runs};
pub use run::{default_root, Entry, Run, RunOptions, SaveOptions, Saved, Tier, TierUsage, Usage};
pub use segment::Mapping;
pub use sweep::{list_runs, remove_run, sweep, Removed, RunInfo, RunState};
