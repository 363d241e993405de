//! Backups: every row of every engine table as of one commit, cut into content-defined chunks
//! that are compressed, optionally encrypted, and stored under their hash, so a second backup to
//! the same directory writes only the chunks that changed; a manifest per backup; retention;
//! a check of everything stored; and a restore into a new directory. Format byte by byte in
//! `docs/backup.md`.
//!
//! A backup is logical: it streams every table of one engine read snapshot (blocks, indexes,
//! history, trie nodes, metadata), so commits go on meanwhile and the copy is consistent as of
//! the snapshot's commit. A chunk ends after a row whose key hash falls under a threshold
//! proportional to the row's size (at least [`CHUNK_MIN`] bytes, at most [`CHUNK_MAX`]), so a
//! boundary depends on the rows near it only, and rows inserted or changed elsewhere leave the
//! other chunks, and their hashes, as they were.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{B256, hex};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::Options;
use serde::{Deserialize, Serialize};

use crate::error::{ChainError, Result};
use crate::store::head_in;
use crate::{ChainStore, Header};

/// The raw (uncompressed) bytes a chunk holds on average.
pub const BACKUP_CHUNK_TARGET: usize = 16 << 10;
/// No chunk ends before this many raw bytes (except a table's last).
const CHUNK_MIN: usize = 4 << 10;
/// A chunk ends after the row that brings it to this many raw bytes, whatever the row's key.
const CHUNK_MAX: usize = 64 << 10;
/// The file that makes a directory a backup directory.
const MARKER: &str = "BACKUP";
/// The lock file of a backup directory.
const LOCK: &str = "LOCK";
/// The `format` field of the marker.
const FORMAT_NAME: &str = "chainstore-backup";
/// The format version this code writes and reads.
const FORMAT_VERSION: u32 = 1;
/// The first bytes of every encrypted object.
const SEAL_MAGIC: [u8; 8] = *b"CSBKSEAL";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const SEAL_HEADER_LEN: usize = SEAL_MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
/// Rows restored per engine transaction, by raw bytes (well under a log segment).
const RESTORE_BATCH_BYTES: usize = 4 << 20;
/// zstd level of chunks.
const ZSTD_LEVEL: i32 = 3;
/// The suffix of files being written (removed by retention if a crash left them).
const TMP_SUFFIX: &str = ".tmp";
/// The directory a rekey stages its new manifests and marker in.
const REKEY_DIR: &str = "rekey";

/// A 32-byte backup encryption key. Its bytes are never written to a backup directory; its id
/// (a hash of it, [`id`](Self::id)) is.
#[derive(Clone)]
pub struct BackupKey {
    key: [u8; 32],
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupKey({})", self.id())
    }
}

impl BackupKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// Reads a key file: exactly 32 bytes (raw), or 64 hex digits (an optional `0x` and
    /// surrounding whitespace allowed).
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(io(path))?;
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(Self { key });
        }
        let text = std::str::from_utf8(&bytes).unwrap_or_default().trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        match hex::decode(digits).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(key) => Ok(Self { key }),
            None => Err(bad(
                path,
                format!(
                    "not a backup key: a key file holds 32 raw bytes or 64 hex digits ({} bytes \
                     found)",
                    bytes.len()
                ),
            )),
        }
    }

    /// The key's id: the first 8 bytes of a BLAKE3 key derivation from it, in hex. Recorded in
    /// the backup directory and in every encrypted object, so a wrong key is named as such.
    pub fn id(&self) -> String {
        hex::encode(&self.derive("chainstore backup v1 key id")[..KEY_ID_LEN])
    }

    fn id_bytes(&self) -> [u8; KEY_ID_LEN] {
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&self.derive("chainstore backup v1 key id")[..KEY_ID_LEN]);
        id
    }

    fn derive(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.derive("chainstore backup v1 seal").into())
    }
}

/// The head of the store as of a backup's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupHead {
    /// The head block's number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its state root.
    pub state_root: B256,
}

/// One chunk of a table's rows, as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkRef {
    /// Its address: the BLAKE3 hash of its raw bytes (keyed, in an encrypted backup), 64 hex
    /// digits; the file is `chunks/<first 2 digits>/<hash>`.
    pub hash: String,
    /// Rows in it.
    pub rows: u64,
    /// Its raw (uncompressed, unencrypted) bytes.
    pub raw: u64,
    /// The bytes of its file.
    pub stored: u64,
}

/// One table of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableManifest {
    /// The engine table's name.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// The raw bytes of its chunks.
    pub raw_bytes: u64,
    /// Its chunks, in key order.
    pub chunks: Vec<ChunkRef>,
}

/// The totals of a backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupTotals {
    /// Tables.
    pub tables: u64,
    /// Rows.
    pub rows: u64,
    /// Chunks referenced.
    pub chunks: u64,
    /// Raw bytes of the chunks referenced.
    pub raw_bytes: u64,
    /// Stored bytes of the chunks referenced (what a restore reads).
    pub referenced_bytes: u64,
    /// Chunks this backup wrote (not already in the directory).
    pub new_chunks: u64,
    /// Stored bytes of the chunks this backup wrote.
    pub written_bytes: u64,
}

/// A backup's manifest: what it holds and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupManifest {
    /// The format version, `1`.
    pub format: u32,
    /// The backup's id: its creation time, `YYYYMMDD-HHMMSS-mmm` (UTC); ids sort by age.
    pub id: String,
    /// The creation time, RFC 3339 (UTC).
    pub created: String,
    /// The creation time in seconds since the Unix epoch.
    pub created_unix: u64,
    /// The head as of the backup's snapshot.
    pub head: BackupHead,
    /// The engine's commit sequence number of that snapshot.
    pub engine_seq: u64,
    /// Every engine table, in name order.
    pub tables: Vec<TableManifest>,
    /// Totals.
    pub totals: BackupTotals,
}

/// How far a backup, a check or a restore got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackupProgress {
    /// Rows read or written so far.
    pub rows: u64,
    /// Chunks done so far.
    pub chunks: u64,
    /// Raw bytes so far.
    pub raw_bytes: u64,
    /// Bytes written to files so far (a backup) or read (a check or restore).
    pub file_bytes: u64,
}

/// Hands `p` to the caller's progress callback and to the metrics
/// (`chainstore_backup_rows{op}`, `chainstore_backup_bytes{op}`, `docs/metrics.md`).
fn report(op: &'static str, progress: &mut dyn FnMut(&BackupProgress), p: &BackupProgress) {
    metrics::gauge!("chainstore_backup_rows", "op" => op).set(p.rows as f64);
    metrics::gauge!("chainstore_backup_bytes", "op" => op).set(p.file_bytes as f64);
    progress(p);
}

/// What retention removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupPruneReport {
    /// The ids of the backups removed.
    pub removed: Vec<String>,
    /// The ids of the backups kept.
    pub kept: Vec<String>,
    /// Chunk files removed (no kept backup references them).
    pub chunks_removed: u64,
    /// Their bytes.
    pub bytes_freed: u64,
}

/// What [`verify_backups`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupCheck {
    /// Backups (manifests) read.
    pub backups: u64,
    /// Distinct chunks read and checked.
    pub chunks: u64,
    /// Their stored bytes.
    pub bytes: u64,
}

fn bad(path: &Path, detail: impl Into<String>) -> ChainError {
    ChainError::Backup { path: path.to_path_buf(), detail: detail.into() }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ChainError + '_ {
    move |source| ChainError::BackupIo { path: path.to_path_buf(), source }
}

/// A backup directory opened with its key (if it is encrypted).
struct Dest<'k> {
    root: PathBuf,
    key: Option<&'k BackupKey>,
    /// Held for the handle's life: exclusive for writers, shared for readers.
    _lock: Option<File>,
}

/// The marker file's contents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    format: String,
    version: u32,
    /// The id of the key every object is encrypted with, or `None` for a plain backup.
    key_id: Option<String>,
}

impl<'k> Dest<'k> {
    /// Opens an existing backup directory, checking the key against it.
    fn open(root: &Path, key: Option<&'k BackupKey>, exclusive: bool) -> Result<Self> {
        let marker_path = root.join(MARKER);
        if !root.is_dir() {
            return Err(bad(root, "no such directory"));
        }
        if !marker_path.exists() {
            return Err(bad(root, format!("not a backup directory (it has no {MARKER} file)")));
        }
        let lock = lock(root, exclusive)?;
        finish_rekey(root, exclusive)?;
        let text = fs::read(&marker_path).map_err(io(&marker_path))?;
        let marker: Marker = serde_json::from_slice(&text)
            .map_err(|e| bad(&marker_path, format!("not a backup marker: {e}")))?;
        if marker.format != FORMAT_NAME || marker.version != FORMAT_VERSION {
            return Err(bad(
                &marker_path,
                format!(
                    "format {} version {}; this build reads {FORMAT_NAME} version {FORMAT_VERSION}",
                    marker.format, marker.version
                ),
            ));
        }
        match (&marker.key_id, key) {
            (None, None) => {}
            (Some(id), None) => {
                return Err(bad(
                    root,
                    format!("this backup is encrypted (key id {id}): give its key (--key-file)"),
                ));
            }
            (None, Some(_)) => {
                return Err(bad(root, "this backup is not encrypted, but a key was given"));
            }
            (Some(id), Some(k)) if *id != k.id() => {
                return Err(bad(
                    root,
                    format!(
                        "the key does not match this backup's key (the backup's key id is {id}, \
                         the given key's is {})",
                        k.id()
                    ),
                ));
            }
            (Some(_), Some(_)) => {}
        }
        Ok(Self { root: root.to_path_buf(), key, _lock: lock })
    }

    /// Opens a backup directory for a new backup, making one of a missing or empty directory.
    fn create_or_open(root: &Path, key: Option<&'k BackupKey>) -> Result<Self> {
        if root.join(MARKER).exists() {
            return Self::open(root, key, true);
        }
        if root.exists() {
            let mut entries = fs::read_dir(root).map_err(io(root))?;
            if entries.next().is_some() {
                return Err(bad(
                    root,
                    format!(
                        "not a backup directory (it has no {MARKER} file) and not empty; give a \
                         new or empty directory"
                    ),
                ));
            }
        }
        fs::create_dir_all(root.join("chunks")).map_err(io(root))?;
        fs::create_dir_all(root.join("backups")).map_err(io(root))?;
        let marker = Marker {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            key_id: key.map(BackupKey::id),
        };
        let text = serde_json::to_vec_pretty(&marker)
            .map_err(|e| bad(root, format!("cannot encode the marker: {e}")))?;
        write_atomic(&root.join(MARKER), &text, true)?;
        sync_dir(root)?;
        Self::open(root, key, true)
    }

    fn chunk_path(&self, hash: &str) -> PathBuf {
        self.root.join("chunks").join(hash.get(..2).unwrap_or("xx")).join(hash)
    }

    fn manifest_dir(&self) -> PathBuf {
        self.root.join("backups")
    }

    fn manifest_path(&self, id: &str) -> PathBuf {
        let ext = if self.key.is_some() { "sealed" } else { "json" };
        self.manifest_dir().join(format!("{id}.{ext}"))
    }

    /// A chunk's address.
    fn address(&self, raw: &[u8]) -> String {
        match self.key {
            None => blake3::hash(raw).to_hex().to_string(),
            Some(k) => blake3::keyed_hash(&k.derive("chainstore backup v1 chunk address"), raw)
                .to_hex()
                .to_string(),
        }
    }

    /// `data` as stored: itself, or sealed with the key, bound to the object's `name`.
    fn seal(&self, name: &str, data: Vec<u8>) -> Result<Vec<u8>> {
        let Some(key) = self.key else { return Ok(data) };
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = Vec::with_capacity(SEAL_HEADER_LEN + data.len() + 16);
        out.extend_from_slice(&SEAL_MAGIC);
        out.extend_from_slice(&key.id_bytes());
        out.extend_from_slice(&nonce);
        let aad = aad(&out[..SEAL_MAGIC.len() + KEY_ID_LEN], name);
        let sealed = key
            .cipher()
            .encrypt(&nonce, Payload { msg: &data, aad: &aad })
            .map_err(|_| bad(&self.root, format!("cannot encrypt {name}")))?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The contents of a stored object at `path` named `name`, unsealed if encrypted.
    fn unseal(&self, path: &Path, name: &str, stored: Vec<u8>) -> Result<Vec<u8>> {
        let Some(key) = self.key else { return Ok(stored) };
        if stored.len() < SEAL_HEADER_LEN + 16 || stored[..SEAL_MAGIC.len()] != SEAL_MAGIC {
            return Err(bad(path, "not an encrypted backup object (the file is damaged)"));
        }
        let id = &stored[SEAL_MAGIC.len()..SEAL_MAGIC.len() + KEY_ID_LEN];
        if id != key.id_bytes() {
            return Err(bad(
                path,
                format!(
                    "the key does not match this object's key (its key id is {}, the given key's \
                     is {})",
                    hex::encode(id),
                    key.id()
                ),
            ));
        }
        let nonce = XNonce::from_slice(&stored[SEAL_MAGIC.len() + KEY_ID_LEN..SEAL_HEADER_LEN]);
        let aad = aad(&stored[..SEAL_MAGIC.len() + KEY_ID_LEN], name);
        key.cipher()
            .decrypt(nonce, Payload { msg: &stored[SEAL_HEADER_LEN..], aad: &aad })
            .map_err(|_| bad(path, "its authentication tag does not match (the file is damaged)"))
    }

    /// The ids of the backups, oldest first.
    fn ids(&self) -> Result<Vec<String>> {
        let dir = self.manifest_dir();
        let ext = if self.key.is_some() { ".sealed" } else { ".json" };
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let name = entry.map_err(io(&dir))?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(ext)) {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn read_manifest(&self, id: &str) -> Result<BackupManifest> {
        let path = self.manifest_path(id);
        let stored = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(&self.root, format!("no backup with id {id}")),
            _ => io(&path)(e),
        })?;
        let text = self.unseal(&path, &format!("backups/{id}"), stored)?;
        let manifest: BackupManifest = serde_json::from_slice(&text)
            .map_err(|e| bad(&path, format!("not a backup manifest (the file is damaged): {e}")))?;
        if manifest.id != id || manifest.format != FORMAT_VERSION {
            return Err(bad(
                &path,
                format!("holds backup {} of format {}", manifest.id, manifest.format),
            ));
        }
        Ok(manifest)
    }

    fn write_manifest(&self, manifest: &BackupManifest) -> Result<()> {
        let path = self.manifest_path(&manifest.id);
        let text = serde_json::to_vec_pretty(manifest)
            .map_err(|e| bad(&path, format!("cannot encode the manifest: {e}")))?;
        let stored = self.seal(&format!("backups/{}", manifest.id), text)?;
        write_atomic(&path, &stored, true)
    }

    /// Reads chunk `c` and checks it: its authentication tag (encrypted), that it decompresses
    /// to its length, that it hashes to its address, and its row count. Returns its raw bytes.
    fn read_chunk(&self, c: &ChunkRef) -> Result<Vec<u8>> {
        let path = self.chunk_path(&c.hash);
        let what = format!("chunk {}", c.hash);
        let stored = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(&path, format!("{what} is missing")),
            _ => io(&path)(e),
        })?;
        let damaged = |detail: &str| bad(&path, format!("{what}: {detail}"));
        let compressed =
            self.unseal(&path, &format!("chunks/{}", c.hash), stored).map_err(|e| match e {
                ChainError::Backup { detail, .. } => damaged(&detail),
                other => other,
            })?;
        let raw = zstd::bulk::decompress(&compressed, CHUNK_MAX.max(c.raw as usize))
            .map_err(|e| damaged(&format!("does not decompress (the file is damaged): {e}")))?;
        if raw.len() as u64 != c.raw {
            return Err(damaged(&format!("{} raw bytes, the manifest says {}", raw.len(), c.raw)));
        }
        if self.address(&raw) != c.hash {
            return Err(damaged("its contents do not hash to its name (the file is damaged)"));
        }
        let mut rows = 0u64;
        for row in Rows::new(&raw) {
            if row.is_none() {
                return Err(damaged("a malformed row"));
            }
            rows += 1;
        }
        if rows != c.rows {
            return Err(damaged(&format!("{rows} rows, the manifest says {}", c.rows)));
        }
        Ok(raw)
    }
}

/// The authenticated data of a sealed object: its header and its name.
fn aad(header: &[u8], name: &str) -> Vec<u8> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Takes the directory's lock file: exclusive for a writer, shared for a reader. A reader of a
/// directory it cannot write (no lock file) goes without.
fn lock(root: &Path, exclusive: bool) -> Result<Option<File>> {
    let path = root.join(LOCK);
    let file = if exclusive {
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)
    } else {
        File::open(&path)
    };
    let file = match file {
        Ok(f) => f,
        Err(_) if !exclusive => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let locked = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match locked {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(bad(
            root,
            "another backup command is using this directory (its LOCK is held); try again later",
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced, then
/// renamed; the directory synced too if `sync_parent`.
fn write_atomic(path: &Path, bytes: &[u8], sync_parent: bool) -> Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))?;
    if sync_parent && let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The rows of a chunk's raw bytes: `key length (u32 LE), key, value length (u32 LE), value`,
/// back to back. A malformed chunk ends the iteration with an error.
struct Rows<'a> {
    raw: &'a [u8],
    at: usize,
}

impl<'a> Rows<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self { raw, at: 0 }
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let len = self.raw.get(self.at..self.at + 4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = self.at + 4;
        let field = self.raw.get(start..start.checked_add(len)?)?;
        self.at = start + len;
        Some(field)
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Option<(&'a [u8], &'a [u8])>;

    /// `Some(None)` for a malformed row (and nothing after it).
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.raw.len() {
            return None;
        }
        let row = self.field().and_then(|k| Some((k, self.field()?)));
        if row.is_none() {
            self.at = self.raw.len();
        }
        Some(row)
    }
}

/// Whether a chunk of `len` raw bytes ends after a row with `key` of `row_len` bytes: past
/// [`CHUNK_MAX`] always, below [`CHUNK_MIN`] never, otherwise when the key's hash falls under a
/// threshold proportional to the row's size (chunks of [`BACKUP_CHUNK_TARGET`] on average).
fn ends_chunk(key: &[u8], row_len: usize, len: usize) -> bool {
    if len >= CHUNK_MAX {
        return true;
    }
    if len < CHUNK_MIN {
        return false;
    }
    let h = blake3::hash(key);
    let b = h.as_bytes();
    let x = u128::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    x * ((BACKUP_CHUNK_TARGET - CHUNK_MIN) as u128) < (row_len as u128) << 32
}

/// The current time: seconds since the epoch, the id and RFC 3339.
fn now() -> (u64, String, String) {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let id = format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}-{millis:03}");
    let rfc = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z");
    (secs, id, rfc)
}

/// The date of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Writes one backup's chunks.
struct ChunkWriter<'d, 'k> {
    dest: &'d Dest<'k>,
    /// Chunk files this backup wrote (their directories synced before the manifest).
    written: HashSet<String>,
    dirs: BTreeSet<PathBuf>,
    totals: BackupTotals,
    progress: BackupProgress,
}

impl Dest<'_> {
    /// Stores a chunk of `raw` bytes unless a file of its address exists. Returns its address,
    /// its file's bytes, and whether it was written; a chunk directory it wrote into is added to
    /// `dirs` (to be synced before a manifest refers to the chunk).
    fn put_chunk(&self, raw: &[u8], dirs: &mut BTreeSet<PathBuf>) -> Result<(String, u64, bool)> {
        let hash = self.address(raw);
        let path = self.chunk_path(&hash);
        if let Ok(m) = fs::metadata(&path) {
            return Ok((hash, m.len(), false));
        }
        let compressed = zstd::bulk::compress(raw, ZSTD_LEVEL).map_err(io(&path))?;
        let object = self.seal(&format!("chunks/{hash}"), compressed)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            dirs.insert(dir.to_path_buf());
        }
        write_atomic(&path, &object, false)?;
        Ok((hash, object.len() as u64, true))
    }
}

impl ChunkWriter<'_, '_> {
    /// Stores a chunk unless a file of its address exists; returns its reference.
    fn put(&mut self, raw: &[u8], rows: u64) -> Result<ChunkRef> {
        let (hash, stored, new) = self.dest.put_chunk(raw, &mut self.dirs)?;
        if new && self.written.insert(hash.clone()) {
            self.totals.new_chunks += 1;
            self.totals.written_bytes += stored;
            self.progress.file_bytes += stored;
        }
        self.totals.chunks += 1;
        self.totals.raw_bytes += raw.len() as u64;
        self.totals.referenced_bytes += stored;
        self.progress.chunks += 1;
        self.progress.raw_bytes += raw.len() as u64;
        Ok(ChunkRef { hash, rows, raw: raw.len() as u64, stored })
    }
}

impl ChainStore {
    /// Backs up every row of every engine table as of one read snapshot into the backup
    /// directory `dest` (made if it is missing or empty), writing only the chunks it does not
    /// hold yet, then the backup's manifest. Encrypted with `key` if given (a directory is
    /// encrypted with one key or not at all). Commits may go on meanwhile; the backup holds the
    /// store as of the snapshot, whose head the manifest records.
    pub fn backup(
        &self,
        dest: &Path,
        key: Option<&BackupKey>,
        progress: &mut dyn FnMut(&BackupProgress),
    ) -> Result<BackupManifest> {
        let r = self.db.begin_read();
        // Before the directory is made: an empty store leaves nothing behind.
        let head = head_in(&r)?.ok_or(ChainError::Empty)?;
        let d = Dest::create_or_open(dest, key)?;
        let mut w = ChunkWriter {
            dest: &d,
            written: HashSet::new(),
            dirs: BTreeSet::new(),
            totals: BackupTotals::default(),
            progress: BackupProgress::default(),
        };
        let mut tables = Vec::new();
        let mut raw = Vec::with_capacity(CHUNK_MAX + 4096);
        for name in r.tables()? {
            let mut table =
                TableManifest { name: name.clone(), rows: 0, raw_bytes: 0, chunks: Vec::new() };
            let mut rows = 0u64;
            for row in r.range(&name, KeyRange::all(), false)? {
                let (k, v) = row?;
                let before = raw.len();
                raw.extend_from_slice(&(k.len() as u32).to_le_bytes());
                raw.extend_from_slice(&k);
                raw.extend_from_slice(&(v.len() as u32).to_le_bytes());
                raw.extend_from_slice(&v);
                rows += 1;
                table.rows += 1;
                w.progress.rows += 1;
                if ends_chunk(&k, raw.len() - before, raw.len()) {
                    table.chunks.push(w.put(&raw, rows)?);
                    table.raw_bytes += raw.len() as u64;
                    rows = 0;
                    raw.clear();
                    report("backup", progress, &w.progress);
                }
            }
            if rows > 0 {
                table.chunks.push(w.put(&raw, rows)?);
                table.raw_bytes += raw.len() as u64;
                raw.clear();
                report("backup", progress, &w.progress);
            }
            w.totals.rows += table.rows;
            tables.push(table);
        }
        for dir in &w.dirs {
            sync_dir(dir)?;
        }
        sync_dir(&d.root.join("chunks"))?;
        let engine_seq = r.seq();
        drop(r);
        let (mut created_unix, mut id, mut created) = now();
        while d.manifest_path(&id).exists() {
            std::thread::sleep(std::time::Duration::from_millis(2));
            (created_unix, id, created) = now();
        }
        let totals = BackupTotals { tables: tables.len() as u64, ..w.totals };
        let manifest = BackupManifest {
            format: FORMAT_VERSION,
            id,
            created,
            created_unix,
            head: BackupHead { number: head.number, hash: head.hash, state_root: head.state_root },
            engine_seq,
            tables,
            totals,
        };
        d.write_manifest(&manifest)?;
        Ok(manifest)
    }
}

/// The backups in `dest`, oldest first. An encrypted directory needs its key.
pub fn list_backups(dest: &Path, key: Option<&BackupKey>) -> Result<Vec<BackupManifest>> {
    let d = Dest::open(dest, key, false)?;
    d.ids()?.iter().map(|id| d.read_manifest(id)).collect()
}

/// Keeps the `keep` newest backups in `dest` (at least 1), removes the others' manifests, then
/// every chunk file no remaining backup references (and files a stopped write left).
pub fn prune_backups(
    dest: &Path,
    key: Option<&BackupKey>,
    keep: usize,
) -> Result<BackupPruneReport> {
    if keep == 0 {
        return Err(bad(dest, "retention keeps at least one backup"));
    }
    let d = Dest::open(dest, key, true)?;
    let ids = d.ids()?;
    let split = ids.len().saturating_sub(keep);
    let (removed, kept) = ids.split_at(split);
    // Read the kept manifests first: a damaged one stops retention before anything is removed.
    let mut referenced = HashSet::new();
    for id in kept {
        for t in d.read_manifest(id)?.tables {
            referenced.extend(t.chunks.into_iter().map(|c| c.hash));
        }
    }
    for id in removed {
        let path = d.manifest_path(id);
        fs::remove_file(&path).map_err(io(&path))?;
    }
    sync_dir(&d.manifest_dir())?;
    let mut report =
        BackupPruneReport { removed: removed.to_vec(), kept: kept.to_vec(), ..Default::default() };
    (report.chunks_removed, report.bytes_freed) = remove_unreferenced(&d.root, &referenced)?;
    Ok(report)
}

/// Removes every file under `root/chunks` whose name is not in `referenced`; returns how many
/// and their bytes.
fn remove_unreferenced(root: &Path, referenced: &HashSet<String>) -> Result<(u64, u64)> {
    let (mut removed, mut freed) = (0u64, 0u64);
    let chunks = root.join("chunks");
    for sub in fs::read_dir(&chunks).map_err(io(&chunks))? {
        let sub = sub.map_err(io(&chunks))?.path();
        if !sub.is_dir() {
            continue;
        }
        let mut changed = false;
        for entry in fs::read_dir(&sub).map_err(io(&sub))? {
            let entry = entry.map_err(io(&sub))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| referenced.contains(n)) {
                continue;
            }
            let bytes = entry.metadata().map_err(io(&sub))?.len();
            fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            removed += 1;
            freed += bytes;
            changed = true;
        }
        if changed {
            sync_dir(&sub)?;
        }
    }
    Ok((removed, freed))
}

/// Reads every manifest in `dest` and every chunk they reference, checking each chunk's
/// authentication tag (encrypted), decompression, hash and row count. The error names every
/// damaged or missing chunk and the backups that reference it.
pub fn verify_backups(
    dest: &Path,
    key: Option<&BackupKey>,
    progress: &mut dyn FnMut(&BackupProgress),
) -> Result<BackupCheck> {
    let d = Dest::open(dest, key, false)?;
    let ids = d.ids()?;
    // Chunk → (the chunk, the backups that reference it), in first-reference order.
    let mut chunks: BTreeMap<String, (ChunkRef, Vec<String>)> = BTreeMap::new();
    let mut problems = Vec::new();
    for id in &ids {
        let manifest = match d.read_manifest(id) {
            Ok(m) => m,
            Err(e) => {
                problems.push(format!("backup {id}: {e}"));
                continue;
            }
        };
        for c in manifest.tables.into_iter().flat_map(|t| t.chunks) {
            let entry = chunks.entry(c.hash.clone()).or_insert_with(|| (c, Vec::new()));
            if entry.1.last() != Some(id) {
                entry.1.push(id.clone());
            }
        }
    }
    let mut check = BackupCheck { backups: ids.len() as u64, ..Default::default() };
    let mut p = BackupProgress::default();
    for (c, users) in chunks.values() {
        match d.read_chunk(c) {
            Ok(raw) => {
                check.bytes += c.stored;
                p.raw_bytes += raw.len() as u64;
                p.rows += c.rows;
            }
            Err(e) => problems.push(format!("{e} (referenced by backup {})", users.join(", "))),
        }
        check.chunks += 1;
        p.chunks += 1;
        p.file_bytes += c.stored;
        report("verify", progress, &p);
    }
    if problems.is_empty() {
        Ok(check)
    } else {
        Err(bad(dest, format!("{} problem(s): {}", problems.len(), problems.join("; "))))
    }
}

/// Restores backup `id` (the newest if `None`) from `src` into `dir`, which must not exist or
/// be empty (otherwise nothing is touched), then unwinds it to block `block` if given. Every row
/// is written through engine transactions; the restored head must be the manifest's. On any
/// failure what the restore created is removed. Returns the head of the restored store.
pub fn restore_backup(
    src: &Path,
    key: Option<&BackupKey>,
    id: Option<&str>,
    dir: &Path,
    block: Option<u64>,
    options: Options,
    progress: &mut dyn FnMut(&BackupProgress),
) -> Result<Header> {
    let d = Dest::open(src, key, false)?;
    let id = match id {
        Some(id) => id.to_string(),
        None => d.ids()?.pop().ok_or_else(|| bad(src, "it holds no backups"))?,
    };
    let manifest = d.read_manifest(&id)?;
    if let Some(n) = block.filter(|n| *n > manifest.head.number) {
        return Err(ChainError::AboveHead { number: n, head: manifest.head.number });
    }
    let created = !dir.exists();
    if !created {
        let mut entries = fs::read_dir(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotADirectory => ChainError::RestoreTarget {
                path: dir.to_path_buf(),
                detail: "not a directory".into(),
            },
            _ => io(dir)(e),
        })?;
        if entries.next().is_some() {
            return Err(ChainError::RestoreTarget {
                path: dir.to_path_buf(),
                detail: "the directory is not empty: restore only into a new or empty directory \
                         (nothing was changed)"
                    .into(),
            });
        }
    }
    let restored = restore_into(&d, &manifest, dir, block, options, progress);
    if restored.is_err() {
        if created {
            let _ = fs::remove_dir_all(dir);
        } else if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
            }
        }
    }
    restored
}

fn restore_into(
    d: &Dest<'_>,
    manifest: &BackupManifest,
    dir: &Path,
    block: Option<u64>,
    options: Options,
    progress: &mut dyn FnMut(&BackupProgress),
) -> Result<Header> {
    let store = ChainStore::open(dir, options)?;
    let mut p = BackupProgress::default();
    let mut txn = store.db.begin_write();
    let mut pending = 0usize;
    for table in &manifest.tables {
        for c in &table.chunks {
            let raw = d.read_chunk(c)?;
            for row in Rows::new(&raw) {
                let (k, v) = row.ok_or_else(|| bad(&d.chunk_path(&c.hash), "a malformed row"))?;
                txn.put(&table.name, k, v)?;
                pending += k.len() + v.len();
                p.rows += 1;
            }
            p.chunks += 1;
            p.raw_bytes += raw.len() as u64;
            p.file_bytes += c.stored;
            if pending >= RESTORE_BATCH_BYTES {
                txn.commit()?;
                txn = store.db.begin_write();
                pending = 0;
                report("restore", progress, &p);
            }
        }
    }
    txn.commit()?;
    report("restore", progress, &p);
    let head = store.head()?.ok_or(ChainError::Empty)?;
    let expected = &manifest.head;
    if (head.number, head.hash, head.state_root)
        != (expected.number, expected.hash, expected.state_root)
    {
        return Err(bad(
            &d.root,
            format!(
                "backup {}: the restored head is block {} ({}), the manifest says block {} ({})",
                manifest.id, head.number, head.hash, expected.number, expected.hash
            ),
        ));
    }
    if let Some(n) = block {
        store.unwind_to(n)?;
    }
    let head = store.head()?.ok_or(ChainError::Empty)?;
    store.close()?;
    Ok(head)
}

/// Finishes or drops a rekey that was stopped. Once the staged marker has replaced
/// `BACKUP` (the rekey's commit point) the staged manifests are moved into `backups/`; before
/// that, the old key still rules and the stage is removed (by a writer only; its chunks are
/// left to retention).
fn finish_rekey(root: &Path, exclusive: bool) -> Result<()> {
    let stage = root.join(REKEY_DIR);
    if !stage.exists() {
        return Ok(());
    }
    if stage.join(MARKER).exists() {
        if exclusive {
            fs::remove_dir_all(&stage).map_err(io(&stage))?;
        }
        return Ok(());
    }
    let staged = stage.join("backups");
    let backups = root.join("backups");
    if staged.exists() {
        for entry in fs::read_dir(&staged).map_err(io(&staged))? {
            let entry = entry.map_err(io(&staged))?;
            let to = backups.join(entry.file_name());
            match fs::rename(entry.path(), &to) {
                Ok(()) => {}
                // Another reader finishing the same rekey moved it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&to)(e)),
            }
        }
        sync_dir(&backups)?;
    }
    match fs::remove_dir_all(&stage) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&stage)(e)),
        _ => {}
    }
    sync_dir(root)
}

/// Re-encrypts every chunk and manifest in `dest` from key `old` to key `new` (which gives the
/// chunks new addresses), then removes the old objects. Crash-safe: the new chunks are written
/// beside the old ones and the new manifests and marker into `rekey/`; the rename of the new
/// marker over `BACKUP` is the commit point. Stopped before it, the directory is still under
/// `old` (the next writer removes the stage); stopped after it, it is under `new` and the next
/// command on it moves the staged manifests in. Returns what was re-encrypted.
pub fn rekey_backups(
    dest: &Path,
    old: &BackupKey,
    new: &BackupKey,
    progress: &mut dyn FnMut(&BackupProgress),
) -> Result<BackupCheck> {
    if old.id() == new.id() {
        return Err(bad(dest, "the new key is the old key"));
    }
    let d = Dest::open(dest, Some(old), true)?;
    let n = Dest { root: dest.to_path_buf(), key: Some(new), _lock: None };
    let stage = dest.join(REKEY_DIR);
    fs::create_dir_all(stage.join("backups")).map_err(io(&stage))?;
    let mut moved: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut dirs = BTreeSet::new();
    let mut manifests = Vec::new();
    let mut check = BackupCheck::default();
    let mut p = BackupProgress::default();
    for id in d.ids()? {
        let mut m = d.read_manifest(&id)?;
        let mut referenced = 0u64;
        for c in m.tables.iter_mut().flat_map(|t| t.chunks.iter_mut()) {
            if !moved.contains_key(&c.hash) {
                let raw = d.read_chunk(c)?;
                let (hash, stored, _) = n.put_chunk(&raw, &mut dirs)?;
                check.chunks += 1;
                check.bytes += stored;
                p.chunks += 1;
                p.raw_bytes += raw.len() as u64;
                p.file_bytes += stored;
                report("rekey", progress, &p);
                moved.insert(c.hash.clone(), (hash, stored));
            }
            if let Some((hash, stored)) = moved.get(&c.hash) {
                (c.hash, c.stored) = (hash.clone(), *stored);
            }
            referenced += c.stored;
        }
        m.totals.referenced_bytes = referenced;
        manifests.push(m);
        check.backups += 1;
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }
    let staged = Dest { root: stage.clone(), key: Some(new), _lock: None };
    for m in &manifests {
        staged.write_manifest(m)?;
    }
    let marker =
        Marker { format: FORMAT_NAME.to_string(), version: FORMAT_VERSION, key_id: Some(new.id()) };
    let text = serde_json::to_vec_pretty(&marker)
        .map_err(|e| bad(dest, format!("cannot encode the marker: {e}")))?;
    write_atomic(&stage.join(MARKER), &text, true)?;
    sync_dir(&stage)?;
    // The commit point.
    fs::rename(stage.join(MARKER), dest.join(MARKER)).map_err(io(dest))?;
    sync_dir(dest)?;
    finish_rekey(dest, true)?;
    let referenced: HashSet<String> = moved.into_values().map(|(hash, _)| hash).collect();
    remove_unreferenced(dest, &referenced)?;
    drop(d);
    Ok(check)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a failure is a test failure")]

    use super::*;

    /// The rows of a table of `n` rows with hashed keys, in key order, as a backup cuts them:
    /// the chunks' raw bytes.
    fn cut(rows: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<Vec<u8>> {
        let (mut chunks, mut raw) = (Vec::new(), Vec::new());
        for (k, v) in rows {
            let before = raw.len();
            raw.extend_from_slice(&(k.len() as u32).to_le_bytes());
            raw.extend_from_slice(k);
            raw.extend_from_slice(&(v.len() as u32).to_le_bytes());
            raw.extend_from_slice(v);
            if ends_chunk(k, raw.len() - before, raw.len()) {
                chunks.push(std::mem::take(&mut raw));
            }
        }
        if !raw.is_empty() {
            chunks.push(raw);
        }
        chunks
    }

    #[test]
    fn boundaries_survive_an_insert_elsewhere_and_chunks_average_the_target() {
        let key = |i: u64| blake3::hash(&i.to_le_bytes()).as_bytes().to_vec();
        let mut rows: BTreeMap<Vec<u8>, Vec<u8>> =
            (0..20_000u64).map(|i| (key(i), vec![i as u8; 40 + (i % 50) as usize])).collect();
        let before = cut(&rows);
        let total: usize = before.iter().map(Vec::len).sum();
        let average = total / before.len();
        assert!((10 << 10..24 << 10).contains(&average), "average chunk {average} bytes");
        assert!(before.iter().all(|c| c.len() <= CHUNK_MAX + 200));
        // One row inserted and one changed: at most 4 chunks differ (each edit touches its
        // own chunk, and may move the boundary after it).
        rows.insert(key(1_000_000), vec![1; 64]);
        rows.insert(key(77), vec![2; 70]);
        let after = cut(&rows);
        let old: HashSet<&Vec<u8>> = before.iter().collect();
        let new = after.iter().filter(|c| !old.contains(c)).count();
        assert!((1..=4).contains(&new), "{new} of {} chunks changed", after.len());
        // Rows parse back.
        let parsed: Vec<_> = after
            .iter()
            .flat_map(|c| Rows::new(c).map(Option::unwrap).collect::<Vec<_>>())
            .collect();
        assert_eq!(parsed.len(), rows.len());
        assert!(parsed.iter().zip(&rows).all(|((k, v), (rk, rv))| *k == rk && *v == rv));
        assert_eq!(Rows::new(&[5, 0, 0, 0, 1]).collect::<Vec<_>>(), [None]);
    }

    #[test]
    fn dates_and_key_files() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_429), (2025, 12, 7));
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        fs::write(&raw, [0xabu8; 32]).unwrap();
        let hexed = dir.path().join("hex");
        fs::write(&hexed, format!("0x{}\n", "ab".repeat(32))).unwrap();
        let (a, b) = (BackupKey::from_file(&raw).unwrap(), BackupKey::from_file(&hexed).unwrap());
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id().len(), 2 * KEY_ID_LEN);
        assert!(!format!("{a:?}").contains("abab"));
        fs::write(&raw, [0xab; 31]).unwrap();
        let e = BackupKey::from_file(&raw).unwrap_err().to_string();
        assert!(e.contains("32 raw bytes or 64 hex digits"), "{e}");
    }

    #[test]
    fn a_sealed_object_is_bound_to_its_key_and_name() {
        let key = BackupKey::from_bytes([9; 32]);
        let d = Dest { root: PathBuf::from("/nowhere"), key: Some(&key), _lock: None };
        let sealed = d.seal("chunks/aa", b"hello".to_vec()).unwrap();
        assert_eq!(d.unseal(Path::new("x"), "chunks/aa", sealed.clone()).unwrap(), b"hello");
        let e = d.unseal(Path::new("x"), "chunks/bb", sealed.clone()).unwrap_err().to_string();
        assert!(e.contains("authentication tag"), "{e}");
        let other = BackupKey::from_bytes([8; 32]);
        let d2 = Dest { root: PathBuf::from("/nowhere"), key: Some(&other), _lock: None };
        let e = d2.unseal(Path::new("x"), "chunks/aa", sealed).unwrap_err().to_string();
        assert!(e.contains("the key does not match"), "{e}");
        assert_ne!(d.address(b"hello"), blake3::hash(b"hello").to_hex().to_string());
    }
}
