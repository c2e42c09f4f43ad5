//! The test vectors of docs/format.md: the writer produces exactly those bytes and the reader
//! accepts them, so the document and the code cannot drift apart.

mod common;

use std::path::PathBuf;

use shmflow_core::format::{Header, STATE_SEALED};
use shmflow_core::{Run, SaveOptions};

/// The hex blocks of docs/format.md, in order, as bytes.
fn vectors() -> Vec<Vec<u8>> {
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/format.md");
    let text = std::fs::read_to_string(doc).expect("docs/format.md is readable");
    let mut vectors = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in text.lines() {
        match (line.trim(), current.as_mut()) {
            ("```hex", None) => current = Some(Vec::new()),
            ("```", Some(_)) => vectors.push(current.take().unwrap()),
            (line, Some(bytes)) => {
                let (_, hex) = line
                    .split_once(':')
                    .expect("each line starts with an offset");
                bytes.extend(
                    hex.split_whitespace()
                        .map(|b| u8::from_str_radix(b, 16).unwrap()),
                );
            }
            _ => {}
        }
    }
    vectors
}

fn float32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn expected() -> Vec<(Header, Vec<u8>)> {
    vec![
        (
            Header::new(1, 1, 1, vec![], 4).unwrap(),
            vec![0xde, 0xad, 0xbe, 0xef],
        ),
        (
            Header::new(2, 10, 0, vec![2, 3], 24).unwrap(),
            float32s(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]),
        ),
        (
            Header::new(3, 0, 0, vec![], 11).unwrap(),
            br#"{"seed":42}"#.to_vec(),
        ),
    ]
}

#[test]
fn the_document_has_the_three_vectors() {
    assert_eq!(vectors().len(), 3);
}

#[test]
fn the_encoder_writes_each_vector_byte_for_byte() {
    for (vector, (header, payload)) in vectors().iter().zip(expected()) {
        let mut bytes = header.encode(STATE_SEALED).to_vec();
        bytes.extend(&payload);
        assert_eq!(&bytes, vector);
    }
}

#[test]
fn the_decoder_reads_each_vector() {
    for (vector, (header, payload)) in vectors().iter().zip(expected()) {
        assert_eq!(Header::decode(vector, vector.len() as u64).unwrap(), header);
        assert_eq!(&vector[128..], payload.as_slice());
    }
}

#[test]
fn a_saved_segment_in_dev_shm_matches_its_vector() {
    let root = common::TempRoot::new("vectors");
    let run = Run::create(&common::options(&root), 0).unwrap();
    for (i, (vector, (header, payload))) in vectors().iter().zip(expected()).enumerate() {
        let entry = run
            .save(&format!("v{i}"), &header, &payload, &SaveOptions::default())
            .unwrap()
            .entry;
        let stored = std::fs::read(format!("/dev/shm{}", entry.location)).unwrap();
        assert_eq!(&stored[..vector.len()], vector.as_slice());
    }
    run.shutdown().unwrap();
}
