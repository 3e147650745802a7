//! `verbatim inspect` on real recording folders: a closed one (lists from metadata.json), the same without
//! metadata.json (lists from timeline.jsonl, as after `recover`), a malformed metadata.json, not a recording.

mod common;

use bot_adapter::sim::{synthetic, Impairments, MeetingSpec};
use common::*;
use media_core::MediaTime;
use verbatim::inspect::{inspect_dir, InspectError, STRIP_COLUMNS};
use verbatim::record::record_simulation;

fn record(name: &str) -> std::path::PathBuf {
    let out = temp_dir(name);
    let spec = MeetingSpec {
        participants: synthetic::participants(4, MediaTime::from_secs(30), 5),
        duration: Some(MediaTime::from_secs(30)),
        seed: 5,
        impairments: "teams-x3".parse::<Impairments>().unwrap(),
        screenshares: Vec::new(),
    };
    record_simulation(spec, &options(&out)).unwrap();
    out
}

#[test]
fn inspect_shows_participants_gaps_and_who_spoke_when() {
    let dir = record("inspect");
    let md: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    let i = inspect_dir(&dir).unwrap();
    assert!(i.closed);
    assert!(i.problems.is_empty(), "{:?}", i.problems);
    assert_eq!(i.lists_from, Some("metadata.json"));
    assert_eq!(i.duration_us, Some(30_000_000));
    assert_eq!(i.status_history.last().unwrap().1, "completed");
    let mds = md["participants"].as_array().unwrap();
    assert_eq!(i.participants.len(), mds.len());
    for (p, m) in i.participants.iter().zip(mds) {
        assert_eq!(p.name, m["name"].as_str().unwrap());
        assert_eq!(p.gaps, m["gaps"].as_array().unwrap().len() as u64);
        let gap_us: i64 = m["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["length_us"].as_i64().unwrap())
            .sum();
        assert_eq!(p.gap_us, gap_us);
        assert_eq!(p.frames_written, m["frames_written"].as_u64());
        // Losses by kind, as metadata's ledger totals.
        let losses = &m["losses"];
        assert_eq!(Some(p.nothing_sent_us), losses["nothing_sent_us"].as_i64());
        assert_eq!(
            Some(p.inferred_loss_us),
            losses["inferred_loss_us"].as_i64()
        );
        assert_eq!(Some(p.dropped_us), losses["dropped_us"].as_i64());
        assert_eq!(
            p.nothing_sent_us + p.inferred_loss_us + p.dropped_us,
            p.gap_us
        );
    }
    assert!(
        i.participants.iter().any(|p| p.inferred_loss_us > 0),
        "teams-x3 loses frames inside speech"
    );
    // Never a speaker shown over a gap in their stem without a mark: every column whose speaker lost
    // something while dominant is marked; the marks line has one character per strip column.
    assert_eq!(i.strip_marks.chars().count(), i.strip.chars().count());
    assert!(
        i.strip_marks.contains('~') || i.strip_marks.contains('!'),
        "{:?}",
        i.strip_marks
    );
    for (c, m) in i.strip.chars().zip(i.strip_marks.chars()) {
        if c == ' ' || c == '.' {
            assert_eq!(m, ' ', "a mark under a column with no speaker");
        }
    }
    // Dominant time: from the first change to the end, split among the speakers (and nobody).
    let changes = md["dominant_speakers"].as_array().unwrap();
    assert_eq!(i.dominant_changes, changes.len());
    assert!(changes.len() > 3);
    let first = changes[0]["at_us"].as_i64().unwrap();
    let spoken: i64 = i.participants.iter().map(|p| p.dominant_us).sum();
    assert!(spoken > 0 && spoken <= 30_000_000 - first, "{spoken}");
    // The strip: 60 columns of 0.5 s; a column inside one speaker's turn shows that speaker.
    assert_eq!(i.strip.chars().count(), STRIP_COLUMNS);
    assert_eq!(i.strip_column_us, 500_000);
    let col = i.strip_column_us;
    let mut checked = 0;
    for w in changes.windows(2) {
        let (a, b) = (
            w[0]["at_us"].as_i64().unwrap(),
            w[1]["at_us"].as_i64().unwrap(),
        );
        let c = (a + col - 1) / col; // first column starting inside the turn
        if (c + 1) * col <= b {
            let who = w[0]["participant"].as_str();
            let want = who.map_or('.', |n| {
                i.participants.iter().find(|p| p.name == n).unwrap().letter
            });
            assert_eq!(i.strip.chars().nth(c as usize), Some(want), "column {c}");
            checked += 1;
        }
    }
    assert!(checked > 0);
    let text = i.to_text();
    assert!(
        text.contains("speaker timeline") && text.contains(&i.strip),
        "{text}"
    );

    // Without metadata.json (a folder closed by `recover`): the same lists, from timeline.jsonl.
    std::fs::remove_file(dir.join("metadata.json")).unwrap();
    let j = inspect_dir(&dir).unwrap();
    assert_eq!(j.lists_from, Some("timeline.jsonl"));
    assert_eq!(j.strip, i.strip);
    assert_eq!(j.duration_us, i.duration_us);
    for (a, b) in i.participants.iter().zip(&j.participants) {
        assert_eq!(
            (&a.name, a.gaps, a.gap_us, a.dominant_us),
            (&b.name, b.gaps, b.gap_us, b.dominant_us)
        );
        // Joins and leaves too, from the timeline's joined/left lines.
        assert_eq!(
            (a.joined_us, a.left_us),
            (b.joined_us, b.left_us),
            "{}",
            a.name
        );
        assert!(b.left_us.is_some());
    }

    // A malformed metadata.json is reported, not a panic, and the timeline still answers.
    std::fs::write(dir.join("metadata.json"), b"{\"participants\": [1, 2").unwrap();
    let k = inspect_dir(&dir).unwrap();
    assert!(
        k.problems
            .iter()
            .any(|p| p.contains("metadata.json unreadable")),
        "{:?}",
        k.problems
    );
    assert_eq!(k.strip, i.strip);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_that_is_not_a_recording_is_a_clear_error() {
    let dir = temp_dir("inspect-none");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(
        inspect_dir(&dir),
        Err(InspectError::NotARecording(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Found by review of the fuzz target: a manifest whose start lies before 1970 or after 9999 made the RFC 3339
/// formatter panic. Now the start is clamped and shown.
#[test]
fn a_forged_start_time_is_shown_clamped_not_a_panic() {
    use verbatim::inspect::{inspect_contents, FolderContents};
    let dir = record("inspect-forged");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    for (start, shown) in [
        (-86_400_000i64, "1970-01-01T00:00:00.000Z"),
        (400_000_000_000_000, "9999-12-31T23:59:59.000Z"),
    ] {
        m["start_utc_ms"] = start.into();
        let i = inspect_contents(&FolderContents {
            dir: dir.clone(),
            manifest: Some(serde_json::to_vec(&m).unwrap()),
            ..FolderContents::default()
        });
        assert!(
            i.problems.iter().all(|p| !p.contains("manifest")),
            "{:?}",
            i.problems
        );
        assert_eq!(i.started_utc.as_deref(), Some(shown));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `inspect --svg` (the binary): the picture of a closed folder, and of the same folder without
/// metadata.json (a crash), drawn from timeline.jsonl: the same rows and the same loss bars.
#[test]
fn inspect_svg_draws_the_timeline_from_metadata_or_after_a_crash_from_the_journaled_timeline() {
    let dir = record("inspect-svg");
    let bin = env!("CARGO_BIN_EXE_verbatim");
    let draw = |out: &std::path::Path| {
        let o = std::process::Command::new(bin)
            .arg("inspect")
            .arg(&dir)
            .arg("--svg")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out).unwrap()
    };
    let closed = draw(&dir.with_extension("closed.svg"));
    let md: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json")).unwrap()).unwrap();
    assert!(closed.starts_with("<svg") && closed.trim_end().ends_with("</svg>"));
    for p in md["participants"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert!(
            closed.contains(&format!("({name})</title>")),
            "{name}'s row"
        );
    }
    // teams-x3 loses packets: the inferred losses are drawn, one bar each (or merged below a pixel).
    let losses: usize = md["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|g| g["kind"] == "inferred_loss")
                .count()
        })
        .sum();
    assert!(
        losses > 0 && closed.contains("gap-inferred_loss"),
        "{losses} losses drawn"
    );
    std::fs::remove_file(dir.join("metadata.json")).unwrap();
    let crashed = draw(&dir.with_extension("crashed.svg"));
    let rows = |s: &str| s.matches("class=\"speech\"").count();
    assert!(rows(&closed) >= 4, "speech bars drawn");
    assert_eq!(
        rows(&crashed),
        rows(&closed),
        "the same speech bars from the journaled timeline"
    );
    assert_eq!(
        crashed.matches("gap-inferred_loss").count(),
        closed.matches("gap-inferred_loss").count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
