//! `verbatim verify | recover | keygen` on the committed format fixtures (testdata/format): exit codes, the
//! warning when the signer is not authenticated, keyrings across key rotation, refusing tampered folders.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::temp_dir;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_verbatim")
}

/// Runs the CLI: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin()).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn format_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/format")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A scratch copy of a committed fixture folder.
fn fixture(version: &str, which: &str, name: &str) -> PathBuf {
    let src = format_root().join(version).join(which);
    assert!(
        src.is_dir(),
        "{} missing: testdata/format is part of the repository",
        src.display()
    );
    let dst = temp_dir(name);
    let _ = std::fs::remove_dir_all(&dst);
    copy_tree(&src, &dst);
    dst
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_exit_codes_and_keyrings() {
    let dir = fixture("v2", "completed", "cli-verify");
    let pubk = format_root().join("test-signing.pub");
    let pk = muxer::integrity::load_public_key(&pubk).unwrap();
    let id = muxer::integrity::key_id(&pk);

    // No key: intact, but the signer is not authenticated: a warning and exit 3.
    let (code, out, err) = run(&["verify", s(&dir)]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("intact") && err.contains("NOT authenticated"),
        "{out}{err}"
    );
    let (code, out, err) = run(&["verify", s(&dir), "--trust-embedded-key"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("NOT authenticated"),
        "the summary still says it: {out}"
    );
    // The public key given: exit 0, the key id named.
    let (code, out, err) = run(&["verify", s(&dir), "--public-key", s(&pubk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&id) && out.contains("(the key given)"),
        "{out}"
    );
    // A keyring across a rotation: the recording (started 2025-11-24) verifies with the key in service then.
    let hex = std::fs::read_to_string(&pubk)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let ring = dir.with_extension("ring");
    std::fs::write(
        &ring,
        format!(
            "verbatim-keyring-v1\n{hex} from=2025-01-01 until=2026-01-01 recorder-2025\n\
             {other} from=2026-01-01 recorder-2026\n"
        ),
    )
    .unwrap();
    let (code, out, err) = run(&["verify", s(&dir), "--keyring", s(&ring)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("in the keyring: recorder-2025"), "{out}");
    // The same key retired before the recording started: not trusted.
    std::fs::write(
        &ring,
        format!("verbatim-keyring-v1\n{hex} until=2025-06-01 retired\n{other} from=2025-06-01\n"),
    )
    .unwrap();
    let (code, out, err) = run(&["verify", s(&dir), "--keyring", s(&ring)]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not in service"), "{err}");
    // A keyring without the key.
    std::fs::write(&ring, format!("verbatim-keyring-v1\n{other}\n")).unwrap();
    let (code, _, err) = run(&["verify", s(&dir), "--keyring", s(&ring)]);
    assert_eq!(code, 1);
    assert!(err.contains("not in the keyring"), "{err}");
    // Format 1 folders still verify.
    let old = fixture("v1", "completed", "cli-verify-v1");
    let (code, out, err) = run(&["verify", s(&old), "--public-key", s(&pubk)]);
    assert_eq!(code, 0, "{out}{err}");
    for d in [dir, old, ring] {
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_file(&d);
    }
}

#[test]
fn recover_refuses_a_tampered_folder_unless_told_and_then_says_so_for_ever() {
    let dir = fixture("v2", "interrupted", "cli-recover");
    let key = format_root().join("test-signing.key");
    let pubk = format_root().join("test-signing.pub");
    // A sample inside the first live-signed chunk of alice.wav changed after the crash.
    let wav = dir.join("participants/alice.wav");
    let mut b = std::fs::read(&wav).unwrap();
    b[1000] ^= 0x40;
    std::fs::write(&wav, &b).unwrap();
    let (code, out, err) = run(&["recover", s(&dir), "--signing-key", s(&key)]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("participants/alice.wav bytes 80..32080"),
        "{err}"
    );
    assert!(dir.join("manifest.journal").exists() && !dir.join("manifest.json").exists());
    assert_eq!(std::fs::read(&wav).unwrap(), b, "nothing changed");
    // Told to accept: sealed, and every verify after reports the alteration.
    let (code, out, err) = run(&[
        "recover",
        s(&dir),
        "--signing-key",
        s(&key),
        "--public-key",
        s(&pubk),
        "--accept-tampered",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["verify", s(&dir), "--public-key", s(&pubk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("ALTERED, ACCEPTED AT RECOVERY: participants/alice.wav bytes 80..32080"),
        "{out}"
    );
    assert!(out.contains("sealed at recovery"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();

    // A clean crash: recovered, the sealed tail reported per file.
    let dir = fixture("v2", "interrupted", "cli-recover-clean");
    let (code, out, err) = run(&["recover", s(&dir), "--signing-key", s(&key)]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&["verify", s(&dir), "--public-key", s(&pubk)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("18 records signed live"), "{out}");
    assert!(
        out.contains("participants/alice.wav: signed live 80..64080; sealed at recovery 0..80"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A symbolic link in the folder: refused.
    let dir = fixture("v2", "interrupted", "cli-recover-link");
    let outside = dir.with_extension("outside.wav");
    std::fs::rename(dir.join("participants/bob.wav"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("participants/bob.wav")).unwrap();
    let (code, out, err) = run(&["recover", s(&dir), "--signing-key", s(&key)]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("bob.wav") && err.contains("symbolic link"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&outside).unwrap();
}

#[test]
fn keygen_prints_the_key_id() {
    let dir = temp_dir("cli-keygen");
    std::fs::create_dir_all(&dir).unwrap();
    let k = dir.join("k.key");
    let (code, out, err) = run(&["keygen", "--out", s(&k)]);
    assert_eq!(code, 0, "{err}");
    let pk = muxer::integrity::parse_public_key(&out).unwrap();
    let id = muxer::integrity::key_id(&pk);
    assert!(err.contains(&format!("key id:      {id}")), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
