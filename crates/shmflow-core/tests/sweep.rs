//! Liveness, the sweeper and signal cleanup, with real child processes: this test binary runs
//! itself as the child (`child_holding_a_run`), which creates a run with values in every tier,
//! prints its id and waits to be killed.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{segments_of, TempRoot};
use shmflow_core::{list_runs, remove_run, sweep, Header, Run, RunState, SaveOptions, Tier};

const CHILD: &str = "SHMFLOW_TEST_CHILD_ROOT";

/// Sweeps cover every run of the user, so the tests that sweep or judge liveness take turns:
/// one test's sweep would remove the orphan another test is still looking at.
static SWEEPING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SWEEPING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The child's side: only runs when the parent started this binary as a child.
#[test]
fn child_holding_a_run() {
    let Ok(root) = std::env::var(CHILD) else {
        return;
    };
    if std::env::var("SHMFLOW_TEST_APP_HANDLES_TERM").is_ok() {
        shmflow_core::signals::set_app_handles(libc_sigterm(), true);
    }
    shmflow_core::signals::install();
    let options = shmflow_core::RunOptions {
        root: Some(root.into()),
        ..Default::default()
    };
    let run = Run::create(&options, 0).unwrap();
    for tier in [Tier::Shm, Tier::MmapFile, Tier::Disk] {
        let pinned = SaveOptions {
            tier: Some(tier),
            spill: true,
        };
        let header = Header::new(1, 1, 1, vec![], 4096).unwrap();
        run.save(tier.as_str(), &header, &[7u8; 4096], &pinned)
            .unwrap();
    }
    println!("{}", run.run_id());
    loop {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn libc_sigterm() -> i32 {
    15
}

/// Starts the child and returns it with the id of the run it holds.
fn start_child(root: &TempRoot, extra_env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_run",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, root.path())
        .envs(extra_env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let run_id = lines
        .by_ref()
        .map(Result::unwrap)
        // The harness prints `test child_holding_a_run ... ` on the same line, without a newline.
        .find_map(|line| {
            line.split_whitespace()
                .last()
                .filter(|w| shmflow_core::names::is_run_id(w))
                .map(str::to_owned)
        })
        .expect("the child prints its run id");
    (child, run_id)
}

fn state_of(root: &TempRoot, run_id: &str) -> Option<RunState> {
    list_runs(root.path())
        .unwrap()
        .into_iter()
        .find(|r| r.run_id == run_id)
        .map(|r| r.state)
}

fn run_dir(root: &TempRoot, run_id: &str) -> std::path::PathBuf {
    root.path()
        .join(format!("shmflow-{}", rustix::process::getuid().as_raw()))
        .join(run_id)
}

#[test]
fn a_run_whose_owner_was_killed_is_swept_once_and_completely() {
    let _turn = one_at_a_time();
    let root = TempRoot::new("sigkill");
    let (mut child, run_id) = start_child(&root, &[]);
    assert_eq!(state_of(&root, &run_id), Some(RunState::Alive));
    let runs = list_runs(root.path()).unwrap();
    let info = runs.iter().find(|r| r.run_id == run_id).unwrap();
    assert_eq!(
        (info.shm.count, info.mmap_file.count, info.disk.count),
        (1, 1, 1)
    );

    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert_eq!(state_of(&root, &run_id), Some(RunState::Orphaned));
    let other_sweeper = shmflow_core::owner::probe(&run_id).unwrap();
    assert!(matches!(
        other_sweeper,
        shmflow_core::owner::Liveness::Orphan { .. }
    ));
    assert_eq!(
        state_of(&root, &run_id),
        Some(RunState::Orphaned),
        "another sweeper at work does not make an orphan look alive"
    );
    drop(other_sweeper);

    let dry = sweep(root.path(), Duration::ZERO, true).unwrap();
    assert!(dry.iter().any(|r| r.run_id == run_id));
    assert!(
        run_dir(&root, &run_id).exists(),
        "a dry run removes nothing"
    );

    let swept = sweep(root.path(), Duration::ZERO, false).unwrap();
    let removed = swept
        .iter()
        .find(|r| r.run_id == run_id)
        .expect("the orphan is swept");
    assert_eq!(removed.segments, 1);
    assert!(
        segments_of(&run_id).is_empty(),
        "no segment and no owner lock left"
    );
    assert!(
        !run_dir(&root, &run_id).exists(),
        "no run directory or spill file left"
    );
    assert!(sweep(root.path(), Duration::ZERO, false)
        .unwrap()
        .iter()
        .all(|r| r.run_id != run_id));
}

#[test]
fn each_terminating_signal_cleans_up_and_the_owner_still_dies_by_it() {
    let _turn = one_at_a_time();
    for signal in [2, 15, 1, 3, 6] {
        let root = TempRoot::new(&format!("signal{signal}"));
        let (mut child, run_id) = start_child(&root, &[]);
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&child),
            rustix::process::Signal::from_named_raw(signal).unwrap(),
        )
        .unwrap();

        assert_eq!(
            child.wait().unwrap().signal(),
            Some(signal),
            "signal {signal}"
        );
        assert!(
            segments_of(&run_id).is_empty(),
            "signal {signal}: segments left"
        );
        assert!(
            !run_dir(&root, &run_id).exists(),
            "signal {signal}: run directory left"
        );
    }
}

#[test]
fn a_signal_the_application_handles_leaves_the_run_alone() {
    let _turn = one_at_a_time();
    let root = TempRoot::new("apphandles");
    let (mut child, run_id) = start_child(&root, &[("SHMFLOW_TEST_APP_HANDLES_TERM", "1")]);
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    assert!(child.try_wait().unwrap().is_none(), "the child lives on");
    assert_eq!(state_of(&root, &run_id), Some(RunState::Alive));
    assert_eq!(segments_of(&run_id).len(), 1, "its segment is intact");
    assert!(
        shmflow_core::owner::lock_path(&run_id).exists(),
        "its owner lock is intact"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    sweep(root.path(), Duration::ZERO, false).unwrap();
    assert!(segments_of(&run_id).is_empty());
}

#[test]
fn a_live_run_is_never_swept_and_is_removed_only_by_force() {
    let _turn = one_at_a_time();
    let root = TempRoot::new("alive");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let header = Header::new(1, 1, 1, vec![], 1).unwrap();
    run.save("k", &header, b"x", &SaveOptions::default())
        .unwrap();

    for _ in 0..50 {
        assert!(sweep(root.path(), Duration::ZERO, false)
            .unwrap()
            .is_empty());
    }
    assert_eq!(run.load("k").unwrap().0.payload(), b"x");
    let refused = remove_run(root.path(), run.run_id(), false).unwrap_err();
    assert_eq!(refused.code(), "ERR_SHMFLOW_RUN_ALIVE");

    let removed = remove_run(root.path(), run.run_id(), true).unwrap();
    assert_eq!((removed.state, removed.segments), (RunState::Alive, 1));
    assert!(segments_of(run.run_id()).is_empty());
    run.shutdown().unwrap();
}

#[test]
fn segments_without_an_owner_lock_wait_out_the_grace_period() {
    let _turn = one_at_a_time();
    let root = TempRoot::new("unowned");
    let run_id = shmflow_core::names::new_run_id().unwrap();
    let name = shmflow_core::names::new_segment_name(&run_id).unwrap();
    let header = Header::new(1, 1, 1, vec![], 1).unwrap();
    shmflow_core::segment::create(&name, &header, b"x").unwrap();

    let within_grace = sweep(root.path(), Duration::from_secs(3600), false).unwrap();
    assert!(within_grace.iter().all(|r| r.run_id != run_id));
    assert_eq!(segments_of(&run_id).len(), 1);

    let swept = sweep(root.path(), Duration::ZERO, false).unwrap();
    let removed = swept.iter().find(|r| r.run_id == run_id).unwrap();
    assert_eq!(removed.state, RunState::Unowned);
    assert!(segments_of(&run_id).is_empty());
}

#[test]
fn an_unowned_directory_is_judged_only_when_it_shares_this_shared_memory_filesystem() {
    let _turn = one_at_a_time();
    let root = TempRoot::new("namespaces");
    let make = |shm_dev: u64| {
        let run_id = shmflow_core::names::new_run_id().unwrap();
        let dir = run_dir(&root, &run_id);
        std::fs::create_dir_all(dir.join("index")).unwrap();
        std::fs::write(dir.join("owner"), format!("pid 1\nshm-dev {shm_dev}\n")).unwrap();
        (run_id, dir)
    };
    let (_, elsewhere) = make(shmflow_core::owner::shm_device() + 1);
    let (here_id, here) = make(shmflow_core::owner::shm_device());

    let swept = sweep(root.path(), Duration::ZERO, false).unwrap();

    assert!(
        elsewhere.exists(),
        "a run of another mount namespace is left alone"
    );
    assert!(!here.exists(), "an unowned run of this one is removed");
    assert!(swept.iter().any(|r| r.run_id == here_id));
}
