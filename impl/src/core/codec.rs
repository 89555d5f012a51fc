//! The one binary encoding of raft-impl, for the wire and for the disk: [postcard] (serde,
//! LEB128 varint integers, length-prefixed byte strings and sequences, enum variants as a
//! varint index). Every user frames it with its own header (a format version at least), so
//! a reader of another version gets a clear error instead of a misread.
//!
//! Both directions are bounded. Encoding stops with [`EncodeError::TooLarge`] as soon as the
//! output would pass the caller's limit (nothing is returned, so nothing half-encoded can be
//! written or sent). Decoding refuses input over the limit, never panics, never allocates much
//! more than the input (a claimed length past the input's end is an error before anything is
//! reserved), and refuses trailing bytes, so one byte string has exactly one meaning.
//!
//! [postcard]: https://docs.rs/postcard

use serde::{Deserialize, Serialize};

/// A value that could not be encoded. Nothing was produced: the write or send it was for
/// must not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoding would exceed `limit` bytes (the frame or file size limit).
    #[error("the encoding would exceed the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was hit, in bytes.
        limit: u64,
    },
    /// The serializer refused the value (for example a sequence of unknown length).
    #[error("the serializer refused the value")]
    Serializer(#[source] postcard::Error),
}

/// A payload that is not a valid encoding of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is longer than any valid one.
    #[error("payload of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The payload's length in bytes.
        len: usize,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The deserializer refused the bytes (truncated, a bad varint or enum tag, a length
    /// past the end, …).
    #[error("payload is malformed")]
    Malformed(#[source] postcard::Error),
    /// A complete value was decoded with bytes left over.
    #[error("{count} bytes follow the encoded value")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
}

/// Appends the encoding of `value` to `buffer` (whatever it already holds, a header for
/// example, does not count towards `limit`) and returns the buffer.
pub fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    limit: u64,
    buffer: Vec<u8>,
) -> Result<Vec<u8>, EncodeError> {
    let flavor = Limited {
        start: buffer.len(),
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
        out: buffer,
    };
    postcard::serialize_with_flavor(value, flavor).map_err(|error| match error {
        // Only `Limited` reports a full buffer: a `Vec` grows.
        postcard::Error::SerializeBufferFull => EncodeError::TooLarge { limit },
        other => EncodeError::Serializer(other),
    })
}

/// The encoding of `value`, at most `limit` bytes.
pub fn encode<T: Serialize + ?Sized>(value: &T, limit: u64) -> Result<Vec<u8>, EncodeError> {
    encode_into(value, limit, Vec::new())
}

/// Decodes exactly one `T` from all of `bytes`, which may be at most `limit` long.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], limit: u64) -> Result<T, PayloadError> {
    if bytes.len() as u64 > limit {
        return Err(PayloadError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(PayloadError::Malformed)?;
    match rest.len() {
        0 => Ok(value),
        count => Err(PayloadError::TrailingBytes { count }),
    }
}

/// The number of bytes postcard's LEB128 varint takes for `n` (1 to 10).
pub fn varint_len(n: u64) -> usize {
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// A growing `Vec` output that refuses to pass `limit` bytes after `start`: the size check
/// happens before each write, so an oversized byte string is refused before it is copied.
struct Limited {
    out: Vec<u8>,
    start: usize,
    limit: usize,
}

impl postcard::ser_flavors::Flavor for Limited {
    type Output = Vec<u8>;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        let written = self.out.len() - self.start;
        if data.len() > self.limit.saturating_sub(written) {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit counts only the appended bytes, and a value that fits exactly is accepted.
    #[test]
    fn limit_is_exact_and_excludes_the_prefix() {
        let value = vec![7u8; 10];
        // serde's Vec<u8> is a sequence: 1 length byte + 10 elements.
        let encoded = encode(&value, 11).unwrap();
        assert_eq!(encoded.len(), 11);
        assert_eq!(encode(&value, 10), Err(EncodeError::TooLarge { limit: 10 }));
        let with_header = encode_into(&value, 11, vec![0xAA; 5]).unwrap();
        assert_eq!(&with_header[..5], &[0xAA; 5]);
        assert_eq!(&with_header[5..], encoded.as_slice());
    }

    /// A byte string far larger than the limit is refused without being copied: the test
    /// would take seconds and gigabytes otherwise.
    #[test]
    fn oversized_bytes_are_refused_before_copying() {
        let huge = bytes::Bytes::from(vec![0u8; 1 << 30]);
        assert_eq!(
            encode(&huge, 1 << 20),
            Err(EncodeError::TooLarge { limit: 1 << 20 })
        );
    }

    /// `varint_len` agrees with the encoder at every length boundary.
    #[test]
    fn varint_len_matches_the_encoding() {
        for n in [0u64, 1, 127, 128, 16_383, 16_384, 1 << 62, u64::MAX] {
            assert_eq!(varint_len(n), encode(&n, 16).unwrap().len(), "{n}");
        }
    }

    /// Decoding refuses oversized input, trailing bytes and truncation, each by its variant.
    #[test]
    fn decode_errors_are_specific() {
        let bytes = encode(&(300u64, true), 100).unwrap();
        assert_eq!(decode::<(u64, bool)>(&bytes, 100), Ok((300, true)));
        assert_eq!(
            decode::<(u64, bool)>(&bytes, 2),
            Err(PayloadError::TooLarge { len: 3, limit: 2 })
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode::<(u64, bool)>(&long, 100),
            Err(PayloadError::TrailingBytes { count: 1 })
        );
        assert!(matches!(
            decode::<(u64, bool)>(&bytes[..2], 100),
            Err(PayloadError::Malformed(_))
        ));
    }
}
