//! The process's registry of what it created: segments not yet unlinked, and the runs it owns.
//!
//! It is what exit-time cleanup walks. A segment that this process created and published belongs
//! to its run and is removed by the run's owner; one that was never published (a save cut short)
//! is this process's own to remove, even in a process that only attached.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::run::Run;

#[derive(Default)]
struct Registry {
    /// Segment name -> whether it has been published in its run's index.
    segments: BTreeMap<String, bool>,
    /// Runs this process created and has not shut down, with the token of who opened them.
    owned_runs: Vec<(u64, Arc<Run>)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    segments: BTreeMap::new(),
    owned_runs: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves consistent data: every update is one map operation.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn segment_created(name: &str) {
    registry().segments.insert(name.to_owned(), false);
}

pub(crate) fn segment_published(name: &str) {
    if let Some(published) = registry().segments.get_mut(name) {
        *published = true;
    }
}

pub(crate) fn segment_removed(name: &str) {
    registry().segments.remove(name);
}

/// The names of the segments this process created and has not unlinked.
pub fn created_segments() -> Vec<String> {
    registry().segments.keys().cloned().collect()
}

pub(crate) fn run_opened(token: u64, run: Arc<Run>) {
    registry().owned_runs.push((token, run));
}

pub(crate) fn run_closed(run: &Run) {
    registry()
        .owned_runs
        .retain(|(_, owned)| !std::ptr::eq(owned.as_ref(), run));
}

/// Shuts down every run this process owns: those opened with `token`, or all of them for `None`.
/// With `None` (the whole process is exiting) it also unlinks every segment the process created
/// but never published. For exit-time cleanup; never fails.
pub fn shutdown_owned_runs(token: Option<u64>) {
    let runs: Vec<Arc<Run>> = registry()
        .owned_runs
        .iter()
        .filter(|(owner, _)| token.is_none_or(|t| t == *owner))
        .map(|(_, run)| Arc::clone(run))
        .collect();
    for run in runs {
        if let Err(error) = run.shutdown() {
            tracing::warn!(run_id = run.run_id(), %error, "cleanup at exit failed");
        }
    }

    if token.is_some() {
        return;
    }
    let unpublished: Vec<String> = registry()
        .segments
        .iter()
        .filter(|(_, published)| !**published)
        .map(|(n, _)| n.clone())
        .collect();
    for name in unpublished {
        crate::segment::remove(&name);
    }
}
