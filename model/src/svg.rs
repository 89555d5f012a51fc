//! The explorer's picture of a state and of the path that reached it (`Model::as_svg`).
//!
//! From top to bottom:
//! 1. the last step and the verdict on this state: every `always` property that fails here,
//!    with its reason ([`crate::properties::violations`], the checker's own code), in red;
//! 2. one lane per server: role, term and vote on the left, then the log with one column per
//!    index (so equal indices line up across servers), the snapshot boundary, the commit
//!    index and the entries the service applied, and on the right what the service holds
//!    and the leader's next/match per follower or the candidate's votes;
//! 3. the committed history (the entry first committed at each index), the terms that
//!    elected a leader and the bounds used up;
//! 4. the messages in flight;
//! 5. a sequence diagram of the whole path: one vertical timeline per server, an arrow from
//!    each send to its delivery, a cross for a loss, `+1` for a duplicate, a dagger for a
//!    message pruned as dead, dashed arrows for messages still in flight, and a marker for
//!    each local step (timeout, election, client request, commit, snapshot, crash).
//!
//! The picture has its own light background, so it reads the same in the explorer's dark
//! page and in a file.

use crate::describe;
use crate::model::{Action, RaftModel};
use crate::network::{Message, Packet};
use crate::server::ServerState;
use crate::state::ClusterState;
use crate::types::Role;
use std::fmt::Write;

/// Width of one character of the 12px monospace font, in px.
const CHAR_W: f64 = 7.3;
const PAD: f64 = 14.0;
/// Left column of a server lane (name, role, term, vote).
const LABEL_W: f64 = 200.0;
/// One log index.
const CELL_W: f64 = 52.0;
const CELL_H: f64 = 24.0;
const LANE_H: f64 = 50.0;
/// One server's timeline in the sequence diagram, and one step.
const COL_W: f64 = 84.0;
const ROW_H: f64 = 24.0;
const FONT: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";

/// Fill colours for log entries by term (term 0 never has entries).
const TERM_FILL: [&str; 8] = [
    "#eeeeee", "#bbdefb", "#c8e6c9", "#ffe0b2", "#e1bee7", "#ffcdd2", "#b2dfdb", "#f0f4c3",
];

fn term_fill(term: u8) -> &'static str {
    TERM_FILL[usize::from(term) % TERM_FILL.len()]
}

/// Border colours by term, darker than the fills: the outline of a hollow (not yet
/// durable) entry.
const TERM_STROKE: [&str; 8] = [
    "#9e9e9e", "#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935", "#00897b", "#c0ca33",
];

fn term_stroke(term: u8) -> &'static str {
    TERM_STROKE[usize::from(term) % TERM_STROKE.len()]
}

fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// Escapes text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An SVG body under construction, with the width it needs.
struct Canvas {
    body: String,
    width: f64,
}

impl Canvas {
    fn grow(&mut self, right: f64) {
        if right > self.width {
            self.width = right;
        }
    }

    /// Text at (x, y) (baseline); `style` is extra attributes.
    fn text(&mut self, x: f64, y: f64, size: f64, style: &str, s: &str) {
        let _ = write!(
            self.body,
            "<text x='{x:.1}' y='{y:.1}' font-size='{size}' {style}>{}</text>",
            esc(s)
        );
        self.grow(x + text_w(s) * size / 12.0);
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str) {
        let _ = write!(
            self.body,
            "<rect x='{x:.1}' y='{y:.1}' width='{w:.1}' height='{h:.1}' {style}/>"
        );
        self.grow(x + w);
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), style: &str) {
        let _ = write!(
            self.body,
            "<line x1='{x1:.1}' y1='{y1:.1}' x2='{x2:.1}' y2='{y2:.1}' {style}/>"
        );
    }

    fn circle(&mut self, (x, y): (f64, f64), r: f64, style: &str) {
        let _ = write!(
            self.body,
            "<circle cx='{x:.1}' cy='{y:.1}' r='{r}' {style}/>"
        );
    }
}

/// The picture of the last state of `path` and of the steps that reached it.
pub fn render(model: &RaftModel, path: &[(ClusterState, Option<Action>)]) -> String {
    let Some((state, _)) = path.last() else {
        return String::new();
    };
    let mut c = Canvas {
        body: String::new(),
        width: 0.0,
    };
    let mut y = PAD;
    y = header(&mut c, model, path, y);
    y = lanes(&mut c, state, y + 8.0);
    y = history(&mut c, model, state, y + 4.0);
    y = network(&mut c, state, y + 10.0);
    y = sequence(&mut c, model, path, y + 14.0);
    let (w, h) = (c.width + PAD, y + PAD);
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' version='1.1' width='{w:.0}' height='{h:.0}' \
         viewBox='0 0 {w:.0} {h:.0}' font-family='{FONT}'>\
         <defs>{}</defs>\
         <rect x='0' y='0' width='{w:.0}' height='{h:.0}' fill='#fcfcfa'/>{}</svg>",
        markers(),
        c.body
    )
}

/// Arrowheads, one per message kind colour.
fn markers() -> String {
    let mut out = String::new();
    for (id, colour) in [
        ("vote", KIND_VOTE),
        ("append", KIND_APPEND),
        ("snap", KIND_SNAP),
        ("dead", "#9e9e9e"),
    ] {
        let _ = write!(
            out,
            "<marker id='arrow-{id}' markerWidth='10' markerHeight='8' refX='10' refY='4' \
             orient='auto' markerUnits='userSpaceOnUse'><polygon points='0 0, 10 4, 0 8' \
             fill='{colour}'/></marker>"
        );
    }
    out
}

const KIND_VOTE: &str = "#7b1fa2";
const KIND_APPEND: &str = "#1565c0";
const KIND_SNAP: &str = "#8d6e63";

/// The colour and arrowhead id of a message kind.
fn kind(msg: &Message) -> (&'static str, &'static str) {
    match msg {
        Message::RequestVote { .. } | Message::RequestVoteReply { .. } => (KIND_VOTE, "vote"),
        Message::AppendEntries { .. } | Message::AppendEntriesReply { .. } => {
            (KIND_APPEND, "append")
        }
        Message::InstallSnapshot { .. } | Message::InstallSnapshotReply { .. } => {
            (KIND_SNAP, "snap")
        }
    }
}

/// Splits `s` into lines of at most `width` characters, at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The last step and the verdict on the state it reached.
fn header(
    c: &mut Canvas,
    model: &RaftModel,
    path: &[(ClusterState, Option<Action>)],
    mut y: f64,
) -> f64 {
    let (state, _) = path.last().expect("a path has a last state");
    let steps = path.len() - 1;
    let title = match path.iter().rev().nth(1) {
        Some((_, Some(action))) => format!("step {steps}: {}", describe::action(action)),
        _ => "initial state: every server a follower in term 0, nothing in flight".to_string(),
    };
    c.text(
        PAD,
        y + 14.0,
        14.0,
        "font-weight='bold' fill='#212121'",
        &title,
    );
    y += 24.0;
    let violations = crate::properties::violations(model, state);
    if violations.is_empty() {
        c.rect(
            PAD,
            y,
            text_w("no safety property is violated in this state") + 20.0,
            24.0,
            "fill='#e8f5e9' stroke='#2e7d32' rx='4'",
        );
        c.text(
            PAD + 10.0,
            y + 16.0,
            12.0,
            "fill='#1b5e20'",
            "no safety property is violated in this state",
        );
        return y + 24.0;
    }
    for v in violations {
        let lines = wrap(&format!("VIOLATES {}: {}", v.property, v.reason), 110);
        let widest = lines.iter().map(|l| text_w(l)).fold(0.0, f64::max);
        let h = 8.0 + 17.0 * lines.len() as f64;
        c.rect(
            PAD,
            y,
            widest + 20.0,
            h,
            "fill='#ffebee' stroke='#c62828' stroke-width='2' rx='4'",
        );
        for (k, line) in lines.iter().enumerate() {
            let style = if k == 0 {
                "fill='#b71c1c' font-weight='bold'"
            } else {
                "fill='#b71c1c'"
            };
            c.text(PAD + 10.0, y + 18.0 + 17.0 * k as f64, 12.0, style, line);
        }
        y += h + 4.0;
    }
    y
}

/// One lane per server, with the log columns aligned by index.
fn lanes(c: &mut Canvas, state: &ClusterState, y: f64) -> f64 {
    let x0 = PAD + LABEL_W;
    let last = state
        .servers
        .iter()
        .map(ServerState::last_log_index)
        .chain(std::iter::once(state.committed_len()))
        .max()
        .unwrap_or(0)
        .max(4);
    // Index header.
    c.text(PAD, y + 12.0, 11.0, "fill='#757575'", "server");
    c.text(x0 - 44.0, y + 12.0, 11.0, "fill='#757575'", "index");
    for i in 1..=last {
        let x = x0 + f64::from(i - 1) * CELL_W + CELL_W / 2.0;
        c.text(x - 4.0, y + 12.0, 11.0, "fill='#757575'", &i.to_string());
    }
    let right = x0 + f64::from(last) * CELL_W + 20.0;
    let mut y = y + 18.0;
    for (k, s) in state.servers.iter().enumerate() {
        lane(c, k, s, x0, right, y);
        y += LANE_H;
    }
    y
}

fn lane(c: &mut Canvas, k: usize, s: &ServerState, x0: f64, right: f64, y: f64) {
    if k.is_multiple_of(2) {
        c.rect(PAD - 4.0, y, right - PAD, LANE_H - 2.0, "fill='#f1f3f4'");
    }
    let (badge, fill) = match s.role {
        Role::Leader => ("LEADER", "#e65100"),
        Role::Candidate => ("candidate", "#6a1b9a"),
        Role::Follower => ("follower", "#546e7a"),
    };
    c.text(
        PAD,
        y + 18.0,
        15.0,
        "font-weight='bold' fill='#212121'",
        &format!("S{}", k + 1),
    );
    c.rect(
        PAD + 30.0,
        y + 5.0,
        text_w(badge) + 10.0,
        18.0,
        &format!("fill='{fill}' rx='3'"),
    );
    c.text(
        PAD + 35.0,
        y + 18.0,
        12.0,
        "fill='white' font-weight='bold'",
        badge,
    );
    let vote = s.voted_for.map_or("-".to_string(), |v| v.to_string());
    c.text(
        PAD + 30.0,
        y + 37.0,
        12.0,
        "fill='#212121'",
        &format!("term {}  vote {vote}", s.current_term),
    );
    // The log: snapshot-covered indices (values only), then entries.
    let cy = y + 12.0;
    let lii = s.snapshot.last_included_index;
    for i in 1..=s.last_log_index() {
        let x = x0 + f64::from(i - 1) * CELL_W;
        if i <= lii {
            c.rect(
                x + 1.0,
                cy,
                CELL_W - 2.0,
                CELL_H,
                "fill='#e0e0e0' stroke='#9e9e9e' stroke-dasharray='3 2'",
            );
            let label = match s.snapshot.data.get(usize::from(i) - 1) {
                Some(v) if i == lii => format!("t{}:v{v}", s.snapshot.last_included_term),
                Some(v) => format!("v{v}"),
                None => "?".to_string(),
            };
            c.text(x + 5.0, cy + 16.0, 11.0, "fill='#616161'", &label);
        } else {
            let term = s.term_at(i).unwrap_or(0);
            let value = s.value_at(i).unwrap_or(0);
            let stroke = if i <= s.commit_index {
                "stroke='#2e7d32' stroke-width='2'"
            } else {
                "stroke='#90a4ae'"
            };
            // An entry not yet on stable storage (§10.2.1) is drawn hollow with a dashed
            // border in its term's colour: a crash would lose it.
            let style = if i <= s.durable_index {
                format!("fill='{}' {stroke} rx='2'", term_fill(term))
            } else {
                format!(
                    "fill='white' stroke='{}' stroke-width='2' stroke-dasharray='4 3' rx='2'",
                    term_stroke(term)
                )
            };
            c.rect(x + 1.0, cy, CELL_W - 2.0, CELL_H, &style);
            c.text(
                x + 5.0,
                cy + 16.0,
                11.0,
                "fill='#212121'",
                &format!("t{term}:v{value}"),
            );
        }
        if i <= s.last_applied {
            // A tick: the service applied this index.
            c.text(
                x + CELL_W - 12.0,
                cy + CELL_H + 11.0,
                10.0,
                "fill='#2e7d32'",
                "✓",
            );
        }
    }
    if lii > 0 {
        let x = x0 + f64::from(lii) * CELL_W;
        c.line(
            (x, cy - 4.0),
            (x, cy + CELL_H + 4.0),
            "stroke='#424242' stroke-width='3'",
        );
        let label = if lii == s.commit_index {
            format!("snapshot ≤{lii} = commit")
        } else {
            format!("snap ≤{lii}")
        };
        c.text(x0 + 2.0, cy - 2.0, 9.0, "fill='#424242'", &label);
    }
    if s.commit_index > 0 && s.commit_index != lii {
        let x = x0 + f64::from(s.commit_index) * CELL_W;
        c.line(
            (x, cy - 5.0),
            (x, cy + CELL_H + 5.0),
            "stroke='#2e7d32' stroke-width='2' stroke-dasharray='4 2'",
        );
        c.text(
            x - 3.0,
            cy - 2.0,
            9.0,
            "fill='#2e7d32' text-anchor='end'",
            &format!("commit {}", s.commit_index),
        );
    }
    if s.last_log_index() == 0 {
        c.text(x0 + 4.0, cy + 16.0, 11.0, "fill='#9e9e9e'", "(empty log)");
    }
    // What the service holds, and the leader's or candidate's bookkeeping.
    c.text(
        right,
        y + 18.0,
        12.0,
        "fill='#1b5e20'",
        &format!("applied {}", describe::values(&s.applied)),
    );
    let extra = match s.role {
        Role::Leader => describe::progress(s),
        Role::Candidate => {
            let ids: Vec<String> = s.votes_granted.iter().map(|i| i.to_string()).collect();
            format!("votes from {}", ids.join(" "))
        }
        Role::Follower => String::new(),
    };
    if !extra.is_empty() {
        c.text(right, y + 36.0, 12.0, "fill='#37474f'", &extra);
    }
}

/// The committed history, the elected terms and the bounds used so far.
fn history(c: &mut Canvas, model: &RaftModel, state: &ClusterState, y: f64) -> f64 {
    let x0 = PAD + LABEL_W;
    c.text(
        PAD,
        y + 17.0,
        12.0,
        "fill='#212121' font-weight='bold'",
        "committed (history)",
    );
    let h = &state.history;
    for (k, e) in h.committed.iter().enumerate() {
        let x = x0 + k as f64 * CELL_W;
        c.rect(
            x + 1.0,
            y + 2.0,
            CELL_W - 2.0,
            CELL_H,
            &format!(
                "fill='{}' stroke='#2e7d32' stroke-width='2' rx='2'",
                term_fill(e.term)
            ),
        );
        c.text(
            x + 5.0,
            y + 18.0,
            11.0,
            "fill='#212121'",
            &format!("t{}:v{}", e.term, e.value),
        );
        c.text(
            x + 5.0,
            y + CELL_H + 13.0,
            9.0,
            "fill='#2e7d32'",
            &format!("in t{}", e.commit_term),
        );
    }
    if h.committed.is_empty() {
        c.text(
            x0 + 4.0,
            y + 18.0,
            11.0,
            "fill='#9e9e9e'",
            "(nothing committed yet)",
        );
    }
    let cfg = &model.config;
    let mut line = format!(
        "leaders elected in terms {} · client requests {}/{} · crashes {}/{}",
        describe::elected_terms(h.elected),
        h.proposals,
        cfg.max_requests,
        h.crashes,
        cfg.max_crashes
    );
    if let Some(max) = cfg.max_snapshots {
        if cfg.snapshots {
            let _ = write!(line, " · snapshots {}/{max}", h.snapshots);
        }
    }
    c.text(PAD, y + CELL_H + 32.0, 12.0, "fill='#37474f'", &line);
    y + CELL_H + 36.0
}

/// The messages in flight, one line each.
fn network(c: &mut Canvas, state: &ClusterState, y: f64) -> f64 {
    let limit = match state.network.len() {
        0 => String::new(),
        n => format!(" ({n} copies)"),
    };
    c.text(
        PAD,
        y + 14.0,
        12.0,
        "fill='#212121' font-weight='bold'",
        &format!("in flight{limit}"),
    );
    let mut y = y + 20.0;
    if state.network.is_empty() {
        c.text(PAD + 20.0, y + 12.0, 12.0, "fill='#9e9e9e'", "(nothing)");
        return y + 18.0;
    }
    for (p, n) in &state.network.in_flight {
        let (colour, _) = kind(&p.msg);
        let copies = if *n > 1 {
            format!("  ×{n} copies")
        } else {
            String::new()
        };
        c.text(
            PAD + 20.0,
            y + 12.0,
            12.0,
            &format!("fill='{colour}'"),
            &format!(
                "{} → {}  {}{copies}",
                p.src,
                p.dst,
                describe::message(&p.msg)
            ),
        );
        y += 18.0;
    }
    y
}

/// Where one copy of a packet left from: (x, y) in the diagram.
type Origin = (f64, f64);

/// The sequence diagram of the path.
fn sequence(
    c: &mut Canvas,
    model: &RaftModel,
    path: &[(ClusterState, Option<Action>)],
    y: f64,
) -> f64 {
    let n = path[0].0.servers.len();
    let x0 = PAD + 40.0;
    let col = |i: usize| x0 + COL_W / 2.0 + i as f64 * COL_W;
    let text_x = x0 + n as f64 * COL_W + 10.0;
    c.text(
        PAD,
        y + 14.0,
        12.0,
        "fill='#212121' font-weight='bold'",
        "the path so far (time flows down)",
    );
    let top = y + 24.0;
    for i in 0..n {
        c.text(
            col(i) - 8.0,
            top + 12.0,
            13.0,
            "font-weight='bold' fill='#212121'",
            &format!("S{}", i + 1),
        );
    }
    let row_y = |step: usize| top + 20.0 + step as f64 * ROW_H;
    let steps = path.len() - 1;
    let bottom = row_y(steps) + ROW_H;
    // Highlight the step that led here and the first state that broke a property.
    let first_bad = path
        .iter()
        .position(|(s, _)| !crate::properties::violations(model, s).is_empty());
    if steps > 0 {
        c.rect(
            PAD - 4.0,
            row_y(steps) - ROW_H / 2.0,
            text_x - PAD + 4.0,
            ROW_H,
            "fill='#fff8e1'",
        );
    }
    if let Some(bad) = first_bad.filter(|&b| b > 0) {
        c.rect(
            PAD - 4.0,
            row_y(bad) - ROW_H / 2.0,
            text_x - PAD + 4.0,
            ROW_H,
            "fill='#ffebee' stroke='#c62828'",
        );
    }
    for i in 0..n {
        c.line(
            (col(i), top + 16.0),
            (col(i), bottom),
            "stroke='#b0bec5' stroke-width='2'",
        );
    }
    // Origins of the copies in flight, oldest first.
    let mut origins: Vec<(Packet, Vec<Origin>)> = Vec::new();
    fn origins_of<'a>(o: &'a mut Vec<(Packet, Vec<Origin>)>, p: &Packet) -> &'a mut Vec<Origin> {
        match o.iter().position(|(q, _)| q == p) {
            Some(at) => &mut o[at].1,
            None => {
                o.push((p.clone(), Vec::new()));
                &mut o.last_mut().expect("just pushed").1
            }
        }
    }
    for (k, window) in path.windows(2).enumerate() {
        let step = k + 1;
        let (before, action) = (&window[0].0, window[0].1.as_ref());
        let after = &window[1].0;
        let Some(action) = action else { continue };
        let yy = row_y(step);
        c.text(
            PAD,
            yy + 4.0,
            11.0,
            "fill='#757575'",
            &format!("{step:>2}."),
        );
        let mut label = short(&describe::action(action));
        let effect = effect(before, after);
        if !effect.is_empty() {
            label.push_str(&format!("  ⇒ {effect}"));
        }
        if Some(step) == first_bad {
            label.push_str("   ← a property breaks here");
        }
        let style = if Some(step) == first_bad {
            "fill='#b71c1c' font-weight='bold'"
        } else {
            "fill='#212121'"
        };
        c.text(text_x, yy + 4.0, 12.0, style, &label);
        match action {
            Action::Receive(p) => {
                let from = origins_of(&mut origins, p);
                let o = if from.is_empty() {
                    (col(p.src.index()), yy)
                } else {
                    from.remove(0)
                };
                let (colour, id) = kind(&p.msg);
                c.line(
                    o,
                    (col(p.dst.index()), yy),
                    &format!("stroke='{colour}' stroke-width='2' marker-end='url(#arrow-{id})'"),
                );
            }
            Action::Drop(p) => {
                let from = origins_of(&mut origins, p);
                let o = if from.is_empty() {
                    (col(p.src.index()), yy)
                } else {
                    from.remove(0)
                };
                let mid = ((col(p.src.index()) + col(p.dst.index())) / 2.0, yy);
                let (colour, _) = kind(&p.msg);
                c.line(
                    o,
                    mid,
                    &format!("stroke='{colour}' stroke-width='2' stroke-dasharray='5 3'"),
                );
                cross(c, mid);
            }
            Action::Duplicate(p) => {
                let mid = ((col(p.src.index()) + col(p.dst.index())) / 2.0, yy);
                let (colour, _) = kind(&p.msg);
                c.rect(
                    mid.0 - 12.0,
                    yy - 8.0,
                    24.0,
                    14.0,
                    &format!("fill='white' stroke='{colour}' rx='3'"),
                );
                c.text(
                    mid.0 - 9.0,
                    yy + 3.0,
                    10.0,
                    &format!("fill='{colour}' font-weight='bold'"),
                    "+1",
                );
                origins_of(&mut origins, p).push(mid);
            }
            Action::Timeout(i) => marker(c, (col(i.index()), yy), "T", "#6a1b9a"),
            Action::BecomeLeader(i) => marker(c, (col(i.index()), yy), "L", "#e65100"),
            Action::ClientRequest(i, _) => marker(c, (col(i.index()), yy), "C", "#00838f"),
            Action::AdvanceCommitIndex(i) => marker(c, (col(i.index()), yy), "✓", "#2e7d32"),
            Action::Snapshot(i, _) => marker(c, (col(i.index()), yy), "S", "#616161"),
            Action::Sync(i) => marker(c, (col(i.index()), yy), "D", "#1565c0"),
            Action::Restart(i) => marker(c, (col(i.index()), yy), "⚡", "#c62828"),
            Action::RequestVote(i, _) | Action::AppendEntries(i, _) => {
                c.circle((col(i.index()), yy), 4.0, "fill='#455a64'")
            }
        }
        let (sent, pruned) = describe::traffic(model, before, action, after);
        for p in &sent {
            let src = match action {
                Action::Receive(q) => q.dst,
                _ => p.src,
            };
            origins_of(&mut origins, p).push((col(src.index()), yy));
        }
        for p in &pruned {
            let from = origins_of(&mut origins, p);
            let copies = std::mem::take(from);
            let mid = ((col(p.src.index()) + col(p.dst.index())) / 2.0, yy);
            for o in copies {
                c.line(
                    o,
                    mid,
                    "stroke='#9e9e9e' stroke-width='1.5' stroke-dasharray='2 3'",
                );
            }
            c.text(mid.0 - 4.0, yy + 5.0, 14.0, "fill='#757575'", "†");
        }
    }
    // Messages still in flight: dashed arrows towards their receivers, ending at "now".
    let now = row_y(steps) + ROW_H * 0.8;
    let state = &path[steps].0;
    for (p, _) in &state.network.in_flight {
        let (colour, id) = kind(&p.msg);
        let from = origins_of(&mut origins, p).clone();
        for o in from {
            let dst = col(p.dst.index());
            let end = (o.0 + (dst - o.0) * 0.85, now);
            c.line(
                o,
                end,
                &format!(
                    "stroke='{colour}' stroke-width='1.5' stroke-dasharray='6 4' \
                     marker-end='url(#arrow-{id})'"
                ),
            );
        }
    }
    c.text(PAD, now + 4.0, 11.0, "fill='#757575'", "now");
    legend(c, bottom + 18.0)
}

/// `s` cut to at most 90 characters.
fn short(s: &str) -> String {
    if s.chars().count() <= 90 {
        return s.to_string();
    }
    let mut out: String = s.chars().take(88).collect();
    out.push('…');
    out
}

/// What a step did to roles, terms and commit indices, in a few words (`S1 candidate t2`).
fn effect(before: &ClusterState, after: &ClusterState) -> String {
    let mut parts = Vec::new();
    for (k, (b, a)) in before.servers.iter().zip(&after.servers).enumerate() {
        if a.role != b.role || a.current_term != b.current_term {
            parts.push(format!(
                "S{} {} t{}",
                k + 1,
                describe::role(a.role),
                a.current_term
            ));
        }
        if a.commit_index != b.commit_index {
            parts.push(format!("S{} commit {}", k + 1, a.commit_index));
        }
    }
    parts.join(", ")
}

/// A labelled circle on a timeline: a server's local step.
fn marker(c: &mut Canvas, at: (f64, f64), letter: &str, colour: &str) {
    c.circle(at, 9.0, &format!("fill='{colour}'"));
    c.text(
        at.0,
        at.1 + 4.5,
        12.0,
        "fill='white' font-weight='bold' text-anchor='middle'",
        letter,
    );
}

fn cross(c: &mut Canvas, (x, y): (f64, f64)) {
    let style = "stroke='#c62828' stroke-width='3'";
    c.line((x - 6.0, y - 6.0), (x + 6.0, y + 6.0), style);
    c.line((x - 6.0, y + 6.0), (x + 6.0, y - 6.0), style);
}

/// What the marks mean.
fn legend(c: &mut Canvas, y: f64) -> f64 {
    let mut x = PAD;
    for (letter, colour, what) in [
        ("T", "#6a1b9a", "timeout"),
        ("L", "#e65100", "becomes leader"),
        ("C", "#00838f", "client request"),
        ("✓", "#2e7d32", "commit index advances"),
        ("S", "#616161", "snapshot"),
        ("D", "#1565c0", "log synced (durable)"),
        ("⚡", "#c62828", "crash+restart"),
    ] {
        marker(c, (x + 9.0, y), letter, colour);
        c.text(x + 22.0, y + 4.0, 11.0, "fill='#424242'", what);
        x += 22.0 + text_w(what) * 11.0 / 12.0 + 18.0;
    }
    let y = y + 22.0;
    let mut x = PAD;
    for (colour, what) in [
        (KIND_VOTE, "RequestVote / vote reply"),
        (KIND_APPEND, "AppendEntries / reply"),
        (KIND_SNAP, "InstallSnapshot / reply"),
    ] {
        c.line(
            (x, y),
            (x + 26.0, y),
            &format!("stroke='{colour}' stroke-width='2'"),
        );
        c.text(x + 32.0, y + 4.0, 11.0, "fill='#424242'", what);
        x += 32.0 + text_w(what) * 11.0 / 12.0 + 18.0;
    }
    let y = y + 18.0;
    c.text(
        PAD,
        y + 4.0,
        11.0,
        "fill='#424242'",
        "✕ lost · +1 duplicated · † pruned as dead (delivering it could change nothing) · dashed: still in flight · ✓ under an entry: applied · hollow dashed entry: not yet durable",
    );
    y + 12.0
}
