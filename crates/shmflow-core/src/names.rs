//! Names: run ids, shared-memory object names and index file names.
//!
//! A run id is 20 characters of lowercase base32 (100 random bits). A segment is named
//! `/sf<run id>-<7 random base32 characters>`: 31 bytes with the leading slash, the limit macOS
//! puts on shared-memory names, and every segment of a run shares the prefix `/sf<run id>-`, so
//! that the run's objects can be found by name alone.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The length of a run id.
pub const RUN_ID_LEN: usize = 20;

/// The length of the random tag that tells the segments of one run apart.
pub const SEGMENT_TAG_LEN: usize = 7;

/// The prefix of every shared-memory object shmflow creates (without the leading slash).
pub const SEGMENT_PREFIX: &str = "sf";

/// Random lowercase base32 characters from the OS's generator.
fn random_base32(len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::io("reading random bytes", std::io::Error::other(e.to_string())))?;
    Ok(bytes
        .iter()
        .map(|b| BASE32[(b & 31) as usize] as char)
        .collect())
}

/// A new random run id.
pub fn new_run_id() -> Result<String> {
    random_base32(RUN_ID_LEN)
}

/// Whether `id` has the form of a run id; anything else is refused before it reaches a path.
pub fn is_run_id(id: &str) -> bool {
    id.len() == RUN_ID_LEN && id.bytes().all(|b| BASE32.contains(&b))
}

/// The name prefix, with the leading slash, shared by every segment of a run.
pub fn segment_prefix(run_id: &str) -> String {
    format!("/{SEGMENT_PREFIX}{run_id}-")
}

/// A new random segment name in the run; callers retry with another on `EEXIST`.
pub fn new_segment_name(run_id: &str) -> Result<String> {
    Ok(format!(
        "{}{}",
        segment_prefix(run_id),
        random_base32(SEGMENT_TAG_LEN)?
    ))
}

/// Whether a file name in the shared-memory directory is a segment of shmflow's, and of which run.
pub fn run_of_segment(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix(SEGMENT_PREFIX)?;
    let (run_id, tag) = rest.split_once('-')?;
    let tag_ok = tag.len() == SEGMENT_TAG_LEN && tag.bytes().all(|b| BASE32.contains(&b));
    (is_run_id(run_id) && tag_ok).then_some(run_id)
}

/// A new random spill file name (inside the run's spill directory).
pub fn new_spill_name() -> Result<String> {
    random_base32(SEGMENT_TAG_LEN)
}

/// Whether a file name has the form of a spill file name.
pub fn is_spill_name(name: &str) -> bool {
    name.len() == SEGMENT_TAG_LEN && name.bytes().all(|b| BASE32.contains(&b))
}

/// The longest index file name before a key is stored under its hash instead.
const MAX_PLAIN_NAME: usize = 200;

/// The index file name of a key: the key with every byte outside `[A-Za-z0-9_-]` written as
/// `%XX`, or `#` and the SHA-256 of the key when that would be too long for a file name.
/// The key itself is also stored inside the entry, so the name only needs to be unique.
pub fn index_file_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            name.push(byte as char);
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.len() <= MAX_PLAIN_NAME {
        return name;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_name_fits_in_31_bytes_and_names_its_run() {
        let run = new_run_id().unwrap();
        let name = new_segment_name(&run).unwrap();
        assert_eq!(name.len(), 31);
        assert_eq!(run_of_segment(&name[1..]), Some(run.as_str()));
        assert_eq!(run_of_segment("sfnotarun-abcdefg"), None);
    }

    #[test]
    fn run_ids_are_checked_before_they_reach_a_path() {
        assert!(is_run_id(&new_run_id().unwrap()));
        assert!(!is_run_id("../../etc/passwdxxxxx"));
        assert!(!is_run_id("ABCDEFGHIJKLMNOPQRST"));
    }

    #[test]
    fn index_names_are_safe_and_distinct() {
        assert_eq!(index_file_name("seed"), "seed");
        assert_eq!(index_file_name("a/b"), "a%2Fb");
        assert_eq!(index_file_name(".."), "%2E%2E");
        assert_ne!(index_file_name("a/b"), index_file_name("a%2Fb"));
        let long = "x".repeat(500);
        assert!(index_file_name(&long).starts_with('#'));
        assert_eq!(index_file_name(&long).len(), 65);
    }
}
