//! `include/verbatim.h` is what cbindgen makes of the sources now: a change to the ABI that was not
//! regenerated fails here (regenerate: `cbindgen --config ffi/cbindgen.toml --crate verbatim-ffi --output
//! ffi/include/verbatim.h` from `ffi/`, or run this test with `VERBATIM_BLESS_HEADER=1`).

use std::path::Path;

#[test]
fn the_checked_in_header_is_what_cbindgen_generates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = dir.join("include/verbatim.h");
    if std::env::var_os("VERBATIM_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == generated,
        "ffi/include/verbatim.h is stale: regenerate it (see this file's docs); first difference at line {}",
        checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(checked_in.lines().count().min(generated.lines().count()) + 1, |i| i + 1)
    );
    // The contract's rules are in the header a C# or C developer reads.
    for rule in ["Thread safety", "Ownership", "Panics", "Versioning"] {
        assert!(generated.contains(rule), "the header does not state {rule}");
    }
}
