//! Malformed input: every case fails with a message naming the line and the field, a non-zero
//! exit, and an unchanged store.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{
    chainstore, head, json_lines, line, lines, run, run_ok, synth_blocks, testdata,
};

/// A store holding blocks 0..=3 of a synthetic chain, and the chain's next blocks.
fn base() -> (tempfile::TempDir, Vec<chainstore_chain::BlockCommit>) {
    let dir = tempfile::tempdir().unwrap();
    let blocks = synth_blocks(7, 5);
    run_ok(&dir.path().join("data"), &["ingest", "-"], lines(&blocks[..4]).as_bytes());
    (dir, blocks)
}

fn cli_head(data: &Path) -> String {
    run_ok(data, &["head", "--json"], b"")
}

/// The store's head as `chainstore head` prints it and as the library reads it.
type Heads = (String, Option<chainstore_chain::Header>);

fn heads(data: &Path) -> Heads {
    (cli_head(data), head(data))
}

/// Runs `args` with `stdin`; asserts failure, the message parts, and that the store's head is
/// still `before`.
fn rejects(data: &Path, before: &Heads, args: &[&str], stdin: &[u8], wants: &[&str]) {
    let out = run(data, args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded; wanted {wants:?}");
    for want in wants {
        assert!(stderr.contains(want), "{args:?}: stderr lacks {want:?}: {stderr}");
    }
    assert!(
        out.stdout.is_empty(),
        "acknowledged something: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(&heads(data), before, "{args:?} changed the store");
}

/// Block `n` of `blocks` as JSON, edited by `edit`, as one line.
fn edited(
    blocks: &[chainstore_chain::BlockCommit],
    n: usize,
    edit: impl FnOnce(&mut Value),
) -> String {
    let mut v = crate::support::json_in::block_to_json(&blocks[n]);
    edit(&mut v);
    v.to_string() + "\n"
}

#[test]
fn malformed_lines_are_rejected_naming_line_and_field() {
    let (dir, blocks) = base();
    let data = dir.path().join("data");
    let before = heads(&data);
    assert_eq!(before.1.as_ref().map(|h| h.number), Some(3));
    let ingest = ["ingest", "-"];
    let hex = |n: usize| format!("0x{}", "ab".repeat(n));
    let first_state_key =
        |v: &Value| v["state"].as_object().unwrap().keys().next().unwrap().clone();
    let cases: Vec<(String, Vec<String>)> = vec![
        ("{\"number\":\"0x4\",\n".into(), vec!["line 1: invalid JSON".into()]),
        // Line numbers count empty lines.
        (
            format!("\n\n{}", edited(&blocks, 4, |v| v["hash"] = json!(hex(31)))),
            vec!["line 3: field \"hash\": expected 32 bytes of hex, found 31".into()],
        ),
        (
            edited(&blocks, 4, |v| {
                v["transactions"][1]["from"] = json!(format!("0x{}zz", "ab".repeat(19)))
            }),
            vec!["line 1: field \"transactions[1].from\": not hex".into()],
        ),
        (
            edited(&blocks, 4, |v| {
                let key = first_state_key(v);
                v["state"][&key]["balance"] = json!(format!("0x1{}", "0".repeat(64)));
            }),
            vec![
                "line 1: field \"state[".into(),
                "].balance\": quantity".into(),
                "over 256 bits".into(),
            ],
        ),
        (
            edited(&blocks, 4, |v| v["timestamp"] = json!(-5)),
            vec!["line 1: field \"timestamp\": negative number".into()],
        ),
        (
            edited(&blocks, 4, |v| v["transactions"][0]["nonce"] = json!(1.5)),
            vec!["line 1: field \"transactions[0].nonce\"".into(), "float".into()],
        ),
        (
            edited(&blocks, 4, |v| v["number"] = json!("0x10000000000000000")),
            vec!["line 1: field \"number\": quantity".into(), "over 64 bits".into()],
        ),
        (
            edited(&blocks, 4, |v| drop(v.as_object_mut().unwrap().remove("hash"))),
            vec!["line 1: field \"hash\": missing required field".into()],
        ),
        (
            edited(&blocks, 4, |v| v["receipts"][0]["status"] = json!(true)),
            vec!["line 1: field \"receipts[0].status\"".into(), "found a boolean".into()],
        ),
        // A state key repeated byte for byte (JSON readers would keep only the last value).
        {
            let v = crate::support::json_in::block_to_json(&blocks[4]);
            let key = first_state_key(&v);
            let text =
                v.to_string().replacen("\"state\":{", &format!("\"state\":{{\"{key}\":null,"), 1);
            (
                text + "\n",
                vec![
                    "line 1: invalid JSON at column".into(),
                    format!("key \"{key}\" appears twice"),
                ],
            )
        },
        // The chain crate's checks, prefixed with the line and the field.
        (
            line(&blocks[5]),
            vec!["line 1: field \"number\"".into(), "expected block number 4".into()],
        ),
        (
            edited(&blocks, 4, |v| v["parentHash"] = json!(hex(32))),
            vec!["line 1: field \"parentHash\"".into(), "is not the hash of the head block".into()],
        ),
        (
            edited(&blocks, 4, |v| v["stateRoot"] = json!(hex(32))),
            vec!["line 1: field \"stateRoot\"".into(), "state root mismatch".into()],
        ),
        (
            edited(&blocks, 4, |v| {
                let extra = v["receipts"][0].clone();
                v["receipts"].as_array_mut().unwrap().push(extra);
            }),
            vec!["line 1: field \"receipts\"".into(), "13 receipts for 12 transactions".into()],
        ),
    ];
    for (input, wants) in &cases {
        let wants: Vec<&str> = wants.iter().map(String::as_str).collect();
        rejects(&data, &before, &ingest, input.as_bytes(), &wants);
    }
    // Missing input files, for both commands.
    let missing = dir.path().join("missing.jsonl");
    let missing = missing.to_str().unwrap();
    rejects(&data, &before, &["ingest", missing], b"", &["cannot open", "missing.jsonl"]);
    rejects(&data, &before, &["genesis", missing], b"", &["cannot read", "missing.jsonl"]);
    // genesis on a store that has blocks.
    let sepolia = testdata("mainnet-genesis/sepolia.json");
    rejects(
        &data,
        &before,
        &["genesis", sepolia.to_str().unwrap()],
        b"",
        &["not empty", "head is block 3"],
    );
    // A missing file does not create a store either.
    let nowhere = dir.path().join("nowhere");
    let out = run(&nowhere, &["ingest", missing], b"");
    assert!(!out.status.success());
    assert!(!nowhere.exists(), "a failed ingest created {}", nowhere.display());
}

#[test]
fn a_bad_line_keeps_the_blocks_before_it() {
    let (dir, blocks) = base();
    let data = dir.path().join("data");
    let input = lines(&blocks[4..6])
        + &edited(&blocks, 6, |v| v["parentHash"] = json!("0x12"))
        + &line(&blocks[6]);
    let out = run(&data, &["ingest", "-"], input.as_bytes());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 3: field \"parentHash\": expected 32 bytes of hex, found 1"),
        "{stderr}"
    );
    let acks = json_lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(acks.len(), 2);
    let h = head(&data).unwrap();
    assert_eq!(h.number, 5);
    assert_eq!(crate::support::head_json(&h), acks[1]);
}

#[test]
fn a_second_writer_gets_the_in_use_error_naming_the_holder() {
    let (dir, blocks) = base();
    let data = dir.path().join("data");
    let mut holder = chainstore(&data)
        .args(["ingest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(holder.stdout.take().unwrap());
    // Once block 4 is acknowledged, the holder certainly has the store open.
    use std::io::{BufRead as _, Write as _};
    stdin.write_all(line(&blocks[4]).as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut ack = String::new();
    stdout.read_line(&mut ack).unwrap();
    assert!(ack.contains("\"number\":\"0x4\""), "{ack:?}");

    let pid = format!("pid {}", holder.id());
    let file = dir.path().join("block5.jsonl");
    std::fs::write(&file, line(&blocks[5])).unwrap();
    for args in [
        vec!["ingest", file.to_str().unwrap()],
        vec!["ingest", "-"],
        vec![
            "genesis",
            testdata("mainnet-genesis/sepolia.json").to_str().unwrap().to_string().leak(),
        ],
    ] {
        let out = run(&data, &args, line(&blocks[5]).as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded beside another writer");
        assert!(stderr.contains("in use") && stderr.contains(&pid), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // The holder finishes normally when its input ends; block 5 never went in.
    drop(stdin);
    let status = holder.wait().unwrap();
    assert!(status.success());
    assert_eq!(head(&data).unwrap().number, 4);
}
