//! The demo's timeline: `docs/img/demo-timeline.svg` is what `credcycle demo --timeline` draws
//! today (the way `docs/state-machine.md` is kept fresh), the run is deterministic, and the
//! picture says what the story promises about the outage.
//!
//! Regenerate the committed picture with:
//! `UPDATE_DOCS=1 cargo test -p credcycle-cli --test pictures`

use std::path::{Path, PathBuf};
use std::process::Command;

fn doc_svg() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/img/demo-timeline.svg")
}

/// Runs `credcycle demo` with `args` (plus `--timeline DIR/demo.svg --timeline-html
/// DIR/demo.html`) and returns the SVG, the HTML and stdout.
fn draw(dir: &Path, args: &[&str]) -> (String, String, String) {
    let (svg, html) = (dir.join("demo.svg"), dir.join("demo.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_credcycle"))
        .arg("demo")
        .args(args)
        .arg("--timeline")
        .arg(&svg)
        .arg("--timeline-html")
        .arg(&html)
        .env_remove("RUST_LOG")
        .output()
        .expect("run credcycle demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(svg).expect("the SVG was written"),
        std::fs::read_to_string(html).expect("the HTML was written"),
        stdout,
    )
}

#[test]
fn committed_demo_timeline_is_fresh_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, _, _) = draw(dir.path(), &[]);
    let again = tempfile::tempdir().unwrap();
    let (svg2, _, _) = draw(again.path(), &[]);
    assert!(
        svg == svg2,
        "two runs with the same seed drew different pictures"
    );
    let path = doc_svg();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &svg).expect("write docs/img/demo-timeline.svg");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == svg,
        "docs/img/demo-timeline.svg is stale: run `UPDATE_DOCS=1 cargo test -p credcycle-cli --test pictures`"
    );
}

/// The filled rectangles of `colour` in an SVG from plotters (one element per line), as
/// `(x, width)` pairs in pixels.
fn rects(svg: &str, colour: &str) -> Vec<(f64, f64)> {
    let attr = |line: &str, name: &str| -> Option<f64> {
        let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
        line[start..].split('"').next()?.parse().ok()
    };
    svg.lines()
        .filter(|l| l.starts_with("<rect") && l.contains(&format!("fill=\"{colour}\"")))
        .filter_map(|l| Some((attr(l, "x")?, attr(l, "width")?)))
        .collect()
}

#[test]
fn the_outage_is_drawn_as_the_story_promises() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, html, stdout) = draw(dir.path(), &["--seed", "7", "--workers", "2"]);
    assert!(stdout.contains("EXPIRED USES (must be 0)                        0"));
    assert!(svg.contains("outage: credentials answer 500"));
    assert!(svg.contains("\nworker 2\n") && !svg.contains("\nworker 3\n"));
    assert!(svg.contains("seed 7"));
    // The strips are red-free: no cell of an expired use.
    assert!(
        rects(&svg, "#FF0000").is_empty(),
        "an expired use was drawn"
    );
    // The data behind the page: refusals during the outage (12 s to 22 s) only in seconds
    // where nothing usable was held (state Unavailable), and the credentials requests inside
    // it spaced by the backoff (never closer than its 0.5 s base).
    let data = html
        .split("<script type=\"application/json\" id=\"data\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .expect("the page carries its data");
    let data: serde_json::Value = serde_json::from_str(&data.replace("<\\/", "</")).unwrap();
    let seconds = data["seconds"].as_array().unwrap();
    assert_eq!(seconds.len(), 40);
    let mut refused_in_outage = 0;
    for (s, second) in seconds.iter().enumerate().take(22).skip(12) {
        let refusals: u64 = second["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["refusals"].as_u64().unwrap())
            .sum();
        let states: Vec<&str> = second["states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if refusals > 0 {
            refused_in_outage += refusals;
            assert!(
                states.contains(&"Unavailable"),
                "refusals at {s} s while the lifecycle was {states:?}"
            );
        } else {
            assert!(second["serving"].is_string(), "nothing served at {s} s");
        }
    }
    assert!(refused_in_outage > 0, "the story's outage outlasts the set");
    let failed: Vec<f64> = seconds
        .iter()
        .flat_map(|s| s["requests"].as_array().unwrap())
        .map(|r| r.as_str().unwrap())
        .filter(|r| r.ends_with("credentials 500"))
        .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(failed.len() >= 4, "{failed:?}");
    assert!(
        failed.iter().all(|t| (12.0..22.0).contains(t)),
        "{failed:?}"
    );
    for pair in failed.windows(2) {
        assert!(pair[1] - pair[0] >= 0.5 - 1e-9, "{failed:?}");
    }
}
