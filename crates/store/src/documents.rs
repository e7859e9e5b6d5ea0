//! How the store keeps JSON documents: compressed with LZ4 against a fixed dictionary
//! of typical documents.
//!
//! A document is JSON of a few hundred bytes to ~2 KB, and most of it is key names and
//! `null`s that every document of its kind repeats. Stored as text, a payment's
//! documents were ~12 KB, most of the bytes each commit wrote to the log (an event
//! alone filled a 2 KB page). Against a dictionary that holds one document of each
//! common kind, LZ4 keeps little more than what differs: ids, amounts, times. A charge
//! becomes ~250 bytes instead of ~1,800; a commit writes fewer pages, and the gateway
//! made 5–7% more payments a second (docs/PERFORMANCE.md).
//!
//! Objects' wire documents are kept this way, and so are the answers idempotency
//! records replay and the signals risk attempts were judged on.
//!
//! The stored value says how to read it:
//! - TEXT: the JSON itself (what versions before compression wrote);
//! - BLOB: a format byte ([`FORMAT_LZ4_V1`]), the JSON's length (little-endian u32),
//!   then the LZ4 block compressed with [`DICTIONARY_V1`].
//!
//! The dictionary is part of the stored format: a document written with it can only
//! be read with the very same bytes, so `documents.v1.dict` never changes. A better
//! dictionary would be a new file under a new format byte, with both kept for reading.
//! It was made from a test-mode gateway's documents (a customer, a refund, a balance
//! transaction, a PaymentMethod, a charge, a PaymentIntent, and an event with its
//! object left out), with ids, secrets and fingerprints replaced by zeros.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use crate::StoreError;

/// The dictionary of format 1. Never change it (see the module documentation).
pub(crate) const DICTIONARY_V1: &[u8] = include_bytes!("documents.v1.dict");

/// The first byte of a document compressed with [`DICTIONARY_V1`].
pub(crate) const FORMAT_LZ4_V1: u8 = 1;

/// The format byte and the length before the compressed bytes.
const HEADER: usize = 5;

/// Longest document a stored value may claim to hold. Far above any real document
/// (metadata is capped at 50 keys of 500 characters); it stops a damaged length from
/// asking for gigabytes.
const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// Serialises `doc` and compresses it for storage.
pub(crate) fn encode<D: serde::Serialize + ?Sized>(doc: &D) -> Result<Vec<u8>, StoreError> {
    SCRATCH.with_borrow_mut(|scratch| {
        let Scratch { json, compressed } = scratch;
        json.clear();
        serde_json::to_writer(&mut *json, doc)?;
        let stored = compress_with(json, compressed);
        scratch.trim();
        stored
    })
}

/// A document serialised and compressed for storage ahead of the write that stores it.
///
/// Writes run one at a time, holding the store's one write lock, and a payment's
/// writes spent about a seventh of that time turning documents into stored bytes
/// (docs/PERFORMANCE.md). A document whose content is known before its write is
/// encoded first, by the request's own thread while others write, and the write only
/// stores the bytes.
#[derive(Debug, Clone)]
pub struct Encoded(Vec<u8>);

impl Encoded {
    /// Serialises `doc` and compresses it for storage.
    pub fn new<D: serde::Serialize + ?Sized>(doc: &D) -> Result<Encoded, StoreError> {
        encode(doc).map(Encoded)
    }
}

/// What an object's document may be given to a write as: anything that serialises
/// to its wire JSON (encoded by the write), or its [`Encoded`] bytes.
pub trait Document {
    /// The bytes to store.
    fn stored(&self) -> Result<std::borrow::Cow<'_, [u8]>, StoreError>;
}

impl<D: serde::Serialize + ?Sized> Document for D {
    fn stored(&self) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
        encode(self).map(std::borrow::Cow::Owned)
    }
}

impl Document for Encoded {
    fn stored(&self) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
        Ok(std::borrow::Cow::Borrowed(&self.0))
    }
}

/// Compresses JSON text for storage (an idempotency record's answer, say).
pub(crate) fn compress(json: &[u8]) -> Result<Vec<u8>, StoreError> {
    SCRATCH.with_borrow_mut(|scratch| {
        let stored = compress_with(json, &mut scratch.compressed);
        scratch.trim();
        stored
    })
}

thread_local! {
    /// Each thread's buffers for the document it encodes, kept from one document to the
    /// next: the JSON grows as it is written and the compressor writes into room it
    /// has zeroed, so buffers of their own cost each document an allocation, several
    /// copies as the JSON grows, and the zeroing.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch {
    json: Vec<u8>,
    compressed: Vec<u8>,
}

/// Room a thread keeps for the next document; a larger one's buffers are let go.
const SCRATCH_KEPT: usize = 64 << 10;

impl Scratch {
    fn trim(&mut self) {
        for buffer in [&mut self.json, &mut self.compressed] {
            if buffer.capacity() > SCRATCH_KEPT {
                *buffer = Vec::new();
            }
        }
    }
}

/// Compresses `json` through `room` (the compressor's output, zeroed only as it grows)
/// into a stored value of its own.
fn compress_with(json: &[u8], room: &mut Vec<u8>) -> Result<Vec<u8>, StoreError> {
    if json.len() > MAX_DOCUMENT_BYTES {
        return Err(StoreError::new(format!(
            "a document of {} bytes is longer than the {MAX_DOCUMENT_BYTES} a document may be",
            json.len()
        )));
    }
    let len = json.len() as u32; // at most MAX_DOCUMENT_BYTES
    let most = lz4_flex::block::get_maximum_output_size(json.len());
    if room.len() < most {
        room.resize(most, 0);
    }
    let written = lz4_flex::block::compress_into_with_dict(json, &mut room[..most], DICTIONARY_V1)
        .map_err(|e| StoreError::new(format!("compressing a document: {e}")))?;
    let mut stored = Vec::with_capacity(HEADER + written);
    stored.push(FORMAT_LZ4_V1);
    stored.extend_from_slice(&len.to_le_bytes());
    stored.extend_from_slice(&room[..written]);
    Ok(stored)
}

/// Reads a stored document, compressed or not.
pub(crate) fn decode(stored: SqlValue) -> Result<Value, StoreError> {
    match stored {
        SqlValue::Blob(bytes) => Ok(serde_json::from_slice(&decompress(&bytes)?)?),
        other => Ok(serde_json::from_str(&decode_text(other)?)?),
    }
}

/// Reads stored JSON text, compressed or not, as text.
pub(crate) fn decode_text(stored: SqlValue) -> Result<String, StoreError> {
    match stored {
        SqlValue::Text(json) => Ok(json),
        SqlValue::Blob(bytes) => String::from_utf8(decompress(&bytes)?).map_err(damaged),
        other => Err(StoreError::new(format!(
            "a stored document is {}, neither text nor a compressed document",
            other.data_type()
        ))),
    }
}

/// A stored value that cannot be read back, and why.
fn damaged(why: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("a stored document is damaged: {why}"))
}

fn decompress(bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    let (header, compressed) = bytes
        .split_at_checked(HEADER)
        .ok_or_else(|| damaged(format!("{} bytes, shorter than its header", bytes.len())))?;
    if header[0] != FORMAT_LZ4_V1 {
        return Err(damaged(format!("unknown format {}", header[0])));
    }
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_DOCUMENT_BYTES {
        return Err(damaged(format!("it claims {len} bytes")));
    }
    let mut json = vec![0u8; len];
    let written = lz4_flex::block::decompress_into_with_dict(compressed, &mut json, DICTIONARY_V1)
        .map_err(damaged)?;
    if written != len {
        return Err(damaged(format!("{written} bytes where it claims {len}")));
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn charge() -> Value {
        json!({
            "amount": 2000, "amount_captured": 2000, "amount_refunded": 0,
            "balance_transaction": "txn_0VbrJkzigTc6CjUlYrrCopCW", "billing_details": {
                "address": {"city": null, "country": null, "line1": null, "line2": null,
                            "postal_code": null, "state": null},
                "email": null, "name": null, "phone": null},
            "captured": true, "created": 1795492072, "currency": "usd", "customer": null,
            "description": "Order 1001", "disputed": false, "failure_code": null,
            "failure_message": null, "id": "ch_0VbrJky8O9NctIm8Lgfrot5Y", "livemode": false,
            "metadata": {"order_id": "1001"}, "object": "charge", "paid": true,
            "payment_intent": "pi_0VbrJky7tnjOTAn6fj9x3Lr4", "status": "succeeded"
        })
    }

    #[test]
    fn a_document_comes_back_as_it_went_in_and_much_smaller() {
        let doc = charge();
        let stored = encode(&doc).unwrap();
        assert_eq!(stored[0], FORMAT_LZ4_V1);
        let text = serde_json::to_vec(&doc).unwrap();
        assert!(
            stored.len() * 2 < text.len(),
            "{} bytes stored for {} of JSON",
            stored.len(),
            text.len()
        );
        assert_eq!(decode(SqlValue::Blob(stored)).unwrap(), doc);
    }

    #[test]
    fn documents_of_any_size_in_turn_each_come_back_whole() {
        // Each thread encodes through buffers it keeps: a small document after a large
        // one, or after a longer answer, must carry nothing of the one before.
        let large = json!({ "id": "ch_1", "metadata": { "note": "x".repeat(200_000) } });
        let small = charge();
        for doc in [&small, &large, &small] {
            assert_eq!(decode(SqlValue::Blob(encode(doc).unwrap())).unwrap(), *doc);
        }
        let answer = serde_json::to_string(&large).unwrap();
        let stored = compress(answer.as_bytes()).unwrap();
        assert_eq!(decode_text(SqlValue::Blob(stored)).unwrap(), answer);
        assert_eq!(
            decode(SqlValue::Blob(compress(b"{}").unwrap())).unwrap(),
            json!({})
        );
        // A large document's room is let go, not kept by the thread.
        SCRATCH.with_borrow(|s| {
            assert!(s.json.capacity() <= SCRATCH_KEPT && s.compressed.capacity() <= SCRATCH_KEPT);
        });
    }

    #[test]
    fn documents_stored_as_text_are_still_read() {
        let doc = charge();
        let text = serde_json::to_string(&doc).unwrap();
        assert_eq!(decode(SqlValue::Text(text)).unwrap(), doc);
    }

    #[test]
    fn the_dictionary_is_the_one_documents_were_written_with() {
        // Format 1's bytes, fixed for ever: changing the file would make every
        // compressed document unreadable (or, worse, read as something else).
        let digest = DICTIONARY_V1
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        assert_eq!((DICTIONARY_V1.len(), digest), (5356, 17899120990384700894));
    }

    /// Whatever the bytes on disk, reading them gives a document or an error, never a
    /// panic: every single-bit flip and every truncation of a stored document. A flip
    /// in the header (format byte or length) is always an error. (LZ4 keeps no
    /// checksum, so a flip in the compressed bytes may read as a different document,
    /// as a flipped bit in JSON text would.)
    #[test]
    fn no_damage_makes_reading_panic() {
        let stored = encode(&charge()).unwrap();
        for bit in 0..stored.len() * 8 {
            let mut bytes = stored.clone();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let read = decode(SqlValue::Blob(bytes));
            if bit < HEADER * 8 {
                assert!(read.is_err(), "a flip of header bit {bit} went unnoticed");
            }
        }
        for len in 0..stored.len() {
            assert!(
                decode(SqlValue::Blob(stored[..len].to_vec())).is_err(),
                "cut to {len}"
            );
        }
    }

    #[test]
    fn a_damaged_document_is_an_error_naming_what_is_wrong() {
        let stored = encode(&charge()).unwrap();
        let cases: [(Vec<u8>, &str); 5] = [
            (stored[..3].to_vec(), "shorter than its header"),
            ([&[9u8][..], &stored[1..]].concat(), "unknown format 9"),
            (
                [
                    &[FORMAT_LZ4_V1][..],
                    &u32::MAX.to_le_bytes(),
                    &stored[HEADER..],
                ]
                .concat(),
                "claims 4294967295 bytes",
            ),
            (stored[..stored.len() - 4].to_vec(), "damaged"),
            (
                [&stored[..1], &50u32.to_le_bytes(), &stored[HEADER..]].concat(),
                "damaged",
            ),
        ];
        for (bytes, expected) in cases {
            let e = decode(SqlValue::Blob(bytes)).unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} lacks {expected:?}");
        }
        let e = decode(SqlValue::Integer(7)).unwrap_err().to_string();
        assert!(e.contains("neither text nor a compressed document"), "{e}");
    }
}
