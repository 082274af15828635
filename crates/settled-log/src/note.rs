//! C2SP signed notes (Ed25519 only) and C2SP tlog-checkpoint note bodies.
//!
//! A signed note (<https://c2sp.org/signed-note>) is a UTF-8 text ending in a
//! newline, a blank line, then one or more signature lines of the form
//! `— <key name> <base64(4-byte key ID || signature)>`. The text is split from
//! the signatures at the *last* blank line, so the text itself may contain
//! blank lines.
//!
//! A checkpoint (<https://c2sp.org/tlog-checkpoint>) is a note whose text is
//! the log origin, the decimal tree size and the base64 root hash, one per
//! line, optionally followed by non-empty extension lines.
//!
//! Key strings follow the format of Go's `golang.org/x/mod/sumdb/note`, which
//! every existing implementation shares:
//!
//! * verifier key: `<name>+<8 lowercase hex key ID>+<base64(0x01 || public key)>`
//! * signer key: `PRIVATE+KEY+<name>+<8 lowercase hex key ID>+<base64(0x01 || seed)>`
//!
//! Everything here parses input that comes from users and the network, so no
//! function panics: every malformed input becomes a [`NoteError`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
// Imported anonymously: the trait provides `sign`, and its name would clash
// with this module's own `Signer`.
use ed25519_dalek::Signer as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type identifier byte for plain Ed25519 signatures (C2SP signed-note).
const ALG_ED25519: u8 = 0x01;

/// The start of every signature line: U+2014 EM DASH followed by a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// The prefix of a signer (private) key string.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Upper bound on signature lines in one note. The spec requires accepting at
/// least 16; Go uses 100. The bound keeps a hostile note from making us parse
/// an unbounded number of lines.
const MAX_SIGNATURES: usize = 100;

/// Errors from parsing keys, signing, opening notes and parsing checkpoints.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// A key name is empty or contains a Unicode space or a `+`.
    #[error("invalid key name: must be non-empty and contain no whitespace or '+'")]
    InvalidKeyName,
    /// A verifier key string could not be parsed or is inconsistent.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A signer (private) key string could not be parsed or is inconsistent.
    #[error("malformed private key: {0}")]
    MalformedPrivateKey(&'static str),
    /// A key uses a signature type other than Ed25519 (0x01).
    #[error("unsupported signature type 0x{0:02x} (only Ed25519, 0x01, is supported)")]
    UnsupportedAlgorithm(u8),
    /// Text given to [`Signer::sign`] cannot be the text of a note.
    #[error("invalid note text: {0}")]
    InvalidText(&'static str),
    /// A note does not have the signed-note structure.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A note has no signature line with the verifier's key name and key ID.
    #[error("note has no signature by key {name}+{key_id}")]
    NoSignatureByKey {
        /// Key name of the verifier.
        name: String,
        /// Key ID of the verifier, as 8 lowercase hex digits.
        key_id: String,
    },
    /// A signature line names the verifier's key but does not verify.
    #[error("signature by key {name}+{key_id} does not verify")]
    BadSignature {
        /// Key name of the verifier.
        name: String,
        /// Key ID of the verifier, as 8 lowercase hex digits.
        key_id: String,
    },
    /// A checkpoint body does not follow the tlog-checkpoint format.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
}

/// Computes the C2SP key ID of an Ed25519 key: the first four bytes of
/// SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ALG_ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    let mut id = [0u8; 4];
    // The digest is always 32 bytes, so this slice has exactly 4.
    id.copy_from_slice(&digest[..4]);
    id
}

/// Reports whether `name` is a valid key name (C2SP: non-empty, no Unicode
/// spaces, no `+`). `char::is_whitespace` is the Unicode White_Space property,
/// the same set Go's `unicode.IsSpace` uses.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// Reports whether `s` contains an ASCII control character other than
/// newline, which signed notes must not contain.
fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// Parses exactly 8 lowercase hex digits. Only lowercase is accepted so a
/// parsed key string re-encodes to the identical string.
fn parse_key_id_hex(s: &str) -> Option<[u8; 4]> {
    if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(s, &mut id).ok()?;
    Some(id)
}

/// Decodes `base64(0x01 || 32 bytes)`, the key material of both key strings.
/// The `&'static str` error is the reason for the caller's error variant.
fn decode_key_material(b64: &str) -> Result<[u8; 32], Result<&'static str, u8>> {
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| Ok("key material is not valid base64"))?;
    let (&alg, key) = raw.split_first().ok_or(Ok("key material is empty"))?;
    if alg != ALG_ED25519 {
        return Err(Err(alg));
    }
    <[u8; 32]>::try_from(key).map_err(|_| Ok("Ed25519 key must be 32 bytes"))
}

/// A note signer holding an Ed25519 private key and its key name.
pub struct Signer {
    name: String,
    key: SigningKey,
    id: [u8; 4],
}

// Written by hand so that formatting a signer never prints the private key.
impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Builds a signer from a key name and a 32-byte Ed25519 seed (the RFC 8032
    /// private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// Returns the 32-byte Ed25519 seed.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the verifier for this signer's public key.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Encodes the signer key string,
    /// `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>`.
    pub fn private_key_string(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(ALG_ED25519);
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(&material)
        )
    }

    /// Parses a signer key string as produced by [`Signer::private_key_string`],
    /// checking that its key ID matches the name and the derived public key.
    pub fn parse_private_key(s: &str) -> Result<Self, NoteError> {
        let rest = s
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::MalformedPrivateKey(
                "missing PRIVATE+KEY+ prefix",
            ))?;
        // The name cannot contain '+', so the first two '+' delimit it and the
        // ID; the base64 material after them may itself contain '+'.
        let (name, rest) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedPrivateKey("missing key ID"))?;
        let (id_hex, b64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedPrivateKey("missing key material"))?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let id = parse_key_id_hex(id_hex).ok_or(NoteError::MalformedPrivateKey(
            "key ID must be 8 lowercase hex digits",
        ))?;
        let seed = decode_key_material(b64).map_err(|e| match e {
            Ok(reason) => NoteError::MalformedPrivateKey(reason),
            Err(alg) => NoteError::UnsupportedAlgorithm(alg),
        })?;
        let signer = Self::from_seed(name, seed)?;
        if signer.id != id {
            return Err(NoteError::MalformedPrivateKey(
                "key ID does not match name and key",
            ));
        }
        Ok(signer)
    }

    /// Signs `text` (must be non-empty and end in "\n") and returns the whole note text.
    ///
    /// The text must also contain no ASCII control characters other than
    /// newline, because the resulting note could not be opened otherwise.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if text.is_empty() {
            return Err(NoteError::InvalidText("text is empty"));
        }
        if !text.ends_with('\n') {
            return Err(NoteError::InvalidText("text does not end with a newline"));
        }
        if has_forbidden_control(text) {
            return Err(NoteError::InvalidText(
                "text contains a control character other than newline",
            ));
        }
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.id);
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(&blob)
        ))
    }
}

/// A note verifier: an Ed25519 public key with its key name and key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    /// Parses a verifier key string, `<name>+<key ID hex>+<base64(0x01 || public key)>`.
    ///
    /// The key ID must match the name and key. Small-order public keys and
    /// non-canonical point encodings are rejected: the former accept forged
    /// signatures, the latter give one key several IDs.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        // The name cannot contain '+', so the first two '+' delimit it and the
        // ID; the base64 material after them may itself contain '+'.
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("missing key ID"))?;
        let (id_hex, b64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("missing key material"))?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let id = parse_key_id_hex(id_hex).ok_or(NoteError::MalformedVerifierKey(
            "key ID must be 8 lowercase hex digits",
        ))?;
        let public = decode_key_material(b64).map_err(|e| match e {
            Ok(reason) => NoteError::MalformedVerifierKey(reason),
            Err(alg) => NoteError::UnsupportedAlgorithm(alg),
        })?;
        if key_id(name, &public) != id {
            return Err(NoteError::MalformedVerifierKey(
                "key ID does not match name and key",
            ));
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| {
            NoteError::MalformedVerifierKey("public key is not a valid Ed25519 point")
        })?;
        if key.is_weak() {
            return Err(NoteError::MalformedVerifierKey(
                "public key is a small-order point",
            ));
        }
        if key.to_edwards().compress().to_bytes() != public {
            return Err(NoteError::MalformedVerifierKey(
                "public key is not canonically encoded",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Encodes the verifier key string,
    /// `<name>+<key ID hex>+<base64(0x01 || public key)>`.
    pub fn encode(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(ALG_ED25519);
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            STANDARD.encode(&material)
        )
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// Opens a note: finds a signature line with this verifier's name and key id, checks it, returns the signed text. Other signers' lines are ignored (unknown signers are allowed), but any malformed signature line is an error. Error if no line by this key, or the signature does not verify.
    ///
    /// If several lines carry this key's name and ID, all must verify: the
    /// spec says a failing signature from a known key should reject the note.
    pub fn open(&self, note: &str) -> Result<String, NoteError> {
        if has_forbidden_control(note) {
            return Err(NoteError::MalformedNote(
                "note contains a control character other than newline",
            ));
        }
        // The text keeps its final newline; the blank line after it separates
        // it from the signatures and belongs to neither.
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::MalformedNote("no blank line before signatures"))?;
        // `split` is the byte offset of two ASCII newlines, so both bounds
        // are in range and on character boundaries: this cannot panic.
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        let sig_lines = sigs.strip_suffix('\n').ok_or(NoteError::MalformedNote(
            "signature block is empty or lacks a final newline",
        ))?;

        let mut found = false;
        for (count, line) in sig_lines.split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(NoteError::MalformedNote("too many signatures"));
            }
            let (name, id, sig) = parse_signature_line(line)?;
            if name != self.name || id != self.id {
                continue;
            }
            found = true;
            let ok = <[u8; 64]>::try_from(sig).is_ok_and(|bytes| {
                self.key
                    .verify_strict(text.as_bytes(), &Signature::from_bytes(&bytes))
                    .is_ok()
            });
            if !ok {
                return Err(NoteError::BadSignature {
                    name: self.name.clone(),
                    key_id: hex::encode(self.id),
                });
            }
        }
        if !found {
            return Err(NoteError::NoSignatureByKey {
                name: self.name.clone(),
                key_id: hex::encode(self.id),
            });
        }
        Ok(text.to_owned())
    }
}

/// Splits one signature line (without its newline) into key name, key ID and
/// signature bytes. Applies the checks that hold for every signer, known or
/// not, so that a malformed line is rejected even if it is not ours.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::MalformedNote(
            "signature line does not start with an em dash and a space",
        ))?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::MalformedNote(
        "signature line has no space after the key name",
    ))?;
    if !is_valid_name(name) {
        return Err(NoteError::MalformedNote(
            "signature line has an invalid key name",
        ));
    }
    let blob = STANDARD
        .decode(b64)
        .map_err(|_| NoteError::MalformedNote("signature is not valid base64"))?;
    let (id, sig) = blob
        .split_first_chunk::<4>()
        .filter(|(_, sig)| !sig.is_empty())
        .ok_or(NoteError::MalformedNote(
            "signature is shorter than a key ID plus one byte",
        ))?;
    Ok((name, *id, sig.to_vec()))
}

/// The body of a C2SP tlog checkpoint: the note text a log signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identifier of the log, e.g. `example.com/log42`; non-empty.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree root hash at `size`.
    pub root: [u8; 32],
    /// Opaque extension lines, each non-empty and without newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Formats the checkpoint as note text, every line ending in a newline.
    ///
    /// This does not validate the fields: an empty origin or an extension
    /// that is empty or contains a newline yields text that
    /// [`Checkpoint::parse`] rejects.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        text
    }

    /// Parses checkpoint note text (as returned by [`Verifier::open`]).
    ///
    /// Strict: the size must be canonical decimal, the root canonical
    /// standard base64 of exactly 32 bytes, every line non-empty and
    /// newline-terminated, and no control characters other than newline.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedCheckpoint(
                "text does not end with a newline",
            ))?;
        if has_forbidden_control(body) {
            return Err(NoteError::MalformedCheckpoint(
                "text contains a control character other than newline",
            ));
        }
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::MalformedCheckpoint("origin line is empty"))?;
        let size_line = lines
            .next()
            .ok_or(NoteError::MalformedCheckpoint("missing tree size line"))?;
        let root_line = lines
            .next()
            .ok_or(NoteError::MalformedCheckpoint("missing root hash line"))?;
        let size = parse_tree_size(size_line)?;
        let root_bytes = STANDARD
            .decode(root_line)
            .map_err(|_| NoteError::MalformedCheckpoint("root hash is not valid base64"))?;
        let root = <[u8; 32]>::try_from(root_bytes.as_slice())
            .map_err(|_| NoteError::MalformedCheckpoint("root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for ext in lines {
            if ext.is_empty() {
                return Err(NoteError::MalformedCheckpoint("extension line is empty"));
            }
            extensions.push(ext.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Parses a tree size: ASCII decimal digits, no sign, no leading zeros except
/// for "0" itself, fitting in a u64. `str::parse` alone would accept "+5" and
/// "007", which have other spellings and so are not canonical.
fn parse_tree_size(line: &str) -> Result<u64, NoteError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NoteError::MalformedCheckpoint(
            "tree size is not a decimal number",
        ));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(NoteError::MalformedCheckpoint(
            "tree size has leading zeros",
        ));
    }
    line.parse()
        .map_err(|_| NoteError::MalformedCheckpoint("tree size does not fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // golang.org/x/mod/sumdb/note note_test.go: key pair and signed note.
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                              then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    // Same test file: a second signer over the same text.
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    // The example of the C2SP signed-note spec (an earlier revision of
    // signed-note.md). The signature verifying under the key is itself the
    // proof that this pair is genuine.
    const FOO_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const FOO_TEXT: &str = "This is an example message.\n";
    const FOO_SIG: &str = "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn signer(name: &str, seed_byte: u8) -> Signer {
        Signer::from_seed(name, [seed_byte; 32]).expect("valid test signer")
    }

    fn checkpoint_text() -> String {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 12345,
            root: [7u8; 32],
            extensions: vec![],
        }
        .to_text()
    }

    fn bad_signature(v: &Verifier) -> NoteError {
        NoteError::BadSignature {
            name: v.name().to_owned(),
            key_id: hex::encode(v.key_id()),
        }
    }

    fn no_signature(v: &Verifier) -> NoteError {
        NoteError::NoSignatureByKey {
            name: v.name().to_owned(),
            key_id: hex::encode(v.key_id()),
        }
    }

    // --- 1. published vectors ---

    #[test]
    fn go_example_note_verifies() {
        let v = Verifier::parse(PETER_VKEY).unwrap();
        let note = format!("{PETER_TEXT}\n{PETER_SIG}");
        assert_eq!(v.open(&note).unwrap(), PETER_TEXT);
        assert_eq!(v.encode(), PETER_VKEY);
    }

    #[test]
    fn go_private_key_reproduces_published_note() {
        // Ed25519 is deterministic, so signing must give the exact bytes.
        let s = Signer::parse_private_key(PETER_SKEY).unwrap();
        assert_eq!(s.private_key_string(), PETER_SKEY);
        assert_eq!(s.verifier().encode(), PETER_VKEY);
        assert_eq!(
            s.sign(PETER_TEXT).unwrap(),
            format!("{PETER_TEXT}\n{PETER_SIG}")
        );
    }

    #[test]
    fn go_two_signer_note_opens_for_each_key() {
        let note = format!("{PETER_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        for vkey in [PETER_VKEY, ENOCH_VKEY] {
            let v = Verifier::parse(vkey).unwrap();
            assert_eq!(v.open(&note).unwrap(), PETER_TEXT, "{vkey}");
        }
    }

    #[test]
    fn spec_example_key_parses_and_key_id_matches() {
        let v = Verifier::parse(FOO_VKEY).unwrap();
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.key_id(), [0x53, 0x0d, 0x90, 0x3a]);
        assert_eq!(v.encode(), FOO_VKEY);
        // Recompute the ID from raw key bytes: checks the key-ID formula
        // against published data, independently of parse().
        let (_, b64) = FOO_VKEY.rsplit_once('+').unwrap();
        let raw = STANDARD.decode(b64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        let pk: [u8; 32] = raw[1..].try_into().unwrap();
        assert_eq!(key_id("example.com/foo", &pk), v.key_id());
    }

    #[test]
    fn spec_example_note_verifies() {
        let v = Verifier::parse(FOO_VKEY).unwrap();
        let note = format!("{FOO_TEXT}\n{FOO_SIG}");
        assert_eq!(v.open(&note).unwrap(), FOO_TEXT);
    }

    #[test]
    fn spec_checkpoint_example_parses() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let c = Checkpoint::parse(text).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20_852_163);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), text);
    }

    // --- 2. round trips ---

    #[test]
    fn sign_open_round_trip() {
        let s = signer("example.com/log", 1);
        let text = checkpoint_text();
        let note = s.sign(&text).unwrap();
        let v = s.verifier();
        assert_eq!(v.open(&note).unwrap(), text);
        assert_eq!(v.key_id(), key_id(s.name(), v.key.as_bytes()));
        assert_eq!(
            Checkpoint::parse(&v.open(&note).unwrap()).unwrap().size,
            12345
        );
    }

    #[test]
    fn key_strings_round_trip() {
        let s = signer("example.com/log", 2);
        let sk = s.private_key_string();
        assert!(sk.starts_with("PRIVATE+KEY+example.com/log+"));
        let s2 = Signer::parse_private_key(&sk).unwrap();
        assert_eq!(s2.seed(), s.seed());
        assert_eq!(s2.name(), s.name());
        assert_eq!(s2.private_key_string(), sk);

        let vk = s.verifier().encode();
        let v = Verifier::parse(&vk).unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(v.encode(), vk);
    }

    #[test]
    fn text_with_blank_lines_round_trips() {
        // The split is at the last blank line, so inner and trailing blank
        // lines stay in the text.
        let s = signer("n", 3);
        for text in ["a\n\nb\n", "a\n\n", "\n", "x\n\n\n"] {
            let note = s.sign(text).unwrap();
            assert_eq!(s.verifier().open(&note).unwrap(), text, "{text:?}");
        }
    }

    #[test]
    fn unknown_signers_are_ignored() {
        let a = signer("a.example", 4);
        let b = signer("b.example", 5);
        let text = checkpoint_text();
        let note_a = a.sign(&text).unwrap();
        let note_b = b.sign(&text).unwrap();
        // Append b's signature line after a's.
        let b_line = &note_b[text.len() + 1..];
        let both = format!("{note_a}{b_line}");
        assert_eq!(a.verifier().open(&both).unwrap(), text);
        assert_eq!(b.verifier().open(&both).unwrap(), text);
        // Only an unknown signer: no signature by this key.
        let c = signer("c.example", 6).verifier();
        assert_eq!(c.open(&both), Err(no_signature(&c)));
    }

    // --- 3. tampering and malformed input ---

    #[test]
    fn tampered_text_fails() {
        let s = signer("example.com/log", 7);
        let note = s.sign(&checkpoint_text()).unwrap();
        let tampered = note.replacen("12345", "12346", 1);
        assert_ne!(tampered, note);
        let v = s.verifier();
        assert_eq!(v.open(&tampered), Err(bad_signature(&v)));
    }

    #[test]
    fn tampered_signature_fails() {
        let s = signer("example.com/log", 8);
        let text = checkpoint_text();
        let note = s.sign(&text).unwrap();
        let prefix = format!("{text}\n\u{2014} example.com/log ");
        let b64 = note[prefix.len()..].trim_end_matches('\n');
        let mut blob = STANDARD.decode(b64).unwrap();
        blob[10] ^= 1; // inside the signature, after the 4-byte key ID
        let tampered = format!("{prefix}{}\n", STANDARD.encode(&blob));
        let v = s.verifier();
        assert_eq!(v.open(&tampered), Err(bad_signature(&v)));

        // A truncated signature with the right key ID is also a bad signature.
        let short = format!("{prefix}{}\n", STANDARD.encode(&blob[..40]));
        assert_eq!(v.open(&short), Err(bad_signature(&v)));
    }

    #[test]
    fn other_key_with_same_name_is_not_a_signature() {
        let s = signer("example.com/log", 9);
        let impostor = signer("example.com/log", 10);
        let note = impostor.sign(&checkpoint_text()).unwrap();
        let v = s.verifier();
        assert_ne!(v.key_id(), impostor.verifier().key_id());
        assert_eq!(v.open(&note), Err(no_signature(&v)));
    }

    #[test]
    fn same_name_and_id_but_wrong_key_fails_verification() {
        // Forge a line carrying our name and ID but signed by another key.
        let s = signer("example.com/log", 11);
        let other = signer("example.com/log", 12);
        let text = checkpoint_text();
        let mut blob = s.id.to_vec();
        blob.extend_from_slice(&other.key.sign(text.as_bytes()).to_bytes());
        let note = format!(
            "{text}\n\u{2014} example.com/log {}\n",
            STANDARD.encode(&blob)
        );
        let v = s.verifier();
        assert_eq!(v.open(&note), Err(bad_signature(&v)));
        // A bad duplicate after a good signature still rejects the note.
        let good = s.sign(&text).unwrap();
        let dup = format!("{good}{}", &note[text.len() + 1..]);
        assert_eq!(v.open(&dup), Err(bad_signature(&v)));
    }

    #[test]
    fn missing_signature_block_fails() {
        let s = signer("example.com/log", 13);
        let text = checkpoint_text();
        let v = s.verifier();
        assert!(matches!(v.open(&text), Err(NoteError::MalformedNote(_))));
        assert!(matches!(
            v.open(&format!("{text}\n")),
            Err(NoteError::MalformedNote(_))
        ));
        assert!(matches!(v.open(""), Err(NoteError::MalformedNote(_))));
        // Signature block without its final newline.
        let note = s.sign(&text).unwrap();
        assert!(matches!(
            v.open(note.trim_end_matches('\n')),
            Err(NoteError::MalformedNote(_))
        ));
    }

    #[test]
    fn malformed_signature_lines_fail() {
        let s = signer("example.com/log", 14);
        let text = checkpoint_text();
        let good = s.sign(&text).unwrap();
        let v = s.verifier();
        let bad_lines = [
            "- example.com/log AAAAAAAA\n",         // ASCII hyphen, not em dash
            "\u{2014}example.com/log AAAAAAAA\n",   // no space after dash
            "\u{2014} example.com/log\n",           // no signature
            "\u{2014} example.com/log \n",          // empty signature
            "\u{2014} example.com/log !!!!\n",      // not base64
            "\u{2014} example.com/log AAAAAA==\n",  // only 4 bytes
            "\u{2014} example.com/log AAAAAAA\n",   // bad padding
            "\u{2014} a+b AAAAAAAA\n",              // '+' in name
            "\u{2014}  AAAAAAAA\n",                 // empty name
            "\u{2014} a\u{a0}b AAAAAAAA\n",         // NBSP in name
            "\u{2014} example.com/log AAAA AAAA\n", // space in signature
        ];
        for line in bad_lines {
            // After a good signature, before it, and alone.
            for note in [
                format!("{good}{line}"),
                format!("{text}\n{line}{}", &good[text.len() + 1..]),
                format!("{text}\n{line}"),
            ] {
                assert!(
                    matches!(v.open(&note), Err(NoteError::MalformedNote(_))),
                    "{note:?}"
                );
            }
        }
    }

    #[test]
    fn control_characters_are_rejected() {
        let s = signer("n", 15);
        assert!(matches!(s.sign("a\tb\n"), Err(NoteError::InvalidText(_))));
        assert!(matches!(s.sign("a\r\n"), Err(NoteError::InvalidText(_))));
        let note = s.sign("a b\n").unwrap().replace(' ', "\t");
        assert!(matches!(
            s.verifier().open(&note),
            Err(NoteError::MalformedNote(_))
        ));
    }

    #[test]
    fn too_many_signatures_are_rejected() {
        let s = signer("n", 16);
        let note = s.sign("x\n").unwrap();
        let other = signer("o", 17).sign("x\n").unwrap();
        let other_line = &other[3..];
        let mut many = note.clone();
        for _ in 0..(MAX_SIGNATURES - 1) {
            many.push_str(other_line);
        }
        assert_eq!(s.verifier().open(&many).unwrap(), "x\n");
        many.push_str(other_line);
        assert!(matches!(
            s.verifier().open(&many),
            Err(NoteError::MalformedNote(_))
        ));
    }

    #[test]
    fn truncated_notes_never_panic_and_fail() {
        let s = signer("example.com/log", 18);
        let note = s.sign(&checkpoint_text()).unwrap();
        let v = s.verifier();
        for i in 0..note.len() {
            if note.is_char_boundary(i) {
                assert!(v.open(&note[..i]).is_err(), "prefix {i}");
                assert!(v.open(&note[i..]).is_err() || i == 0, "suffix {i}");
            }
        }
    }

    #[test]
    fn sign_rejects_bad_text() {
        let s = signer("n", 19);
        assert!(matches!(s.sign(""), Err(NoteError::InvalidText(_))));
        assert!(matches!(
            s.sign("no newline"),
            Err(NoteError::InvalidText(_))
        ));
    }

    #[test]
    fn key_names_are_validated() {
        for bad in ["", "a b", "a+b", "a\u{a0}b", "a\u{2003}b", "a\tb", "a\nb"] {
            assert_eq!(
                Signer::from_seed(bad, [1; 32]).map(|_| ()),
                Err(NoteError::InvalidKeyName),
                "{bad:?}"
            );
        }
        assert!(Signer::from_seed("example.com/ünïcode", [1; 32]).is_ok());
    }

    #[test]
    fn mangled_verifier_keys_are_rejected() {
        // As Go's TestNewVerifier: every proper substring and every one-byte
        // increment of a valid key must fail to parse.
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                if let Ok(s) = std::str::from_utf8(&b[i..j]) {
                    assert!(Verifier::parse(s).is_err(), "{s:?}");
                }
            }
        }
        let mut m = b.to_vec();
        for i in 0..m.len() {
            m[i] = m[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&m) {
                assert!(Verifier::parse(s).is_err(), "{s:?}");
            }
            m[i] = m[i].wrapping_sub(1);
        }
        // Uppercase hex ID, wrong algorithm byte, wrong key length.
        assert!(Verifier::parse(&PETER_VKEY.replace("c74f20a3", "C74F20A3")).is_err());
        let pk = Verifier::parse(PETER_VKEY).unwrap().key.to_bytes();
        let mut material = vec![0x02];
        material.extend_from_slice(&pk);
        let vk = format!("PeterNeumann+c74f20a3+{}", STANDARD.encode(&material));
        assert_eq!(
            Verifier::parse(&vk),
            Err(NoteError::UnsupportedAlgorithm(2))
        );
        material[0] = ALG_ED25519;
        let vk = format!("PeterNeumann+c74f20a3+{}", STANDARD.encode(&material[..32]));
        assert!(matches!(
            Verifier::parse(&vk),
            Err(NoteError::MalformedVerifierKey(_))
        ));
    }

    /// Builds a verifier key string for raw public key bytes with a correct ID.
    fn vkey_for(name: &str, pk: &[u8; 32]) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(pk);
        format!(
            "{name}+{}+{}",
            hex::encode(key_id(name, pk)),
            STANDARD.encode(&material)
        )
    }

    #[test]
    fn weak_and_non_canonical_public_keys_are_rejected() {
        // The identity point is of small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            Verifier::parse(&vkey_for("w", &identity)),
            Err(NoteError::MalformedVerifierKey(_))
        ));
        // y = p + k for small k is a non-canonical encoding of y = k.
        let mut found = 0;
        for k in 0u8..19 {
            let mut y = [0xffu8; 32];
            y[0] = 0xed + k;
            y[31] = 0x7f;
            if VerifyingKey::from_bytes(&y).is_ok() {
                found += 1;
                assert!(
                    matches!(
                        Verifier::parse(&vkey_for("w", &y)),
                        Err(NoteError::MalformedVerifierKey(_))
                    ),
                    "k={k}"
                );
            }
        }
        assert!(found > 0);
    }

    #[test]
    fn private_key_errors() {
        let sk = signer("n", 20).private_key_string();
        assert!(Signer::parse_private_key(&sk[1..]).is_err());
        assert!(Signer::parse_private_key(&sk[..sk.len() - 4]).is_err());
        // Wrong key ID.
        let id = &sk["PRIVATE+KEY+n+".len().."PRIVATE+KEY+n+".len() + 8];
        let wrong = sk.replacen(id, "00000000", 1);
        assert!(matches!(
            Signer::parse_private_key(&wrong),
            Err(NoteError::MalformedPrivateKey(_))
        ));
        assert_eq!(
            Signer::parse_private_key("PRIVATE+KEY+a b+00000000+AQ==").map(|_| ()),
            Err(NoteError::InvalidKeyName)
        );
        // Debug output must not reveal the seed.
        let dbg = format!("{:?}", signer("n", 0xab));
        assert!(!dbg.contains("abab") && !dbg.contains("171"), "{dbg}");
    }

    // --- 4. checkpoints ---

    #[test]
    fn checkpoint_round_trips() {
        let mut root = [0u8; 32];
        for (i, b) in root.iter_mut().enumerate() {
            *b = i as u8 * 7;
        }
        for extensions in [vec![], vec!["ext one".to_owned(), "— two".to_owned()]] {
            for size in [0, 1, 10, u64::MAX] {
                let c = Checkpoint {
                    origin: "example.com/log42".into(),
                    size,
                    root,
                    extensions: extensions.clone(),
                };
                let text = c.to_text();
                assert_eq!(text.lines().count(), 3 + extensions.len());
                assert_eq!(Checkpoint::parse(&text).unwrap(), c);
            }
        }
    }

    #[test]
    fn checkpoint_rejects_malformed() {
        let root = STANDARD.encode([1u8; 32]);
        let short_root = STANDARD.encode([1u8; 31]);
        let long_root = STANDARD.encode([1u8; 33]);
        let bad = [
            format!("o\n012\n{root}\n"),                     // leading zero
            format!("o\n00\n{root}\n"),                      // leading zero
            format!("o\n+12\n{root}\n"),                     // sign
            format!("o\n-1\n{root}\n"),                      // negative
            format!("o\n 12\n{root}\n"),                     // space
            format!("o\n\n{root}\n"),                        // empty size
            format!("o\n18446744073709551616\n{root}\n"),    // u64 overflow
            format!("o\n12\n{short_root}\n"),                // 31-byte root
            format!("o\n12\n{long_root}\n"),                 // 33-byte root
            format!("o\n12\n{}\n", &root[..root.len() - 1]), // bad padding
            "o\n12\n".to_owned(),                            // missing root line
            "o\n".to_owned(),                                // missing size and root
            String::new(),                                   // empty
            format!("o\n12\n{root}"),                        // no final newline
            format!("\n12\n{root}\n"),                       // empty origin
            format!("o\n12\n{root}\n\n"),                    // empty extension line
            format!("o\n12\n{root}\next\n\n"),               // empty extension line
            format!("o\r\n12\n{root}\n"),                    // carriage return
        ];
        for text in &bad {
            assert!(
                matches!(
                    Checkpoint::parse(text),
                    Err(NoteError::MalformedCheckpoint(_))
                ),
                "{text:?}"
            );
        }
        assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
    }

    #[test]
    fn error_messages_are_readable() {
        let v = Verifier::parse(PETER_VKEY).unwrap();
        assert_eq!(
            no_signature(&v).to_string(),
            "note has no signature by key PeterNeumann+c74f20a3"
        );
        assert_eq!(
            NoteError::UnsupportedAlgorithm(4).to_string(),
            "unsupported signature type 0x04 (only Ed25519, 0x01, is supported)"
        );
    }
}
