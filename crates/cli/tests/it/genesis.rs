//! `chainstore genesis` on the real network genesis files: the state roots (and block hashes)
//! must equal the published ones (external vectors, testdata/mainnet-genesis/README.md).

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use serde_json::{Value, json};

use crate::support::{head, head_json, run, run_ok, testdata};

/// (file, state root, genesis block hash) from testdata/mainnet-genesis/README.md.
const NETWORKS: [(&str, &str, &str); 4] = [
    (
        "mainnet.json",
        "0xd7f8974fb5ac78d9ac099b9ad5018bedc2ce0a72dad1827a1709da30580f0544",
        "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
    ),
    (
        "sepolia.json",
        "0x5eb6e371a698b8d68f665192350ffcecbbbf322916f4b51bd79bb6887da3f494",
        "0x25a5cc106eea7138acab33231d7160d69cb777ee0c2c553fcddf5138993e6dd9",
    ),
    (
        "holesky.json",
        "0x69d8c9d72f6fa4ad42d4702b433707212f90db395eb54dc20bc85de253788783",
        "0xb5f7f912443c940f21fd611f12828d75b534364ed9e95ca4e307729a4661bde4",
    ),
    (
        "hoodi.json",
        "0xda87d7f5f91c51508791bbcbd4aa5baf04917830b86985eeb9ad3d5bfb657576",
        "0xbbe312868b376a3001692a646dd2d7d1e4406380dfd86b98aa8a34d1557c971b",
    ),
];

/// Imports `file` into a fresh store; returns the printed object and checks `head` agrees.
fn import(file: &std::path::Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_ok(dir.path(), &["genesis", file.to_str().unwrap()], b"");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let printed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["number"], "0x0");
    let stored = head(dir.path()).expect("a head after genesis");
    assert_eq!(head_json(&stored), printed);
    let cli_head: Value =
        serde_json::from_str(&run_ok(dir.path(), &["head", "--json"], b"")).unwrap();
    assert_eq!(cli_head, printed);
    printed
}

#[test]
fn genesis_files_give_the_published_state_roots() {
    for (file, root, _) in NETWORKS {
        let printed = import(&testdata(&format!("mainnet-genesis/{file}")));
        assert_eq!(printed["stateRoot"], root, "{file}");
    }
}

#[test]
fn genesis_block_hashes_match_the_published_ones() {
    for (file, _, hash) in NETWORKS {
        let path = testdata(&format!("mainnet-genesis/{file}"));
        // sepolia.json and holesky.json carry no `config`, so read alone they get a pre-London
        // header. Both networks have London at block 0 (Shanghai later): with that config the
        // header has the default base fee, and the hash must be the published one.
        let config = match file {
            "sepolia.json" => Some(json!({"londonBlock": 0, "shanghaiTime": 1_677_557_088})),
            "holesky.json" => Some(json!({"londonBlock": 0, "shanghaiTime": 1_696_000_704})),
            _ => None,
        };
        let printed = match config {
            Some(config) => {
                let mut json: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                json["config"] = config;
                let dir = tempfile::tempdir().unwrap();
                let with_config = dir.path().join(file);
                std::fs::write(&with_config, json.to_string()).unwrap();
                import(&with_config)
            }
            None => import(&path),
        };
        assert_eq!(printed["hash"], hash, "{file}");
    }
}

#[test]
fn genesis_rejects_a_file_whose_state_root_disagrees() {
    let path = testdata("mainnet-genesis/sepolia.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["stateRoot"] = Value::String(format!("0x{}", "11".repeat(32)));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, json.to_string()).unwrap();
    let data = dir.path().join("data");
    let out = run(&data, &["genesis", file.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("field \"stateRoot\"") && stderr.contains("bad.json"), "{stderr}");
    assert!(head(&data).is_none(), "the store must stay empty");
}
