//! The pictures as a person sees them, in a real headless Chromium: the demo's SVG timeline
//! and HTML page are rendered to PNG screenshots (kept under `target/tmp/browser/`, not in git)
//! that must not be blank, with the expected elements in the DOM; the model explorer
//! (`check --explore`) lists the initial states and follows a transition.
//!
//! Chromium is driven by its own command line (`--headless --screenshot`, `--dump-dom` after
//! the page's scripts ran, with `--virtual-time-budget`). It loads only `file://` pages and
//! `http://127.0.0.1` (every other host name is mapped to nothing), with background networking,
//! updates, sync and extensions off.
//!
//! Without a browser these tests print a line saying they were skipped, unless
//! `CREDCYCLE_REQUIRE_BROWSER=1` (set by `.ci/run`): then a missing browser fails them.
//! `CREDCYCLE_CHROMIUM` names the binary (default: `chromium`, `chromium-browser`,
//! `google-chrome` on the `PATH`).
//!
//! The waits below are hang guards, not timing assertions.

#![expect(clippy::expect_used, reason = "test code")]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use credcycle_clock::SystemClock;

/// How long one browser run may take before it is killed and the test fails.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// The browser, or `None` (with a skip line) when there is none and none is required.
fn chromium(test: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("CREDCYCLE_CHROMIUM") {
        Some(named) => Some(PathBuf::from(named)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|path| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
                .find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        let required = std::env::var("CREDCYCLE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CREDCYCLE_REQUIRE_BROWSER=1 but no Chromium was found (install it: apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED {test}: no Chromium found (CREDCYCLE_CHROMIUM, or chromium on the PATH); \
             set CREDCYCLE_REQUIRE_BROWSER=1 to fail instead"
        );
    }
    found
}

/// Where screenshots go: under target/, for CI to keep as artifacts.
fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("create target/tmp/browser");
    dir
}

/// Runs the browser headless on `url` with `extra` arguments; its stdout.
fn browse(browser: &Path, profile: &Path, url: &str, extra: &[&str]) -> String {
    assert!(
        url.starts_with("file:///") || url.starts_with("http://127.0.0.1:"),
        "the tests load local pages only: {url}"
    );
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-breakpad",
        "--metrics-recording-only",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start the browser");
    let out = wait_guarded(child);
    assert!(
        out.status.success(),
        "the browser failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_guarded(mut child: Child) -> Output {
    let clock = SystemClock::new();
    let started = clock.now().mono;
    loop {
        if child.try_wait().expect("poll the browser").is_some() {
            return child
                .wait_with_output()
                .expect("collect the browser's output");
        }
        if clock.now().mono.saturating_duration_since(started) > HANG_GUARD {
            let _ = child.kill();
            let out = child.wait_with_output().expect("reap the browser");
            panic!("the browser hung: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Takes a screenshot of `url` into `png` and checks that it is not blank: many colours, a
/// good share of pixels that are not the background, and `colours` among them.
fn screenshot(browser: &Path, profile: &Path, url: &str, png: &Path, colours: &[[u8; 3]]) {
    let _ = std::fs::remove_file(png);
    browse(
        browser,
        profile,
        url,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1100,700",
            "--virtual-time-budget=3000",
        ],
    );
    let decoder = png::Decoder::new(BufReader::new(
        std::fs::File::open(png).expect("the screenshot was written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    assert_eq!(pixels.len(), (info.width * info.height) as usize);
    let background = pixels[0];
    let other = pixels.iter().filter(|p| **p != background).count();
    let distinct: std::collections::BTreeSet<_> = pixels.iter().collect();
    println!(
        "{}: {}x{}, {} colours, {:.1} % not background",
        png.display(),
        info.width,
        info.height,
        distinct.len(),
        100.0 * other as f64 / pixels.len() as f64
    );
    assert!(distinct.len() > 16, "{} looks blank", png.display());
    assert!(
        other * 10 > pixels.len(),
        "{}: under 10 % of it is drawn",
        png.display()
    );
    for c in colours {
        assert!(
            pixels.contains(c),
            "{}: no pixel of colour {c:?}",
            png.display()
        );
    }
}

fn file_url(path: &Path) -> String {
    format!(
        "file://{}",
        path.canonicalize().expect("absolute").display()
    )
}

/// The strips' hand-out blue, the state band's Fresh green, the outage's shade.
const DRAWN: [[u8; 3]; 3] = [[70, 110, 170], [150, 210, 150], [250, 226, 200]];

#[test]
fn demo_timeline_and_page_render_in_chromium() {
    let Some(browser) = chromium("demo_timeline_and_page_render_in_chromium") else {
        return;
    };
    let dir = out_dir();
    let profile = tempfile::tempdir().expect("a profile directory");
    let (svg, html) = (
        dir.join("demo-timeline.svg"),
        dir.join("demo-timeline.html"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_credcycle"))
        .arg("demo")
        .arg("--timeline")
        .arg(&svg)
        .arg("--timeline-html")
        .arg(&html)
        .output()
        .expect("run the demo");
    assert!(out.status.success(), "{out:?}");

    screenshot(
        &browser,
        profile.path(),
        &file_url(&svg),
        &dir.join("demo-timeline-svg.png"),
        &DRAWN,
    );
    let dom = browse(&browser, profile.path(), &file_url(&svg), &["--dump-dom"]);
    for want in [
        "<svg",
        "worker 1",
        "worker 4",
        "state",
        "IMDS",
        "outage: credentials answer 500",
    ] {
        assert!(dom.contains(want), "the SVG's DOM lacks {want:?}");
    }

    screenshot(
        &browser,
        profile.path(),
        &file_url(&html),
        &dir.join("demo-timeline-html.png"),
        &DRAWN,
    );
    // The page's script ran: the details of the second named in the address are shown.
    let url = format!("{}#t=20", file_url(&html));
    let dom = browse(
        &browser,
        profile.path(),
        &url,
        &["--dump-dom", "--virtual-time-budget=3000"],
    );
    assert!(dom.contains("<svg"), "the page lacks the picture");
    assert!(
        dom.contains("data-second=\"20\"") && dom.contains("20 s to 21 s"),
        "the details of second 20 are not shown"
    );
    assert!(
        dom.contains("Unavailable") && dom.contains("refusals"),
        "second 20 (inside the outage, nothing usable) is not described"
    );
    assert!(dom.contains("<ol id=\"chapters\"><li>"));
}

/// A child killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn explorer_lists_the_initial_states_and_follows_a_transition() {
    let Some(browser) = chromium("explorer_lists_the_initial_states_and_follows_a_transition")
    else {
        return;
    };
    let mut explorer = Guard(
        Command::new(env!("CARGO_BIN_EXE_credcycle"))
            .args([
                "check",
                "--explore",
                "--listen",
                "127.0.0.1:0",
                "--depth",
                "3",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the explorer"),
    );
    let stdout = explorer.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(HANG_GUARD)
        .expect("the explorer printed its address");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line: listening on http://HOST:PORT")
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let profile = tempfile::tempdir().expect("a profile directory");
    let dump = |path: &str| {
        browse(
            &browser,
            profile.path(),
            &format!("{base}/{path}"),
            &["--dump-dom", "--virtual-time-budget=5000"],
        )
    };

    // The start page lists the initial states (unpinned and pinned) as the first choices.
    let start = dump("");
    assert!(
        start.contains(">Init 0</a>") && start.contains(">Init 1</a>"),
        "the initial states are not listed"
    );
    assert!(start.contains("INV-1 no expired hand-out"));

    // The first initial state: its kind is shown, and its transitions are listed.
    let init = dump("#/steps/0");
    assert!(
        init.contains("kind: Idle,"),
        "the initial state's kind is not shown"
    );
    assert!(
        init.contains("href=\"#/steps/0/0\""),
        "no transition is listed"
    );

    // Following the first transition (a demand): the kinds and the rule taken are shown.
    let next = dump("#/steps/0/0");
    assert!(
        next.contains("kind: Idle -&gt; Discovering"),
        "the step's kinds are not shown"
    );
    assert!(next.contains("rule: R1 "), "the rule taken is not shown");
    assert!(next.contains("is-selected-state\" href=\"#/steps/0/0?offset=0\""));
    screenshot(
        &browser,
        profile.path(),
        &format!("{base}/#/steps/0/0"),
        &out_dir().join("explorer.png"),
        &[],
    );
}
