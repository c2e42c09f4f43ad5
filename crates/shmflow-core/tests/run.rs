//! A run's contract, against the real /dev/shm: saves are atomic and visible to every handle,
//! overwrites free the old storage without breaking old readers, and shutdown leaves nothing.

mod common;

use std::sync::Arc;

use common::{segments_of, TempRoot};
use shmflow_core::{Error, Header, Run, SaveOptions};

fn bytes_header(len: usize) -> Header {
    Header::new(1, 1, 1, vec![], len as u64).unwrap()
}

fn save(run: &Run, key: &str, payload: &[u8]) {
    run.save(
        key,
        &bytes_header(payload.len()),
        payload,
        &SaveOptions::default(),
    )
    .unwrap();
}

#[test]
fn a_saved_value_loads_byte_for_byte_from_another_handle() {
    let root = TempRoot::new("roundtrip");
    let owner = Run::create(&common::options(&root), 0).unwrap();
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
    save(&owner, "image", &payload);

    let reader = Run::attach(owner.run_id(), &common::options(&root)).unwrap();
    let (mapping, entry) = reader.load("image").unwrap();
    assert_eq!(mapping.payload(), payload.as_slice());
    assert_eq!(entry.tier.as_str(), "shm");
    assert_eq!(common::mapped(&mapping).payload_ptr() as usize % 64, 0);
    owner.shutdown().unwrap();
}

#[test]
fn an_empty_payload_round_trips() {
    let root = TempRoot::new("empty");
    let run = Run::create(&common::options(&root), 0).unwrap();
    save(&run, "nothing", &[]);
    assert_eq!(run.load("nothing").unwrap().0.payload(), &[] as &[u8]);
    run.shutdown().unwrap();
}

#[test]
fn an_old_view_survives_an_overwrite_which_frees_the_old_segment() {
    let root = TempRoot::new("overwrite");
    let run = Run::create(&common::options(&root), 0).unwrap();
    save(&run, "k", b"old value");
    let (old, _) = run.load("k").unwrap();

    save(&run, "k", b"new value!");
    assert_eq!(old.payload(), b"old value");
    assert_eq!(run.load("k").unwrap().0.payload(), b"new value!");
    assert_eq!(
        segments_of(run.run_id()).len(),
        1,
        "the old segment is unlinked"
    );
    run.shutdown().unwrap();
    assert_eq!(old.payload(), b"old value", "a view outlives the run");
}

#[test]
fn a_write_into_a_view_stays_private() {
    let root = TempRoot::new("cow");
    let run = Run::create(&common::options(&root), 0).unwrap();
    save(&run, "k", &[1, 2, 3]);
    let (view, _) = run.load("k").unwrap();
    // SAFETY: the payload is 3 bytes long and the mapping is private and writable.
    unsafe { *common::mapped(&view).payload_ptr() = 99 };
    assert_eq!(view.payload(), &[99, 2, 3]);
    assert_eq!(run.load("k").unwrap().0.payload(), &[1, 2, 3]);
    run.shutdown().unwrap();
}

#[test]
fn delete_removes_the_value_and_its_segment() {
    let root = TempRoot::new("delete");
    let run = Run::create(&common::options(&root), 0).unwrap();
    save(&run, "k", b"x");
    assert!(run.delete("k").unwrap());
    assert!(!run.delete("k").unwrap());
    assert!(!run.has("k").unwrap());
    assert!(matches!(run.load("k"), Err(Error::KeyNotFound { key, .. }) if key == "k"));
    assert!(segments_of(run.run_id()).is_empty());
    run.shutdown().unwrap();
}

#[test]
fn keys_and_usage_count_every_value() {
    let root = TempRoot::new("keys");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let long_key = "k".repeat(300);
    for key in ["b", "a/b", "line\nbreak", long_key.as_str()] {
        save(&run, key, b"1234");
    }
    let mut expected = vec![
        "b".to_owned(),
        "a/b".into(),
        "line\nbreak".into(),
        long_key.clone(),
    ];
    expected.sort();
    assert_eq!(run.keys().unwrap(), expected);
    let usage = run.usage().unwrap();
    assert_eq!((usage.shm.count, usage.shm.bytes), (4, 16));
    run.shutdown().unwrap();
}

#[test]
fn shutdown_by_the_owner_removes_everything_and_is_idempotent() {
    let root = TempRoot::new("shutdown");
    let run = Run::create(&common::options(&root), 0).unwrap();
    save(&run, "a", b"1");
    save(&run, "b", b"2");
    let attached = Run::attach(run.run_id(), &common::options(&root)).unwrap();
    attached.shutdown().unwrap();
    assert_eq!(
        segments_of(run.run_id()).len(),
        2,
        "an attached handle removes nothing"
    );

    run.shutdown().unwrap();
    run.shutdown().unwrap();
    assert!(segments_of(run.run_id()).is_empty());
    assert!(!run.dir().exists());
    assert!(matches!(run.load("a"), Err(Error::ContextClosed { .. })));
    assert!(matches!(
        Run::attach(run.run_id(), &common::options(&root)),
        Err(Error::RunNotFound { .. })
    ));
}

#[test]
fn shutdown_also_removes_a_segment_that_was_never_published() {
    let root = TempRoot::new("unpublished");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let stray = shmflow_core::names::new_segment_name(run.run_id()).unwrap();
    shmflow_core::segment::create(&stray, &bytes_header(1), b"x").unwrap();
    run.shutdown().unwrap();
    assert!(segments_of(run.run_id()).is_empty());
}

#[test]
fn unknown_and_malformed_run_ids_are_not_found() {
    let root = TempRoot::new("unknown");
    for id in ["aaaaaaaaaaaaaaaaaaaa", "../../etc", ""] {
        let error = Run::attach(id, &common::options(&root)).unwrap_err();
        assert_eq!(error.code(), "ERR_SHMFLOW_RUN_NOT_FOUND", "{id}");
        assert!(error.to_string().contains(id));
    }
}

#[test]
fn concurrent_writers_lose_nothing_and_free_every_replaced_segment() {
    let root = TempRoot::new("concurrent");
    let owner = Run::create(&common::options(&root), 0).unwrap();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let handle = Run::attach(owner.run_id(), &common::options(&root)).unwrap();
            std::thread::spawn(move || writer(handle, w))
        })
        .collect();
    writers.into_iter().for_each(|t| t.join().unwrap());

    assert_eq!(owner.keys().unwrap().len(), 4 * 250 + 1);
    assert_eq!(
        segments_of(owner.run_id()).len(),
        4 * 250 + 1,
        "each overwrite freed its predecessor"
    );
    owner.shutdown().unwrap();
}

fn writer(run: Arc<Run>, w: usize) {
    for i in 0..250 {
        save(&run, &format!("w{w}/k{i}"), format!("{w}:{i}").as_bytes());
        save(&run, "contended", format!("{w}:{i}").as_bytes());
        let (mapping, _) = run.load("contended").unwrap();
        assert!(
            mapping.payload().contains(&b':'),
            "a reader sees a whole value"
        );
    }
}

#[test]
fn a_damaged_segment_is_refused_not_read() {
    let root = TempRoot::new("damaged");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let entry = run
        .save("k", &bytes_header(4), b"abcd", &SaveOptions::default())
        .unwrap()
        .entry;
    let path = format!("/dev/shm{}", entry.location);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let error = run.load("k").unwrap_err();
    assert_eq!(error.code(), "ERR_SHMFLOW_CORRUPT_SEGMENT");
    assert!(error.to_string().contains("runs past"), "{error}");
    run.shutdown().unwrap();
}

#[test]
fn an_entry_pointing_outside_its_run_is_refused() {
    let root = TempRoot::new("hostile");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let other = Run::create(&common::options(&root), 0).unwrap();
    let foreign = other
        .save("secret", &bytes_header(1), b"s", &SaveOptions::default())
        .unwrap()
        .entry;
    let entry = format!(
        "shmflow-entry 1\ntier shm\nlocation {}\nbytes 1\nkey k",
        foreign.location
    );
    std::fs::write(run.dir().join("index/k"), entry).unwrap();

    assert_eq!(
        run.load("k").unwrap_err().code(),
        "ERR_SHMFLOW_CORRUPT_SEGMENT"
    );
    run.shutdown().unwrap();
    other.shutdown().unwrap();
}

#[test]
fn a_user_directory_that_is_a_symbolic_link_is_refused() {
    let root = TempRoot::new("symlink");
    let target = root.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    let uid = rustix::process::getuid().as_raw();
    std::os::unix::fs::symlink(&target, root.path().join(format!("shmflow-{uid}"))).unwrap();

    let error = Run::create(&common::options(&root), 0).unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
}

#[test]
fn an_empty_key_is_an_invalid_argument_and_stores_nothing() {
    let root = TempRoot::new("emptykey");
    let run = Run::create(&common::options(&root), 0).unwrap();
    let error = run
        .save("", &bytes_header(1), b"x", &SaveOptions::default())
        .unwrap_err();
    assert_eq!(error.code(), "ERR_SHMFLOW_INVALID_ARGUMENT");
    assert_eq!(
        run.load("").unwrap_err().code(),
        "ERR_SHMFLOW_INVALID_ARGUMENT"
    );
    assert!(segments_of(run.run_id()).is_empty());
    run.shutdown().unwrap();
}

#[test]
fn a_root_that_does_not_exist_yet_is_created() {
    let root = TempRoot::new("newroot");
    let options = shmflow_core::RunOptions {
        root: Some(root.path().join("not/there/yet")),
        ..Default::default()
    };
    let run = Run::create(&options, 0).unwrap();
    assert!(run.dir().is_dir());
    run.shutdown().unwrap();
}
