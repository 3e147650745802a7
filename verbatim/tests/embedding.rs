//! The recorder embedded through its C ABI (issue 15): a Python ctypes script and the C example program
//! record the same WAV files as `verbatim record --source`, and the folders must hold the same stems and mix,
//! sample for sample, and verify. The inputs are made from the repository's speech fixtures, with one of them
//! silent for three minutes (a long silence is where placement bugs hide).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The C ABI's library built for this test run: cargo builds a dependency's cdylib and staticlib next to
/// this test binary (target/debug/deps), without a hash in the name.
fn ffi_artifact(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().join(name);
    assert!(
        p.exists(),
        "{} missing: the verbatim-ffi dev-dependency should have built it",
        p.display()
    );
    p
}

/// 16 kHz mono WAVs of the fixtures: `long` has 3 minutes of silence between two passes of alice.
fn inputs(dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let fixture = |n: &str| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../testdata/media/{n}.flac"));
        bot_adapter::sim::audio_file::load_audio_file(&p).unwrap()
    };
    let alice = fixture("alice");
    let mut long = alice.clone();
    long.extend(std::iter::repeat_n(0i16, 16_000 * 180));
    long.extend(&alice);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Vec::new();
    for (name, pcm) in [
        ("long", long),
        ("bob", fixture("bob")),
        ("carol", fixture("carol")),
    ] {
        let p = dir.join(format!("{name}.wav"));
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        pcm.iter().for_each(|&s| w.write_sample(s).unwrap());
        w.finalize().unwrap();
        out.push((name.to_string(), p));
    }
    out
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

/// `verbatim record --source` of the same files: the reference.
fn reference(files: &[(String, PathBuf)], out: &Path) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verbatim"));
    cmd.arg("record")
        .arg("--out")
        .arg(out)
        .arg("--signing-key")
        .arg(test_key());
    for (n, p) in files {
        cmd.arg("--source").arg(format!("{n}={}", p.display()));
    }
    run(&mut cmd, "verbatim record");
}

/// Same stems and mix, sample for sample, and the embedded folder verifies.
fn assert_same(embedded: &Path, reference: &Path, files: &[(String, PathBuf)]) {
    let mut names: Vec<String> = files
        .iter()
        .map(|(n, _)| format!("participants/{n}.wav"))
        .collect();
    names.push("mixed.wav".into());
    for n in &names {
        let (a, b) = (read_wav(&embedded.join(n)), read_wav(&reference.join(n)));
        assert!(a.len() > 16_000 * 200, "{n}: only {} samples", a.len());
        assert_eq!(a.len(), b.len(), "{n}: length");
        let first = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(first, None, "{n}: first differing sample");
    }
    // Panics unless intact, signed by the test key.
    let report = verify(embedded);
    assert!(report.files >= 5, "{}", report.summary);
    ffprobe_duration(&embedded.join("recording.mp4"));
}

fn args(files: &[(String, PathBuf)]) -> Vec<String> {
    files
        .iter()
        .map(|(n, p)| format!("{n}={}", p.display()))
        .collect()
}

#[test]
fn python_ctypes_records_the_files_as_record_does() {
    let dir = temp_dir("embed-py");
    let files = inputs(&dir.join("in"));
    reference(&files, &dir.join("reference"));
    let lib = ffi_artifact("libverbatim_ffi.so");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ffi/tests/record_ctypes.py");
    let text = run(
        Command::new("python3")
            .arg(script)
            .arg(lib)
            .arg(dir.join("python"))
            .args(args(&files))
            .env("VERBATIM_SIGNING_KEY", test_key()),
        "python3 record_ctypes.py",
    );
    assert!(text.contains("recorded 3 participants"), "{text}");
    assert_same(&dir.join("python"), &dir.join("reference"), &files);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_c_example_linked_statically_records_the_files_as_record_does() {
    let dir = temp_dir("embed-c");
    let files = inputs(&dir.join("in"));
    reference(&files, &dir.join("reference"));
    let staticlib = ffi_artifact("libverbatim_ffi.a");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let exe = dir.join("record");
    run(
        Command::new("cc")
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(root.join("ffi/include"))
            .arg(root.join("ffi/examples/record.c"))
            .arg(staticlib)
            .args([
                "-lssl",
                "-lcrypto",
                "-lpthread",
                "-ldl",
                "-lm",
                "-lstdc++",
                "-o",
            ])
            .arg(&exe),
        "cc record.c",
    );
    let text = run(
        Command::new(&exe)
            .arg(dir.join("c"))
            .args(args(&files))
            .env("VERBATIM_SIGNING_KEY", test_key()),
        "the C example",
    );
    assert!(text.contains("recorded 3 participants"), "{text}");
    assert_same(&dir.join("c"), &dir.join("reference"), &files);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_csharp_program_through_p_invoke_on_mono_records_the_files_as_record_does() {
    let dir = temp_dir("embed-cs");
    let files = inputs(&dir.join("in"));
    reference(&files, &dir.join("reference"));
    let lib = ffi_artifact("libverbatim_ffi.so");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        Command::new("mcs").arg("--version").output().is_ok()
            && Command::new("mono").arg("--version").output().is_ok(),
        "mcs/mono not found: run scripts/setup.sh (Debian's mono-mcs and mono-runtime)"
    );
    let build = run(
        Command::new("bash")
            .arg(root.join("ffi/csharp/build.sh"))
            .arg(dir.join("cs")),
        "ffi/csharp/build.sh",
    );
    let exe = build.lines().last().unwrap().trim().to_string();
    let text = run(
        Command::new("mono")
            .arg(&exe)
            .arg(dir.join("csharp"))
            .args(args(&files))
            .env("LD_LIBRARY_PATH", lib.parent().unwrap())
            .env("VERBATIM_SIGNING_KEY", test_key()),
        "mono record.exe",
    );
    assert!(text.contains("recorded 3 participants"), "{text}");
    assert_same(&dir.join("csharp"), &dir.join("reference"), &files);
    let _ = std::fs::remove_dir_all(&dir);
}
