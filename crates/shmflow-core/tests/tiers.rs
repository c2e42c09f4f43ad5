//! Tiers and budgets: a value that the shared-memory budget cannot take goes to a spill file, a
//! pinned tier is honoured, and when nothing can take a value the error names every limit.

mod common;

use common::{mapped, segments_of, TempRoot};
use shmflow_core::run::Value;
use shmflow_core::{Error, Header, Run, RunOptions, SaveOptions, Tier};

fn header(len: usize) -> Header {
    Header::new(1, 1, 1, vec![], len as u64).unwrap()
}

fn run_with_budget(root: &TempRoot, max_shared_bytes: u64) -> std::sync::Arc<Run> {
    let options = RunOptions {
        max_shared_bytes: Some(max_shared_bytes),
        ..common::options(root)
    };
    Run::create(&options, 0).unwrap()
}

fn spill_files(run: &Run) -> usize {
    std::fs::read_dir(run.dir().join("spill"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn with_a_zero_budget_a_value_spills_to_a_mapped_file() {
    let root = TempRoot::new("budget0");
    let run = run_with_budget(&root, 0);
    let payload = vec![7u8; 1 << 20];

    let saved = run
        .save(
            "big",
            &header(payload.len()),
            &payload,
            &SaveOptions::default(),
        )
        .unwrap();
    assert_eq!(saved.entry.tier, Tier::MmapFile);
    assert_eq!(saved.fallbacks.len(), 1);
    assert_eq!(saved.fallbacks[0].reason.as_str(), "budget");
    assert!(
        saved.fallbacks[0].detail.contains("maxSharedBytes=0"),
        "{}",
        saved.fallbacks[0]
    );

    let (value, _) = run.load("big").unwrap();
    assert_eq!(mapped(&value).payload(), payload.as_slice());
    assert!(segments_of(run.run_id()).is_empty());
    let usage = run.usage().unwrap();
    assert_eq!((usage.mmap_file.count, usage.fallbacks), (1, 1));
    assert_eq!(usage.fallback_reasons.get("budget"), Some(&1));
    run.shutdown().unwrap();
    assert!(!run.dir().exists());
}

#[test]
fn a_pinned_disk_tier_loads_as_a_copy() {
    let root = TempRoot::new("disk");
    let run = run_with_budget(&root, u64::MAX);
    let options = SaveOptions {
        tier: Some(Tier::Disk),
        spill: true,
    };
    let saved = run.save("k", &header(5), b"hello", &options).unwrap();
    assert_eq!((saved.entry.tier, saved.fallbacks.len()), (Tier::Disk, 0));

    let (value, entry) = run.load("k").unwrap();
    assert!(matches!(value, Value::Copied(_)));
    assert_eq!((value.payload(), entry.tier), (&b"hello"[..], Tier::Disk));
    run.shutdown().unwrap();
}

#[test]
fn forbidding_the_spill_gives_no_space_naming_the_budget_and_keeps_the_old_value() {
    let root = TempRoot::new("nospill");
    let run = run_with_budget(&root, 4096);
    run.save("k", &header(3), b"old", &SaveOptions::default())
        .unwrap();

    let payload = vec![1u8; 8192];
    let options = SaveOptions {
        tier: None,
        spill: false,
    };
    let error = run
        .save("k", &header(payload.len()), &payload, &options)
        .unwrap_err();
    assert_eq!(error.code(), "ERR_SHMFLOW_NO_SPACE");
    let message = error.to_string();
    assert!(
        message.contains("\"k\"") && message.contains("maxSharedBytes=4096"),
        "{message}"
    );
    assert_eq!(run.load("k").unwrap().0.payload(), b"old");
    run.shutdown().unwrap();
}

#[test]
fn overwriting_across_tiers_frees_the_old_storage() {
    let root = TempRoot::new("across");
    let run = run_with_budget(&root, u64::MAX);
    let disk = SaveOptions {
        tier: Some(Tier::Disk),
        spill: true,
    };
    run.save("k", &header(1), b"a", &disk).unwrap();
    assert_eq!(spill_files(&run), 1);

    run.save("k", &header(1), b"b", &SaveOptions::default())
        .unwrap();
    assert_eq!(spill_files(&run), 0);
    assert_eq!(segments_of(run.run_id()).len(), 1);

    run.save(
        "k",
        &header(1),
        b"c",
        &SaveOptions {
            tier: Some(Tier::MmapFile),
            spill: true,
        },
    )
    .unwrap();
    assert!(segments_of(run.run_id()).is_empty());
    assert!(run.delete("k").unwrap());
    assert_eq!(spill_files(&run), 0);
    run.shutdown().unwrap();
}

#[test]
fn the_budget_is_released_when_a_value_is_replaced() {
    let root = TempRoot::new("release");
    let run = run_with_budget(&root, 3 * 4096);
    let payload = vec![0u8; 4096];
    for _ in 0..10 {
        let saved = run
            .save(
                "k",
                &header(payload.len()),
                &payload,
                &SaveOptions::default(),
            )
            .unwrap();
        assert_eq!(saved.entry.tier, Tier::Shm);
    }
    assert_eq!(run.usage().unwrap().held_shared_bytes, 4096 + 128);
    run.shutdown().unwrap();
}

#[test]
fn a_value_larger_than_physical_memory_is_refused_before_anything_is_allocated() {
    let root = TempRoot::new("huge");
    let run = run_with_budget(&root, u64::MAX);
    let len = shmflow_core::budget::physical_memory() as usize + 4096;

    // SAFETY: a fresh private anonymous mapping, reserved lazily (NORESERVE) and never touched:
    // only its length is read before the save refuses it.
    let ptr = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ,
            rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
        )
    }
    .expect("a lazy mapping larger than memory");
    // SAFETY: the mapping is `len` bytes long and readable.
    let huge = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };

    let error = run
        .save("huge", &header(len), huge, &SaveOptions::default())
        .unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("physical memory"), "{error}");
    assert!(segments_of(run.run_id()).is_empty() && spill_files(&run) == 0);
    // SAFETY: unmapping exactly what was mapped; `huge` is not used after this.
    unsafe { rustix::mm::munmap(ptr, len).unwrap() };
    run.shutdown().unwrap();
}

#[test]
fn an_entry_pointing_at_a_file_outside_the_spill_directory_is_refused() {
    let root = TempRoot::new("outside");
    let run = run_with_budget(&root, 0);
    run.save("k", &header(1), b"x", &SaveOptions::default())
        .unwrap();
    let entry = "shmflow-entry 1\ntier disk\nlocation /etc/passwd\nbytes 1\nkey k";
    std::fs::write(run.dir().join("index/k"), entry).unwrap();
    assert_eq!(
        run.load("k").unwrap_err().code(),
        "ERR_SHMFLOW_CORRUPT_SEGMENT"
    );
    run.shutdown().unwrap();
}
