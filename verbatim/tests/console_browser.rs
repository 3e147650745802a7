//! The compliance console in a real browser: `verbatim serve` (a process) over two recordings `verbatim
//! record` made, headless Chromium driven over WebDriver (Debian's chromium-driver): sign in, search, open a
//! recording, give a reason, play (currentTime advances, the audio reaching WebAudio is not silent), check the
//! speaker timeline's colours in a screenshot at the speakers' times, click the timeline to seek, download
//! the evidence bundle and verify it with `verbatim verify`, and read the audit log.
//!
//! Needs chromium and chromedriver (scripts/setup.sh installs both); without them the test prints a loud
//! `SKIPPED` and passes. `VERBATIM_SCREENSHOTS=DIR` keeps the pages' screenshots (docs/console/ holds them; a relative DIR is
//! taken from the `verbatim` crate's folder, where tests run).

mod browser_util;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser_util::*;
use fantoccini::Locator;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

/// Starts `verbatim serve` and returns it with its URL (read from its first line).
fn serve(root: &Path, identity: &Path) -> (Kill, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--root"])
        .arg(root)
        .arg("--identity")
        .arg(identity)
        .args(["--bind", "127.0.0.1:0", "--rescan", "1s"])
        .stderr(Stdio::null());
    serve_from(cmd)
}

/// The RGB of a pixel of a PNG.
fn pixel(png_bytes: &[u8], x: u32, y: u32) -> (u32, [u8; 3]) {
    let mut dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let i = (y as usize * info.width as usize + x as usize) * ch;
    (info.width, [buf[i], buf[i + 1], buf[i + 2]])
}

fn png_width(png_bytes: &[u8]) -> u32 {
    let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
    dec.read_info().unwrap().info().width
}

fn hex_rgb(h: &str) -> [u8; 3] {
    let v = u32::from_str_radix(h.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 12)
}

fn keep_screenshot(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("VERBATIM_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(name), bytes).unwrap();
    }
}

/// Gives the reason for playing on a review page and waits for the player.
async fn give_reason(c: &fantoccini::Client, reason: &str) {
    c.find(Locator::Css("#reason"))
        .await
        .unwrap()
        .send_keys(reason)
        .await
        .unwrap();
    c.find(Locator::Css("#play"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css("#player")).await.unwrap();
}

/// Seeks the page's player to `at` seconds, plays 1.5 s through WebAudio and reports what it heard.
async fn play_from(c: &fantoccini::Client, at: f64) -> Value {
    let js = JS_PLAY.replace("SEEK_TO", &at.to_string());
    c.execute_async(&js, vec![]).await.unwrap()
}

const JS_PLAY: &str = r#"const done = arguments[arguments.length - 1];
            const v = document.getElementById('player');
            const go = async () => {
              if (v.readyState < 1) await new Promise(r => v.addEventListener('loadedmetadata', r, {once: true}));
              const ctx = new AudioContext();
              const an = ctx.createAnalyser();
              ctx.createMediaElementSource(v).connect(an);
              an.connect(ctx.destination);
              v.currentTime = SEEK_TO;
              await new Promise(r => v.addEventListener('seeked', r, {once: true}));
              await v.play();
              await ctx.resume();
              const buf = new Float32Array(an.fftSize);
              let peak = 0;
              const t0 = v.currentTime;
              for (let k = 0; k < 30; k++) {
                await new Promise(r => setTimeout(r, 50));
                an.getFloatTimeDomainData(buf);
                for (const s of buf) peak = Math.max(peak, Math.abs(s));
              }
              done({start: t0, now: v.currentTime, duration: v.duration, peak, state: ctx.state});
            };
            go().catch(e => done({error: String(e)}));"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_officer_signs_in_finds_plays_sees_the_timeline_exports_and_is_audited_in_chromium() {
    let Some((chromium, chromedriver)) = tools() else {
        eprintln!("SKIPPED: chromium or chromedriver missing (run scripts/setup.sh): the console's browser test did NOT run");
        return;
    };
    let root = std::env::temp_dir().join(format!("console-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let standup = root.join("2026/12/standup");
    let call = root.join("2026/12/call");
    run(
        &[
            "record",
            "--simulate",
            "--meeting",
            "standup",
            "--duration",
            "60s",
            "--quiet",
            "--out",
            standup.to_str().unwrap(),
        ],
        None,
    );
    run(
        &[
            "record",
            "--simulate",
            "--participants",
            "3",
            "--duration",
            "20s",
            "--seed",
            "7",
            "--quiet",
            "--out",
            call.to_str().unwrap(),
        ],
        None,
    );
    run(
        &[
            "users",
            "add",
            "olivia",
            "--role",
            "admin",
            "--root",
            root.to_str().unwrap(),
        ],
        Some(PASSWORD),
    );
    // An encrypted one: the console holds the identity (the recorder only the recipient).
    let identity = root.join(".identity");
    let recipient = run(
        &[
            "keygen",
            "--encryption",
            "--identity-file",
            identity.to_str().unwrap(),
        ],
        None,
    );
    let sealed = root.join("2026/12/sealed");
    let args = "record --simulate --participants 2 --duration 15s --seed 9 --quiet --encrypt-to";
    let mut args: Vec<&str> = args.split(' ').collect();
    args.extend([recipient.trim(), "--out", sealed.to_str().unwrap()]);
    run(&args, None);
    let (_server, url) = serve(&root, &identity);

    let downloads = root.join(".downloads");
    let (_driver, c) = browser(&chromium, &chromedriver, &root).await;

    // No page answers without a session: the search page sends the browser to the login.
    c.goto(&format!("{url}/")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("/login"));
    // A wrong password is refused with a message.
    c.find(Locator::Css("#user"))
        .await
        .unwrap()
        .send_keys("olivia")
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys("wrong password")
        .await
        .unwrap();
    c.find(Locator::Css("#signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#login-error"))
        .await
        .unwrap();
    keep_screenshot("login.png", &c.screenshot().await.unwrap());
    sign_in(&c, "olivia", PASSWORD).await;
    c.wait().for_element(Locator::Css("#search")).await.unwrap();

    // Search: frank is only in the stand-up.
    let all = c.find_all(Locator::Css("tr.result")).await.unwrap();
    assert_eq!(all.len(), 3, "every recording listed before any search");
    c.find(Locator::Css("#q-participant"))
        .await
        .unwrap()
        .send_keys("Frank")
        .await
        .unwrap();
    c.find(Locator::Css("#q-go"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The results page is a new page: wait until the browser is on it (the old page has #results too).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("participant=Frank")
    {
        assert!(Instant::now() < deadline, "the search page did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait()
        .for_element(Locator::Css("#results"))
        .await
        .unwrap();
    let rows = c.find_all(Locator::Css("tr.result")).await.unwrap();
    assert_eq!(rows.len(), 1, "frank's search finds the stand-up only");
    keep_screenshot("search.png", &c.screenshot().await.unwrap());
    rows[0]
        .find(Locator::Css("a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let verdict = c
        .wait()
        .for_element(Locator::Css("#verdict"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(verdict.contains("Intact"), "{verdict}");

    // The timeline: each participant's colour where they spoke, at their times; pale where their audio was
    // received but silent (the stand-up sends buffers for people who say nothing; their stems are silent).
    let meta = std::fs::read(standup.join("metadata.json")).unwrap();
    let mut input = timeline_svg::TimelineInput::from_metadata_json(&meta).unwrap();
    for row in &mut input.participants {
        let stem = standup.join(format!("participants/{}.wav", row.name));
        row.quiet =
            timeline_svg::quiet_spans(&timeline_svg::peaks_from_wav_path(&stem, 100_000).unwrap());
    }
    let opts = timeline_svg::SvgOptions::default();
    let svg = c.find(Locator::Css("#timeline svg")).await.unwrap();
    let shot = svg.screenshot().await.unwrap();
    keep_screenshot("timeline.png", &shot);
    let scale = f64::from(png_width(&shot)) / f64::from(opts.width);
    let mut checked = 0;
    let mut pale_checked = 0;
    for (i, row) in input.participants.iter().enumerate() {
        let y = (timeline_svg::row_center_y(i, &opts) * scale) as u32;
        let want = hex_rgb(timeline_svg::row_color(i));
        // Received but silent: the colour at 30 % over the presence track, not the colour itself.
        let silent = timeline_svg::silent_spans(row, input.duration_us);
        if let Some(&(a, b)) = silent
            .iter()
            .filter(|(a, b)| b - a >= 2_000_000)
            .max_by_key(|(a, b)| b - a)
        {
            let x = (timeline_svg::x_of((a + b) / 2, input.duration_us, &opts) * scale) as u32;
            let (_, rgb) = pixel(&shot, x, y);
            let bg = hex_rgb(timeline_svg::PRESENCE_COLOR);
            let pale: [u8; 3] = std::array::from_fn(|k| {
                (0.3 * f64::from(want[k]) + 0.7 * f64::from(bg[k])).round() as u8
            });
            assert!(
                close(rgb, pale) && !close(rgb, want),
                "{}: pixel at {:.1} s (received, silent) is {rgb:?}, expected pale {pale:?}",
                row.name,
                (a + b) as f64 / 2e6
            );
            pale_checked += 1;
        }
        let spans = timeline_svg::spoken_spans(row, input.duration_us);
        let Some(&(a, b)) = spans.iter().max_by_key(|(a, b)| b - a) else {
            continue;
        };
        let x = (timeline_svg::x_of((a + b) / 2, input.duration_us, &opts) * scale) as u32;
        let (_, rgb) = pixel(&shot, x, y);
        assert!(
            close(rgb, want),
            "{}: pixel at {:.1} s is {rgb:?}, expected {want:?}",
            row.name,
            (a + b) as f64 / 2e6
        );
        // And not their colour before they joined (when they joined after 2 s).
        if let Some(j) = row.joined_us.filter(|j| *j > 2_000_000) {
            let xb = (timeline_svg::x_of(j / 2, input.duration_us, &opts) * scale) as u32;
            let (_, before) = pixel(&shot, xb, y);
            assert!(
                !close(before, want),
                "{}: their colour before they joined",
                row.name
            );
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        input.participants.len(),
        "everyone in the stand-up speaks"
    );
    assert!(
        pale_checked >= 2,
        "the stand-up has people who are received but silent for long"
    );

    // Playing needs a reason; then the player plays and its audio is not silent.
    assert!(
        c.find(Locator::Css("#player")).await.is_err(),
        "no player before a reason is given"
    );
    give_reason(&c, "case 4711: client complaint").await;
    let played = play_from(&c, 20.0).await;
    eprintln!("player: {played}");
    assert!(played.get("error").is_none(), "{played}");
    let f = |k: &str| played[k].as_f64().unwrap_or(f64::NAN);
    assert!((f("duration") - 60.0).abs() < 0.1, "duration {played}");
    assert!(
        f("now") > f("start") + 0.5,
        "currentTime advances: {played}"
    );
    assert!(
        f("peak") > 0.01,
        "the audio reaching WebAudio is not silent: {played}"
    );

    // A click on a bar of the timeline seeks the player to that bar's start.
    let target: Value = c
        .execute(
            "const r = [...document.querySelectorAll('#timeline rect.speech')].find(e => Number(e.dataset.startUs) > 25e6);\
             r.dispatchEvent(new MouseEvent('click', {bubbles: true})); return Number(r.dataset.startUs) / 1e6;",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = c
        .execute(
            "return document.getElementById('player').currentTime",
            vec![],
        )
        .await
        .unwrap();
    let (want, got) = (target.as_f64().unwrap(), now.as_f64().unwrap());
    assert!(
        got >= want - 0.05 && got < want + 2.0,
        "seeked to {got}, the bar starts at {want}"
    );
    keep_screenshot("recording.png", &c.screenshot().await.unwrap());

    // The evidence bundle: downloaded by the browser, unpacked, verified with the key it carries.
    c.find(Locator::Css("#export"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let t0 = Instant::now();
    let zip_path = loop {
        let done = std::fs::read_dir(&downloads)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "zip"));
        if let Some(p) = done {
            break p;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no download in {}",
            downloads.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = root.join(".bundle");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let p = out.join(f.enclosed_name().unwrap());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    assert!(out.join("README.txt").exists() && out.join("verify-report.txt").exists());
    let v = Command::new(BIN)
        .args(["verify"])
        .arg(out.join("recording"))
        .arg("--public-key")
        .arg(out.join("public-key.txt"))
        .output()
        .unwrap();
    assert!(
        v.status.success(),
        "the bundle verifies: {}",
        String::from_utf8_lossy(&v.stdout)
    );
    for f in ["recording.mp4", "mixed.wav", "participants/frank.wav"] {
        assert_eq!(
            std::fs::read(out.join("recording").join(f)).unwrap(),
            std::fs::read(standup.join(f)).unwrap(),
            "{f}"
        );
    }

    // The audit log names every step, and its chain holds.
    c.goto(&format!("{url}/audit")).await.unwrap();
    let chain = c
        .find(Locator::Css("#chain"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chain.contains("holds"), "{chain}");
    let page = c.source().await.unwrap();
    for needle in [
        "login_failed",
        "search",
        "participant=Frank",
        "case 4711: client complaint",
        "export",
    ] {
        assert!(page.contains(needle), "the audit page lacks {needle:?}");
    }
    keep_screenshot("audit.png", &c.screenshot().await.unwrap());

    // The encrypted recording: catalogued from its decrypted metadata, verified without a key, played from
    // the console's decrypted copy.
    c.goto(&format!("{url}/recording?id=2026%2F12%2Fsealed"))
        .await
        .unwrap();
    let verdict = c
        .find(Locator::Css("#verdict"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        verdict.contains("Intact") && verdict.contains("encrypted"),
        "{verdict}"
    );
    let details = c
        .find(Locator::Css("#meta"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        details.contains("Alice, Bob"),
        "display names from the decrypted metadata.json: {details}"
    );
    give_reason(&c, "case 4712: sealed call").await;
    let sealed_play = play_from(&c, 3.0).await;
    eprintln!("encrypted recording's player: {sealed_play}");
    assert!(
        (sealed_play["duration"].as_f64().unwrap() - 15.0).abs() < 0.1,
        "{sealed_play}"
    );
    assert!(
        sealed_play["peak"].as_f64().unwrap() > 0.01,
        "{sealed_play}"
    );
    assert!(
        std::fs::read(sealed.join("recording.mp4"))
            .unwrap()
            .starts_with(b"VBSEAL"),
        "the folder stays sealed"
    );
    c.close().await.unwrap();
    let audit = run(
        &[
            "users",
            "audit",
            "--root",
            root.to_str().unwrap(),
            "--last",
            "50",
        ],
        None,
    );
    assert!(
        audit.contains("the hash chain holds") && audit.contains(" play "),
        "{audit}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
