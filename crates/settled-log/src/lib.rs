//! The pure code of a Settled log, apart from the app, so that another tool
//! can check a log with no database, no server and no trust in either.
//!
//! A Settled log is one team's append-only list of entries, made of three
//! layers, each following a written spec:
//!
//! 1. **Entries are canonical JSON payloads** ([`canonical`]). A payload is
//!    one JSON object naming the `team`, `index`, `time`, `actor` and `kind`
//!    plus the event's own fields, for example
//!    `{"actor":3,"index":7,"kind":"stance_taken","number":4,"position":"object","reason":"<64 hex digits>","team":1,"time":"2023-11-14T22:13:20.123456Z"}`.
//!    Free text is never in a payload, only its salted commitment
//!    SHA-256(salt ‖ text) in lower-case hex, so a text can be erased without
//!    breaking any hash. The spelling is exactly what `serde_json` prints for
//!    a sorted map, which is **not** RFC 8785 (JCS): no whitespace; keys in
//!    strictly ascending byte order, none escaped; integers only (no
//!    fraction, exponent or `-0`, within `i64`/`u64`); non-ASCII text as raw
//!    UTF-8; escapes only `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r` and
//!    `\u00xx` in lower-case hex for the other control characters. Every
//!    payload has exactly one spelling, and a verifier refuses any other
//!    ([`canonical::object_members`]).
//! 2. **The entries form an RFC 6962 (RFC 9162) Merkle tree** ([`merkle`]),
//!    the one Certificate Transparency and C2SP `tlog-checkpoint` logs use:
//!    the leaf hash of an entry is SHA-256(0x00 ‖ payload bytes), an interior
//!    node SHA-256(0x01 ‖ left ‖ right); leaf `i` is the entry at index `i`.
//!    Inclusion and consistency proofs follow RFC 9162 and pass the
//!    transparency-dev/merkle test vectors.
//! 3. **Tree heads are C2SP checkpoints in C2SP signed notes** ([`note`]):
//!    the note text is the origin (`<key name>/team/<team id>`), the tree
//!    size in decimal and the base64 root, one per line, signed with Ed25519
//!    by the instance's key. Its verifier key, in the `name+keyid+base64`
//!    form of Go's `golang.org/x/mod/sumdb/note`, is shown on every team's
//!    log page.
//!
//! To verify a log, a tool takes the verifier key once from a source it
//! trusts, opens a checkpoint with it ([`note::Verifier::open`], then
//! [`note::Checkpoint::parse`]), checks every payload is canonical,
//! recomputes the leaf hashes and the root over the first `size` entries
//! ([`merkle::root_from_leaves`], or [`merkle::Frontier`] to stream) and
//! compares it with the checkpoint's. A single entry is checked against a
//! checkpoint with an inclusion proof ([`merkle::verify_inclusion`]); a later
//! checkpoint is checked to extend an earlier one, so that the log only grew,
//! with a consistency proof ([`merkle::verify_consistency`]). The app serves
//! both proofs and exports whole logs; replaying the events through the
//! product's rules is the app's own `settled verify`, not this crate's.
//!
//! ```
//! use settled_log::merkle::{self, Hash};
//! use settled_log::note::{Checkpoint, Signer, Verifier};
//!
//! // A tiny log of three entries.
//! let payloads = [
//!     r#"{"actor":1,"index":0,"kind":"a","team":1}"#,
//!     r#"{"actor":1,"index":1,"kind":"b","team":1}"#,
//!     r#"{"actor":2,"index":2,"kind":"c","team":1}"#,
//! ];
//! for payload in payloads {
//!     settled_log::canonical::object_members(payload).expect("canonical");
//! }
//! let leaves: Vec<Hash> = payloads
//!     .iter()
//!     .map(|p| merkle::leaf_hash(p.as_bytes()))
//!     .collect();
//! let root = merkle::root_from_leaves(&leaves);
//!
//! // The log signs its head (here with a throwaway key)...
//! let signer = Signer::from_seed("log.example.com", [7; 32]).expect("valid name");
//! let head = Checkpoint {
//!     origin: "log.example.com/team/1".into(),
//!     size: 3,
//!     root,
//!     extensions: vec![],
//! };
//! let note = signer.sign(&head.to_text()).expect("signable");
//!
//! // ...and a verifier who holds only the key string opens it,
//! let key = signer.verifier().encode();
//! let verifier = Verifier::parse(&key).expect("key string");
//! let text = verifier.open(&note).expect("signed by that key");
//! let head = Checkpoint::parse(&text).expect("checkpoint");
//!
//! // then checks that entry 1 is in the signed tree, and a forgery is not.
//! let proof = merkle::inclusion_proof(&leaves, 1).expect("index inside the tree");
//! merkle::verify_inclusion(1, head.size, &leaves[1], &proof, &head.root).expect("included");
//! let forged = merkle::leaf_hash(br#"{"actor":9,"index":1,"kind":"b","team":1}"#);
//! assert!(merkle::verify_inclusion(1, head.size, &forged, &proof, &head.root).is_err());
//! ```

#![warn(missing_docs)]

pub mod canonical;
pub mod merkle;
pub mod note;
