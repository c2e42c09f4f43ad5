//! The segment format: a fixed 128-byte header, then the payload at offset 128.
//!
//! Every stored value, in every tier, and every exported file has this layout, so that another
//! language can map it and view the payload in place. All integers are little-endian.
//! `docs/format.md` specifies it byte by byte; [`Header::decode`] checks every field and bound
//! before anything trusts the segment.
//!
//! | offset | size | field                                                        |
//! | ------ | ---- | ------------------------------------------------------------ |
//! | 0      | 8    | magic `SHMFLOW\0`                                            |
//! | 8      | 2    | format version, 1                                            |
//! | 10     | 1    | state: 1 writing, 2 sealed                                   |
//! | 11     | 1    | codec                                                        |
//! | 12     | 1    | dtype                                                        |
//! | 13     | 1    | container                                                    |
//! | 14     | 1    | ndim, 0 to 8                                                 |
//! | 15     | 1    | reserved, 0                                                  |
//! | 16     | 4    | payload offset, 128                                          |
//! | 20     | 4    | reserved, 0                                                  |
//! | 24     | 8    | payload length in bytes (exact; the mapping is page-rounded) |
//! | 32     | 64   | shape: 8 dimensions, unused ones 0                           |
//! | 96     | 32   | reserved, 0                                                  |

use crate::error::{Error, Result};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SHMFLOW\0";

/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;

/// The header length, which is also the payload offset: a multiple of 64.
pub const HEADER_LEN: usize = 128;

/// The byte offset of the state field, the one field written after the payload.
pub const STATE_OFFSET: usize = 10;

/// The most dimensions a tensor shape may have.
pub const MAX_DIMS: usize = 8;

/// The payload is being written; readers must not use it.
pub const STATE_WRITING: u8 = 1;

/// The payload is complete and will never change.
pub const STATE_SEALED: u8 = 2;

/// How the payload encodes the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Codec {
    /// Raw bytes of a binary value; `dtype` and `container` say which JavaScript type.
    Bytes = 1,
    /// Raw bytes of a tensor, with `dtype` and `shape`.
    Tensor = 2,
    /// UTF-8 JSON text.
    Json = 3,
    /// V8's structured-clone serialization.
    V8 = 4,
}

impl Codec {
    fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Codec::Bytes),
            2 => Some(Codec::Tensor),
            3 => Some(Codec::Json),
            4 => Some(Codec::V8),
            _ => None,
        }
    }

    /// Whether values of this codec carry an element type.
    fn is_binary(self) -> bool {
        matches!(self, Codec::Bytes | Codec::Tensor)
    }
}

/// The highest dtype number: 1 uint8, 2 int8, 3 uint16, 4 int16, 5 uint32, 6 int32, 7 uint64,
/// 8 int64, 9 float16, 10 float32, 11 float64, 12 bool.
pub const MAX_DTYPE: u8 = 12;

/// The highest container number: 0 typed array, 1 Buffer, 2 ArrayBuffer, 3 DataView,
/// 4 Uint8ClampedArray.
pub const MAX_CONTAINER: u8 = 4;

/// The size in bytes of one element of a dtype, or `None` for an unknown dtype.
pub fn dtype_size(dtype: u8) -> Option<u64> {
    match dtype {
        1 | 2 | 12 => Some(1),
        3 | 4 | 9 => Some(2),
        5 | 6 | 10 => Some(4),
        7 | 8 | 11 => Some(8),
        _ => None,
    }
}

/// What the header says about a value, apart from the magic, version, state and offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    pub dtype: u8,
    pub container: u8,
    pub shape: Vec<u64>,
    pub payload_len: u64,
}

impl Header {
    /// Builds a header and checks that its fields agree with each other and the payload length.
    pub fn new(
        codec: u8,
        dtype: u8,
        container: u8,
        shape: Vec<u64>,
        payload_len: u64,
    ) -> Result<Self> {
        let codec = Codec::from_u8(codec)
            .ok_or_else(|| Error::InvalidArgument(format!("unknown codec {codec}")))?;
        let header = Header {
            codec,
            dtype,
            container,
            shape,
            payload_len,
        };
        header.check().map_err(Error::InvalidArgument)?;
        Ok(header)
    }

    /// The header as bytes, in the given state.
    pub fn encode(&self, state: u8) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..10].copy_from_slice(&VERSION.to_le_bytes());
        bytes[STATE_OFFSET] = state;
        bytes[11] = self.codec as u8;
        bytes[12] = self.dtype;
        bytes[13] = self.container;
        bytes[14] = self.shape.len() as u8;
        bytes[16..20].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        bytes[24..32].copy_from_slice(&self.payload_len.to_le_bytes());
        for (i, dim) in self.shape.iter().enumerate() {
            bytes[32 + i * 8..40 + i * 8].copy_from_slice(&dim.to_le_bytes());
        }
        bytes
    }

    /// Reads and checks a sealed header from the start of a segment of `segment_len` bytes.
    ///
    /// Fails, naming the field, unless every field is valid, the segment is sealed and the
    /// payload lies inside the segment.
    pub fn decode(bytes: &[u8], segment_len: u64) -> Result<Self, String> {
        if bytes.len() < HEADER_LEN || segment_len < HEADER_LEN as u64 {
            return Err(format!(
                "{segment_len} bytes is shorter than the {HEADER_LEN}-byte header"
            ));
        }
        if bytes[0..8] != MAGIC {
            return Err("bad magic".into());
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(format!(
                "format version {version}, this build reads {VERSION}"
            ));
        }
        match bytes[STATE_OFFSET] {
            STATE_SEALED => {}
            STATE_WRITING => return Err("the value is still being written (not sealed)".into()),
            other => return Err(format!("unknown state {other}")),
        }
        let codec =
            Codec::from_u8(bytes[11]).ok_or_else(|| format!("unknown codec {}", bytes[11]))?;
        let offset = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
        if offset as usize != HEADER_LEN {
            return Err(format!("payload offset {offset}, expected {HEADER_LEN}"));
        }
        if bytes[15] != 0 || bytes[20..24] != [0; 4] || bytes[96..128] != [0; 32] {
            return Err("reserved bytes are not zero".into());
        }
        let ndim = bytes[14] as usize;
        if ndim > MAX_DIMS {
            return Err(format!("{ndim} dimensions, at most {MAX_DIMS}"));
        }
        let dim = |i: usize| u64::from_le_bytes(bytes[32 + i * 8..40 + i * 8].try_into().unwrap());
        if (ndim..MAX_DIMS).any(|i| dim(i) != 0) {
            return Err("unused shape entries are not zero".into());
        }
        let payload_len = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
        let header = Header {
            codec,
            dtype: bytes[12],
            container: bytes[13],
            shape: (0..ndim).map(dim).collect(),
            payload_len,
        };
        header.check()?;
        match (HEADER_LEN as u64).checked_add(payload_len) {
            Some(end) if end <= segment_len => Ok(header),
            _ => Err(format!(
                "payload of {payload_len} bytes runs past the {segment_len}-byte segment"
            )),
        }
    }

    /// Checks that codec, dtype, container, shape and length agree.
    fn check(&self) -> Result<(), String> {
        if self.shape.len() > MAX_DIMS {
            return Err(format!(
                "{} dimensions, at most {MAX_DIMS}",
                self.shape.len()
            ));
        }
        if !self.codec.is_binary() {
            if self.dtype != 0 || self.container != 0 || !self.shape.is_empty() {
                return Err(format!(
                    "{:?} values carry no dtype, container or shape",
                    self.codec
                ));
            }
            return Ok(());
        }
        let size = dtype_size(self.dtype).ok_or_else(|| format!("unknown dtype {}", self.dtype))?;
        if self.container > MAX_CONTAINER {
            return Err(format!("unknown container {}", self.container));
        }
        if self.codec == Codec::Bytes {
            if !self.shape.is_empty() {
                return Err("byte values carry no shape".into());
            }
            if !self.payload_len.is_multiple_of(size) {
                return Err(format!(
                    "{} bytes is not a whole number of {size}-byte elements",
                    self.payload_len
                ));
            }
            return Ok(());
        }
        let elements = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &dim| acc.checked_mul(dim))
            .and_then(|n| n.checked_mul(size));
        match elements {
            Some(bytes) if bytes == self.payload_len => Ok(()),
            _ => Err(format!(
                "shape {:?} of {size}-byte elements does not match {} bytes",
                self.shape, self.payload_len
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips() {
        let header = Header::new(2, 10, 0, vec![2, 3], 24).unwrap();
        let bytes = header.encode(STATE_SEALED);
        assert_eq!(Header::decode(&bytes, 128 + 24).unwrap(), header);
    }

    #[test]
    fn an_unsealed_header_is_refused() {
        let bytes = Header::new(1, 1, 1, vec![], 0)
            .unwrap()
            .encode(STATE_WRITING);
        assert!(Header::decode(&bytes, 128)
            .unwrap_err()
            .contains("not sealed"));
    }

    #[test]
    fn a_payload_past_the_segment_is_refused() {
        let bytes = Header::new(1, 1, 1, vec![], 4096)
            .unwrap()
            .encode(STATE_SEALED);
        assert!(Header::decode(&bytes, 4096)
            .unwrap_err()
            .contains("runs past"));
    }

    #[test]
    fn a_length_that_overflows_is_refused() {
        let mut bytes = Header::new(1, 1, 1, vec![], 0)
            .unwrap()
            .encode(STATE_SEALED);
        bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Header::decode(&bytes, 4096).is_err());
    }

    #[test]
    fn a_shape_that_disagrees_with_the_length_is_refused() {
        assert!(Header::new(2, 10, 0, vec![2, 3], 20).is_err());
        assert!(Header::new(2, 10, 0, vec![u64::MAX, 2], 8).is_err());
    }

    #[test]
    fn every_damaged_field_is_named() {
        let good = Header::new(2, 11, 0, vec![4], 32)
            .unwrap()
            .encode(STATE_SEALED);
        let cases: [(usize, u8, &str); 7] = [
            (0, b'X', "magic"),
            (8, 9, "version"),
            (10, 7, "state"),
            (11, 9, "codec"),
            (12, 99, "dtype"),
            (14, 9, "dimensions"),
            (16, 64, "offset"),
        ];
        for (offset, value, word) in cases {
            let mut bytes = good;
            bytes[offset] = value;
            let message = Header::decode(&bytes, 4096).unwrap_err();
            assert!(message.contains(word), "{offset}: {message}");
        }
    }
}
