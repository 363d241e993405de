//! `chainstore backup create | list | verify` and `chainstore restore`: a backup taken while
//! blocks are committed restores every table as of the block its manifest names, a second backup
//! writes only what changed, damage and a wrong key are named, `--block N` gives block N's root,
//! and retention removes what no backup references.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chainstore_chain::{BlockCommit, ChainStore, CommitInfo, Retention};
use chainstore_engine::backend::KeyRange;
use chainstore_engine::db::ReadTxn;
use serde_json::Value;

use crate::support::{assert_verifies, open, run, run_ok, synth_blocks};

/// Every table's rows in a read snapshot.
type Tables = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

fn tables(r: &ReadTxn) -> Tables {
    r.tables()
        .unwrap()
        .into_iter()
        .map(|t| {
            let rows = r.range(&t, KeyRange::all(), false).unwrap().map(Result::unwrap).collect();
            (t, rows)
        })
        .filter(|(_, rows): &(String, Vec<_>)| !rows.is_empty())
        .collect()
}

fn commit(store: &ChainStore, blocks: &[BlockCommit]) -> Vec<CommitInfo> {
    blocks.iter().map(|b| store.commit_block(b).unwrap()).collect()
}

/// Runs a command that must fail; returns its stderr.
fn run_err(data: &Path, args: &[&str]) -> String {
    let out = run(data, args, b"");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "chainstore {args:?} succeeded: {stderr}");
    stderr
}

fn json(data: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&run_ok(data, args, b"")).unwrap()
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// The manifests of a plain backup directory, by id.
fn manifests(dest: &Path) -> BTreeMap<String, Value> {
    std::fs::read_dir(dest.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (m["id"].as_str().unwrap().to_string(), m)
        })
        .collect()
}

fn chunk_hashes(manifest: &Value) -> BTreeSet<String> {
    let tables = manifest["tables"].as_array().unwrap();
    let chunks = tables.iter().flat_map(|t| t["chunks"].as_array().unwrap());
    chunks.map(|c| c["hash"].as_str().unwrap().to_string()).collect()
}

/// The chunk files under `dest/chunks`, by name.
fn chunk_files(dest: &Path) -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    for sub in std::fs::read_dir(dest.join("chunks")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            files.insert(path.file_name().unwrap().to_str().unwrap().to_string(), path);
        }
    }
    files
}

/// The raw bytes of the rows that differ between two snapshots (changed, added or removed).
fn changed_bytes(before: &Tables, after: &Tables) -> u64 {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut bytes = 0u64;
    for name in names {
        let old: BTreeMap<_, _> = before.get(name).into_iter().flatten().cloned().collect();
        let new: BTreeMap<_, _> = after.get(name).into_iter().flatten().cloned().collect();
        for (k, v) in &new {
            if old.get(k) != Some(v) {
                bytes += (k.len() + v.len() + 8) as u64;
            }
        }
        for (k, v) in &old {
            if !new.contains_key(k) {
                bytes += (k.len() + v.len() + 8) as u64;
            }
        }
    }
    bytes
}

#[test]
fn a_backup_taken_while_committing_restores_the_snapshot_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest, dst) =
        (dir.path().join("src"), dir.path().join("dest"), dir.path().join("dst"));
    let blocks = synth_blocks(200, 7);
    let store = open(&src);
    let first = commit(&store, &blocks[..60]);
    // A read snapshot as of every head from block 59 on, taken right after its commit by the
    // only committer, with the root that commit returned: what a backup naming that head holds.
    let at_59 = (first[59].state_root, store.database().begin_read());
    let snapshots = Mutex::new(BTreeMap::from([(59u64, at_59)]));
    let manifest = std::thread::scope(|s| {
        let committer = s.spawn(|| {
            for b in &blocks[60..] {
                let info = store.commit_block(b).unwrap();
                let r = store.database().begin_read();
                snapshots.lock().unwrap().insert(info.number, (info.state_root, r));
            }
        });
        while snapshots.lock().unwrap().len() < 5 {
            std::thread::yield_now();
        }
        let manifest = store.backup(&dest, None, &mut |_| {}).unwrap();
        committer.join().unwrap();
        manifest
    });
    let head = manifest.head.number;
    println!("the backup names block {head}; the committer went on to block 199");
    let snapshots = snapshots.into_inner().unwrap();
    let (root, snapshot) = &snapshots[&head];
    assert_eq!(manifest.head.state_root, *root);
    let expected = tables(snapshot);
    drop(snapshots);
    store.close().unwrap();

    let restored =
        json(&dst, &["restore", dest.to_str().unwrap(), dst.to_str().unwrap(), "--json"]);
    assert_eq!(quantity(&restored["number"]), head);
    assert_eq!(restored["stateRoot"], serde_json::to_value(manifest.head.state_root).unwrap());
    let restored_store = open(&dst);
    assert!(restored_store.head().unwrap().unwrap().number >= head);
    let got = tables(&restored_store.database().begin_read());
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (name, rows) in &expected {
        assert_eq!(got[name].len(), rows.len(), "rows of table {name}");
        assert!(got[name] == *rows, "table {name} differs from the source as of block {head}");
    }
    restored_store.close().unwrap();
    assert_verifies(&dst);
}

#[test]
fn a_second_backup_writes_far_less_than_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    let dest_arg = dest.to_str().unwrap();
    let blocks = synth_blocks(603, 11);
    let store = open(&src);
    commit(&store, &blocks[..600]);
    let before = tables(&store.database().begin_read());
    store.close().unwrap();
    let first = json(&src, &["backup", "create", dest_arg, "--json"]);

    let store = open(&src);
    commit(&store, &blocks[600..]);
    let after = tables(&store.database().begin_read());
    store.close().unwrap();
    let second = json(&src, &["backup", "create", dest_arg, "--json"]);

    let (w1, w2) = (quantity(&first["writtenBytes"]), quantity(&second["writtenBytes"]));
    let changed = changed_bytes(&before, &after);
    let raw2 = quantity(&second["rawBytes"]);
    println!(
        "first backup wrote {w1} bytes; after 3 more blocks the second wrote {w2} bytes \
         ({:.1} % of the first) for {changed} raw bytes of rows that changed, out of {raw2} raw \
         bytes referenced: written / changed = {:.2}",
        100.0 * w2 as f64 / w1 as f64,
        w2 as f64 / changed as f64
    );
    // Where the second backup's new bytes went, per table.
    let m = manifests(&dest);
    let (old, new) = (&m[first["id"].as_str().unwrap()], &m[second["id"].as_str().unwrap()]);
    let old_chunks = chunk_hashes(old);
    for t in new["tables"].as_array().unwrap() {
        let chunks = t["chunks"].as_array().unwrap();
        let fresh: Vec<_> =
            chunks.iter().filter(|c| !old_chunks.contains(c["hash"].as_str().unwrap())).collect();
        let bytes: u64 = fresh.iter().map(|c| c["stored"].as_u64().unwrap()).sum();
        println!(
            "  {:<24} {:>4} of {:>4} chunks new, {bytes:>8} bytes",
            t["name"].as_str().unwrap(),
            fresh.len(),
            chunks.len()
        );
    }
    assert_eq!(quantity(&first["writtenBytes"]), quantity(&first["referencedBytes"]));
    assert!(w2 * 2 < w1, "the second backup wrote {w2} bytes, the first {w1}");
    assert!(w2 > 0 && quantity(&second["newChunks"]) < quantity(&second["chunks"]));
    // Both backups are listed, oldest first, with the heads they were taken at.
    let list = json(&src, &["backup", "list", dest_arg, "--json"]);
    let heads: Vec<u64> =
        list.as_array().unwrap().iter().map(|b| quantity(&b["head"]["number"])).collect();
    assert_eq!(heads, [599, 602]);
    let ids: Vec<&str> =
        list.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(ids, manifests(&dest).keys().map(String::as_str).collect::<Vec<_>>());
    // Every file written is referenced by a manifest.
    let referenced: BTreeSet<String> = manifests(&dest).values().flat_map(chunk_hashes).collect();
    assert_eq!(chunk_files(&dest).keys().cloned().collect::<BTreeSet<_>>(), referenced);
}

#[test]
fn damage_a_wrong_target_and_a_missing_chunk_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    let dest_arg = dest.to_str().unwrap();
    let blocks = synth_blocks(60, 3);
    let store = open(&src);
    commit(&store, &blocks[..50]);
    store.close().unwrap();
    run_ok(&src, &["backup", "create", dest_arg], b"");
    let store = open(&src);
    commit(&store, &blocks[50..]);
    store.close().unwrap();
    run_ok(&src, &["backup", "create", dest_arg], b"");
    let ok = json(&src, &["backup", "verify", dest_arg, "--json"]);
    assert_eq!(ok["ok"], true);
    assert_eq!(quantity(&ok["backups"]), 2);

    // A chunk both backups reference, one byte flipped: named, with both backups.
    let m = manifests(&dest);
    let ids: Vec<&String> = m.keys().collect();
    let shared: Vec<String> =
        chunk_hashes(&m[ids[0]]).intersection(&chunk_hashes(&m[ids[1]])).cloned().collect();
    assert!(shared.len() >= 2, "the backups share {} chunks", shared.len());
    let files = chunk_files(&dest);
    let victim = &files[&shared[0]];
    let mut bytes = std::fs::read(victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();
    let stderr = run_err(&src, &["backup", "verify", dest_arg]);
    assert!(stderr.contains(&format!("chunk {}", shared[0])), "{stderr}");
    assert!(stderr.contains(ids[0].as_str()) && stderr.contains(ids[1].as_str()), "{stderr}");
    // A restore of a backup with a damaged chunk fails and leaves nothing behind.
    let dst = dir.path().join("dst");
    let stderr = run_err(&dst, &["restore", dest_arg, dst.to_str().unwrap()]);
    assert!(stderr.contains(&shared[0]), "{stderr}");
    assert!(!dst.exists(), "the failed restore left {dst:?}");
    bytes[at] ^= 0x40;
    std::fs::write(victim, &bytes).unwrap();

    // A missing chunk.
    std::fs::remove_file(&files[&shared[1]]).unwrap();
    let stderr = run_err(&src, &["backup", "verify", dest_arg]);
    assert!(stderr.contains(&format!("chunk {} is missing", shared[1])), "{stderr}");

    // A damaged manifest: named by its backup's id.
    let manifest = dest.join("backups").join(format!("{}.json", ids[0]));
    let text = std::fs::read(&manifest).unwrap();
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
    let stderr = run_err(&src, &["backup", "verify", dest_arg]);
    assert!(stderr.contains(&format!("backup {}: ", ids[0])), "{stderr}");
    assert!(stderr.contains("not a backup manifest"), "{stderr}");

    // Not a backup directory, for every command.
    let stderr = run_err(&src, &["backup", "list", src.to_str().unwrap()]);
    assert!(stderr.contains("not a backup directory"), "{stderr}");
    let stderr = run_err(&src, &["backup", "create", src.to_str().unwrap()]);
    assert!(stderr.contains("not a backup directory"), "{stderr}");
    // A restore into a directory that is not empty: refused, touching nothing.
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), b"mine").unwrap();
    let stderr = run_err(&full, &["restore", dest_arg, full.to_str().unwrap()]);
    assert!(stderr.contains("cannot restore into") && stderr.contains("not empty"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["keep.txt"]);
    assert_eq!(std::fs::read(full.join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn an_encrypted_backup_needs_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    let dest_arg = dest.to_str().unwrap();
    let key = dir.path().join("key.hex");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, [7u8; 32]).unwrap();
    let (key, wrong) = (key.to_str().unwrap(), wrong.to_str().unwrap());
    let store = open(&src);
    let infos = commit(&store, &synth_blocks(40, 5));
    store.close().unwrap();
    let made = json(&src, &["backup", "create", dest_arg, "--key-file", key, "--json"]);
    assert_eq!(quantity(&made["head"]["number"]), 39);

    // Nothing readable in the directory: manifests and chunks are sealed.
    for path in std::fs::read_dir(dest.join("backups")).unwrap().map(|e| e.unwrap().path()) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "{path:?} is plain JSON");
        assert!(!bytes.windows(7).any(|w| w == b"headers"), "{path:?} names a table");
    }
    let stderr = run_err(&src, &["backup", "verify", dest_arg, "--key-file", wrong]);
    assert!(stderr.contains("the key does not match this backup's key"), "{stderr}");
    let stderr = run_err(&src, &["backup", "list", dest_arg]);
    assert!(stderr.contains("encrypted"), "{stderr}");
    let stderr = run_err(&src, &["backup", "create", dest_arg, "--key-file", wrong]);
    assert!(stderr.contains("the key does not match this backup's key"), "{stderr}");

    let deep = json(&src, &["backup", "verify", dest_arg, "--key-file", key, "--deep", "--json"]);
    assert_eq!(
        deep["deep"]["head"]["stateRoot"],
        serde_json::to_value(infos[39].state_root).unwrap()
    );

    // Rekey: every object is rewritten under the new key, with new chunk addresses; the old key
    // no longer opens the directory, and the new one restores the same head.
    let old_files: BTreeSet<String> = chunk_files(&dest).into_keys().collect();
    let old_manifests: Vec<Vec<u8>> = std::fs::read_dir(dest.join("backups"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let rekeyed = json(
        &src,
        &["backup", "rekey", dest_arg, "--key-file", key, "--new-key-file", wrong, "--json"],
    );
    assert_eq!(quantity(&rekeyed["chunks"]), old_files.len() as u64);
    let new_files: BTreeSet<String> = chunk_files(&dest).into_keys().collect();
    assert_eq!(new_files.len(), old_files.len());
    assert!(new_files.is_disjoint(&old_files), "chunks kept their addresses");
    for path in std::fs::read_dir(dest.join("backups")).unwrap().map(|e| e.unwrap().path()) {
        assert!(!old_manifests.contains(&std::fs::read(&path).unwrap()), "{path:?} not rewritten");
    }
    assert!(!dest.join("rekey").exists());
    let stderr = run_err(&src, &["backup", "verify", dest_arg, "--key-file", key]);
    assert!(stderr.contains("the key does not match this backup's key"), "{stderr}");
    let deep = json(&src, &["backup", "verify", dest_arg, "--key-file", wrong, "--deep", "--json"]);
    assert_eq!(
        deep["deep"]["head"]["stateRoot"],
        serde_json::to_value(infos[39].state_root).unwrap()
    );
    // The directory's key is now the one that was wrong before. A flipped byte in a sealed
    // chunk fails its authentication tag.
    let key = wrong;
    let files = chunk_files(&dest);
    let (name, victim) = files.iter().next().unwrap();
    let mut bytes = std::fs::read(victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(victim, &bytes).unwrap();
    let stderr = run_err(&src, &["backup", "verify", dest_arg, "--key-file", key]);
    assert!(
        stderr.contains(&format!("chunk {name}")) && stderr.contains("authentication"),
        "{stderr}"
    );
}

#[test]
fn restore_to_a_block_gives_that_blocks_root() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    let dest_arg = dest.to_str().unwrap();
    let store = open(&src);
    let infos = commit(&store, &synth_blocks(50, 9));
    store.close().unwrap();
    run_ok(&src, &["backup", "create", dest_arg], b"");
    let dst = dir.path().join("dst");
    let head = json(&dst, &["restore", dest_arg, dst.to_str().unwrap(), "--block", "30", "--json"]);
    assert_eq!(quantity(&head["number"]), 30);
    assert_eq!(head["stateRoot"], serde_json::to_value(infos[30].state_root).unwrap());
    assert_eq!(crate::support::head(&dst).unwrap().state_root, infos[30].state_root);
    assert_verifies(&dst);

    // Above the backup's head: refused before anything is made.
    let above = dir.path().join("above");
    let stderr = run_err(&above, &["restore", dest_arg, above.to_str().unwrap(), "--block", "50"]);
    assert!(stderr.contains("above the head"), "{stderr}");
    assert!(!above.exists());

    // Below the retained history of the source: refused after the restore, which is removed.
    let store = open(&src);
    let retention = Retention { history: Some(10), ..Default::default() };
    store.prune(&retention, 1000, &mut |_| {}).unwrap();
    store.close().unwrap();
    run_ok(&src, &["backup", "create", dest_arg], b"");
    let below = dir.path().join("below");
    let stderr = run_err(&below, &["restore", dest_arg, below.to_str().unwrap(), "--block", "20"]);
    assert!(stderr.contains("state history for block 20 was pruned"), "{stderr}");
    assert!(!below.exists(), "the refused restore left {below:?}");
}

#[test]
fn keep_one_removes_unreferenced_chunks_and_the_rest_verifies_deep() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dest) = (dir.path().join("src"), dir.path().join("dest"));
    let dest_arg = dest.to_str().unwrap();
    let blocks = synth_blocks(80, 13);
    let store = open(&src);
    commit(&store, &blocks[..40]);
    store.close().unwrap();
    run_ok(&src, &["backup", "create", dest_arg], b"");
    let first = manifests(&dest);
    let store = open(&src);
    let infos = commit(&store, &blocks[40..]);
    store.close().unwrap();
    let second = json(&src, &["backup", "create", dest_arg, "--keep", "1", "--json"]);
    let retention = &second["retention"];
    assert_eq!(retention["removed"], serde_json::json!(first.keys().collect::<Vec<_>>()));
    assert_eq!(retention["kept"], serde_json::json!([second["id"]]));
    let left = manifests(&dest);
    assert_eq!(left.keys().collect::<Vec<_>>(), [second["id"].as_str().unwrap()]);
    // Exactly the chunks the remaining backup references are left, and some were removed.
    let referenced = chunk_hashes(&left[second["id"].as_str().unwrap()]);
    let files: BTreeSet<String> = chunk_files(&dest).into_keys().collect();
    assert_eq!(files, referenced);
    let only_first = chunk_hashes(&first.into_values().next().unwrap());
    let dropped = only_first.difference(&referenced).count() as u64;
    assert!(dropped > 0);
    assert_eq!(quantity(&retention["chunksRemoved"]), dropped);
    let deep = json(&src, &["backup", "verify", dest_arg, "--deep", "--json"]);
    assert_eq!(quantity(&deep["backups"]), 1);
    assert_eq!(
        deep["deep"]["head"]["stateRoot"],
        serde_json::to_value(infos[39].state_root).unwrap()
    );
}

/// Copies the files of `from` into `to` (made if needed), recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_rekey_stopped_either_side_of_its_commit_point_leaves_a_whole_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (src, old_dir, new_dir) =
        (dir.path().join("src"), dir.path().join("old"), dir.path().join("new"));
    let (old_key, new_key) = (dir.path().join("old.key"), dir.path().join("new.key"));
    std::fs::write(&old_key, [1u8; 32]).unwrap();
    std::fs::write(&new_key, [2u8; 32]).unwrap();
    let (old_key, new_key) = (old_key.to_str().unwrap(), new_key.to_str().unwrap());
    let store = open(&src);
    let infos = commit(&store, &synth_blocks(30, 17));
    store.close().unwrap();
    run_ok(&src, &["backup", "create", old_dir.to_str().unwrap(), "--key-file", old_key], b"");
    copy_tree(&old_dir, &new_dir);
    let new_arg = new_dir.to_str().unwrap();
    run_ok(
        &src,
        &["backup", "rekey", new_arg, "--key-file", old_key, "--new-key-file", new_key],
        b"",
    );
    let root = serde_json::to_value(infos[29].state_root).unwrap();

    // Stopped after the commit point (the new marker in place) and before the new manifests
    // were moved in: the old manifests and both sets of chunks are there, the new manifests in
    // rekey/. The next command, with the new key, finishes the move and sees a whole backup.
    let after = dir.path().join("after");
    copy_tree(&old_dir, &after);
    copy_tree(&new_dir.join("chunks"), &after.join("chunks"));
    copy_tree(&new_dir.join("backups"), &after.join("rekey").join("backups"));
    std::fs::copy(new_dir.join("BACKUP"), after.join("BACKUP")).unwrap();
    let after_arg = after.to_str().unwrap();
    let stderr = run_err(&src, &["backup", "list", after_arg, "--key-file", old_key]);
    assert!(stderr.contains("the key does not match this backup's key"), "{stderr}");
    let deep =
        json(&src, &["backup", "verify", after_arg, "--key-file", new_key, "--deep", "--json"]);
    assert_eq!(deep["deep"]["head"]["stateRoot"], root);
    assert!(!after.join("rekey").exists());

    // Stopped before the commit point: the old key still opens a whole backup, and the next
    // writer drops the stage.
    let before = dir.path().join("before");
    copy_tree(&old_dir, &before);
    copy_tree(&new_dir.join("chunks"), &before.join("chunks"));
    copy_tree(&new_dir.join("backups"), &before.join("rekey").join("backups"));
    std::fs::copy(new_dir.join("BACKUP"), before.join("rekey").join("BACKUP")).unwrap();
    let before_arg = before.to_str().unwrap();
    let deep =
        json(&src, &["backup", "verify", before_arg, "--key-file", old_key, "--deep", "--json"]);
    assert_eq!(deep["deep"]["head"]["stateRoot"], root);
    assert!(before.join("rekey").exists(), "a reader removed the stage");
    let made = json(
        &src,
        &["backup", "create", before_arg, "--key-file", old_key, "--keep", "1", "--json"],
    );
    assert!(!before.join("rekey").exists());
    // The same store under the same key: nothing new to write; and retention removed the
    // chunks the stopped rekey wrote, which no manifest references.
    assert_eq!(quantity(&made["newChunks"]), 0);
    let left: Vec<String> = chunk_files(&before).into_keys().collect();
    assert_eq!(left, chunk_files(&old_dir).into_keys().collect::<Vec<_>>());
    run_ok(&src, &["backup", "verify", before_arg, "--key-file", old_key], b"");
}

/// `serve --backup-dir` backs the store up while it commits the blocks it reads (online): every
/// backup it reports restores to a store that verifies, with the head its summary names, and
/// the served store went on past the backups. A second process could not have taken them: the
/// server holds the store.
#[test]
fn serve_backs_up_while_it_ingests() {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let (data, dest) = (dir.path().join("data"), dir.path().join("dest"));
    let mut child = crate::support::chainstore(&data)
        .args(["serve", "--rpc", "127.0.0.1:0", "--ingest", "-", "--backup-every", "1"])
        .args(["--backup-keep", "5", "--backup-dir"])
        .arg(&dest)
        .stdin(Stdio::piped())
        // The acknowledgement lines (unread, they would fill the pipe and stop the ingest).
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Blocks arrive for about four seconds, a few every 50 ms.
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for chunk in synth_blocks(400, 21).chunks(5) {
            input.write_all(crate::support::lines(chunk).as_bytes()).unwrap();
            input.flush().unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        input
    });
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines, collect) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let mut summaries = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while summaries.len() < 3 && Instant::now() < deadline {
        let Ok(line) = collect.recv_timeout(Duration::from_secs(1)) else { continue };
        if let Some(summary) = line.strip_prefix("chainstore: backup: ") {
            summaries.push(serde_json::from_str::<Value>(summary).unwrap());
        }
    }
    assert!(summaries.len() >= 3, "backups reported: {summaries:?}");
    drop(feeder.join().unwrap());
    child.kill().unwrap();
    child.wait().unwrap();

    let heads: Vec<u64> = summaries.iter().map(|s| quantity(&s["head"]["number"])).collect();
    assert!(heads.windows(2).all(|w| w[0] < w[1]), "backups did not follow the commits: {heads:?}");
    let dest_arg = dest.to_str().unwrap();
    run_ok(&data, &["backup", "verify", dest_arg], b"");
    for summary in &summaries {
        let id = summary["id"].as_str().unwrap();
        let restored = dir.path().join(format!("restored-{id}"));
        let args = ["restore", dest_arg, restored.to_str().unwrap(), "--id", id, "--json"];
        let head = json(&restored, &args);
        assert_eq!(head, summary["head"], "backup {id}");
        assert_verifies(&restored);
    }
    let served = crate::support::head(&data).unwrap().number;
    assert!(served >= *heads.last().unwrap(), "served head {served} below {heads:?}");
}
