//! The timeline as a self-contained HTML page (`demo --timeline-html`): the SVG inline, and the
//! details of the second under the pointer (or named in the address, `#t=13`) beside it. No
//! script, style or font is loaded from anywhere: the page works from a file, offline.

use serde_json::json;

use super::CHAPTERS;
use super::recording::Recording;
use crate::timeline::Timeline;

const SCRIPT: &str = r#"
const data = JSON.parse(document.getElementById('data').textContent);
const picture = document.getElementById('picture');
const details = document.getElementById('details');
function line(label, text) {
  const li = document.createElement('li');
  const b = document.createElement('b');
  b.textContent = label + ': ';
  li.append(b, text);
  return li;
}
function show(second) {
  const s = data.seconds[second];
  if (!s) { return; }
  details.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = `${second} s to ${second + 1} s`;
  const ul = document.createElement('ul');
  ul.append(line('state', s.states.join(' → ') || '—'));
  ul.append(line('handed out', s.serving || 'nothing'));
  ul.append(line('IMDS', s.requests.join(', ') || 'no request'));
  s.workers.forEach((w, i) => ul.append(line(`worker ${i + 1}`,
    `${w.handouts} hand-outs, ${w.refusals} refusals, ${w.expired} expired uses`)));
  details.append(h, ul);
  details.dataset.second = second;
}
picture.addEventListener('mousemove', (ev) => {
  const svg = picture.querySelector('svg');
  const r = svg.getBoundingClientRect();
  const x = (ev.clientX - r.left) * data.axis.width / r.width;
  const t = (x - data.axis.x0) / (data.axis.x1 - data.axis.x0) * data.length;
  if (t >= 0 && t < data.length) { show(Math.floor(t)); }
});
const m = /^#t=(\d+)$/.exec(window.location.hash);
show(m ? Number(m[1]) : 0);
"#;

const STYLE: &str = "body{font-family:sans-serif;margin:1em;color:#222}\
#picture{overflow-x:auto}\
#details{max-width:60em;border:1px solid #ccc;padding:.5em;background:#fafafa}\
#details h2{margin:.2em 0}#details ul{padding-left:1em;margin:.3em 0}";

/// The page for `timeline`, with per-second details from `rec`.
pub(crate) fn html(timeline: &Timeline, rec: &Recording) -> Result<String, String> {
    let (svg, axis) = timeline.to_svg_with_axis()?;
    let seconds: Vec<_> = (0..rec.cells.first().map_or(0, Vec::len))
        .map(|s| {
            let (from, until) = (s as f64, s as f64 + 1.0);
            let mut states: Vec<String> = rec
                .state_at(from)
                .map(|k| k.to_string())
                .into_iter()
                .collect();
            states.extend(
                rec.states
                    .iter()
                    .filter(|(at, _)| *at > from && *at < until)
                    .map(|(_, k)| k.to_string()),
            );
            states.dedup();
            let requests: Vec<String> = rec
                .asked
                .iter()
                .filter(|a| a.at >= from && a.at < until)
                .map(|a| format!("{:.2} s {} {}", a.at, a.what, a.outcome))
                .collect();
            json!({
                "states": states,
                // The set handed out last in this second, if any was.
                "serving": rec
                    .cells
                    .iter()
                    .any(|c| c[s].handouts > 0)
                    .then(|| rec.serving_at(until - 1e-9).map(Recording::short))
                    .flatten(),
                "requests": requests,
                "workers": rec.cells.iter().map(|c| json!({
                    "handouts": c[s].handouts,
                    "refusals": c[s].refusals,
                    "expired": c[s].expired,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let data = json!({
        "length": timeline.length,
        "axis": {"x0": axis.x0, "x1": axis.x1, "width": axis.width, "height": axis.height},
        "seconds": seconds,
    });
    // Inside <script>, "</" would end the element early.
    let data = data.to_string().replace("</", "<\\/");
    let chapters: String = CHAPTERS
        .iter()
        .map(|(at, title)| format!("<li>{at:.0} s: {}</li>", escape(title)))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n\
         <p>Point at the picture: what happened in that second is shown under it (or open this \
         page with <code>#t=13</code> at the end of its address).</p>\n\
         <div id=\"layout\">\n<div id=\"picture\">\n{svg}\n</div>\n\
         <aside id=\"details\" aria-live=\"polite\"></aside>\n</div>\n\
         <h2>The story</h2>\n<ol id=\"chapters\">{chapters}</ol>\n\
         <script type=\"application/json\" id=\"data\">{data}</script>\n\
         <script>{SCRIPT}</script>\n</body>\n</html>\n",
        title = escape(&timeline.title),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
