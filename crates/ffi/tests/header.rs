//! The checked-in header is what cbindgen generates from the crate now.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = dir.join("include/chainstore.h");
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if generated != checked_in {
        if std::env::var_os("CHAINSTORE_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write the header");
            return;
        }
        panic!(
            "{} is stale: regenerate it with `CHAINSTORE_BLESS=1 cargo test -p chainstore-ffi --test header`",
            path.display()
        );
    }
}
