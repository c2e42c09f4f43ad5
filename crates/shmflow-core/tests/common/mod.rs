//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// A fresh root for run directories, removed at the end of the test.
pub struct TempRoot(PathBuf);

impl TempRoot {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("shmflow-core-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempRoot(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The shared-memory objects of a run that exist right now, its owner lock excepted.
#[allow(dead_code)]
pub fn segments_of(run_id: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| shmflow_core::names::run_of_segment(name) == Some(run_id))
        .filter(|name| !name.ends_with(shmflow_core::owner::LOCK_TAG))
        .collect()
}

/// Options that put the run under this test's root.
#[allow(dead_code)]
pub fn options(root: &TempRoot) -> shmflow_core::RunOptions {
    shmflow_core::RunOptions {
        root: Some(root.path().to_path_buf()),
        ..Default::default()
    }
}

/// The mapping of a value loaded from a mapped tier.
#[allow(dead_code)]
pub fn mapped(value: &shmflow_core::run::Value) -> &shmflow_core::Mapping {
    match value {
        shmflow_core::run::Value::Mapped(mapping) => mapping,
        other => panic!("expected a mapped value, got {other:?}"),
    }
}
