//! The `FORMAT` file records the store's backend: opening a store with another backend, or in a
//! build without its backend, is a clear error that names both and changes nothing.

use std::path::Path;

use chainstore_engine::backend::MemoryBackend;
use chainstore_engine::db::{BackendChoice, Database, Error, Options};

fn open(dir: &Path, backend: BackendChoice) -> Result<Database, Error> {
    Database::open(dir, Options { backend, ..Options::default() })
}

/// Opens `dir` with `backend` and returns the error's message, which must be `Incompatible`.
fn refusal(dir: &Path, backend: BackendChoice) -> String {
    match open(dir, backend) {
        Err(e @ Error::Incompatible { .. }) => e.to_string(),
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_store_records_its_backend_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), BackendChoice::Redb(Default::default())).unwrap().close().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
        "chainstore 1\nbackend redb\n"
    );
    let before = files(dir.path());
    let message = refusal(dir.path(), BackendChoice::Memory(MemoryBackend::new()));
    assert!(
        message.contains("uses the redb backend, not memory") && message.contains("--backend redb"),
        "{message}"
    );
    assert_eq!(files(dir.path()), before, "a refused open changed the directory");
}

#[cfg(not(feature = "rocksdb"))]
#[test]
fn a_rocksdb_store_in_a_build_without_rocksdb_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("FORMAT"), "chainstore 1\nbackend rocksdb\n").unwrap();
    let message = refusal(dir.path(), BackendChoice::Redb(Default::default()));
    assert!(
        message.contains("uses the rocksdb backend") && message.contains("feature `rocksdb`"),
        "{message}"
    );
    assert!(!dir.path().join("data.redb").exists());
}

#[cfg(feature = "rocksdb")]
#[test]
fn redb_and_rocksdb_refuse_each_other() {
    let rocks = || BackendChoice::Rocksdb(Default::default());
    let redb = || BackendChoice::Redb(Default::default());
    for (made, made_name, other, other_name) in
        [(rocks(), "rocksdb", redb(), "redb"), (redb(), "redb", rocks(), "rocksdb")]
    {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), made).unwrap();
        let mut t = db.begin_write();
        t.put("t", b"k", b"v").unwrap();
        t.commit().unwrap();
        db.close().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
            format!("chainstore 1\nbackend {made_name}\n")
        );
        let before = files(dir.path());
        let message = refusal(dir.path(), other);
        assert!(
            message.contains(&format!("uses the {made_name} backend, not {other_name}"))
                && message.contains(&format!("--backend {made_name}")),
            "{message}"
        );
        assert_eq!(files(dir.path()), before, "a refused open changed the directory");
    }
}
