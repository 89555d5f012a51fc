//! Paired legs: a comparison of two or more configurations measured as pairs of legs taken
//! back to back, each leg on a fresh cluster (one alive at a time), the order reversing
//! every pair, with an A/A control that comes for free from where two pairs meet. The
//! ratios go to [`crate::paired_ratio::summarize`]; [`control_problem`] says when a run's
//! own control forbids any verdict.
//!
//! Why fresh clusters and pairs: a cluster of ours or openraft's, once started, settles into
//! a level of throughput and mostly stays there for seconds (docs/performance.md §7, "Paired
//! legs"; §8 saw the same on the log-length check), so one long-lived cluster a side
//! measures which level each side drew, not the configuration. Fresh clusters make the
//! draws independent, and many pairs let the estimate see through them; taking a pair's
//! legs back to back makes a drift in the machine's load fall on both alike.
//!
//! The control: with the order reversing every pair (A B | B A | A B ...), the last leg of a
//! pair and the first of the next are the same configuration run back to back. Their ratio
//! (later / earlier at one meeting, earlier / later at the next, as the order flips) is
//! what the method reads when nothing differs at all, so its interval must contain 1.00: if
//! it does not, something other than the configuration (the order, a warm-up, the machine)
//! moves the ratios in this run, and no verdict can be trusted.

use crate::paired_ratio::{Summary, CONFIDENCE};

/// What [`run`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Legs {
    /// `rates[side][pair]`: each leg's figure (e.g. its median writes/s), by side and pair.
    pub rates: Vec<Vec<f64>>,
    /// The A/A control: ratios of two legs of the same side back to back, where two pairs
    /// meet (see the module docs); `pairs - 1` of them.
    pub same: Vec<f64>,
    /// The side of each of [`Legs::same`]'s ratios: with the order reversing, the meetings
    /// take the first and the last side in turn, so a control away from 1.00 can be told
    /// apart as one side's position effect (e.g. a side slower as the first leg of a pair).
    pub same_sides: Vec<usize>,
}

impl Legs {
    /// The ratios `rates[a][p] / rates[b][p]` of every pair `p`.
    pub fn ratios(&self, a: usize, b: usize) -> Vec<f64> {
        self.rates[a]
            .iter()
            .zip(&self.rates[b])
            .map(|(x, y)| x / y)
            .collect()
    }

    /// The median of side `side`'s legs (for scale: a verdict uses the paired ratios).
    pub fn median(&self, side: usize) -> f64 {
        median(&self.rates[side])
    }
}

/// The order of the legs of pair `pair`: sides `0..sides` forward in even pairs, reversed in
/// odd ones, so every side but a middle one goes first as often as last, and the last leg of
/// a pair is the first of the next.
pub fn order(pair: usize, sides: usize) -> Vec<usize> {
    if pair.is_multiple_of(2) {
        (0..sides).collect()
    } else {
        (0..sides).rev().collect()
    }
}

/// Runs `pairs` pairs of one leg per side (`sides` of them, in [`order`]): `leg(side,
/// pair)` measures one leg and returns its figure; `after_pair(pair, figures)` sees each
/// pair's figures by side once its legs ran (e.g. to print them). Stops at the first
/// error.
pub fn run<E>(
    pairs: usize,
    sides: usize,
    mut leg: impl FnMut(usize, usize) -> Result<f64, E>,
    mut after_pair: impl FnMut(usize, &[f64]),
) -> Result<Legs, E> {
    let mut legs = Legs {
        rates: vec![Vec::with_capacity(pairs); sides],
        same: Vec::with_capacity(pairs.saturating_sub(1)),
        same_sides: Vec::with_capacity(pairs.saturating_sub(1)),
    };
    let mut previous: Option<(usize, f64)> = None;
    for pair in 0..pairs {
        let mut figures = vec![f64::NAN; sides];
        for side in order(pair, sides) {
            let r = leg(side, pair)?;
            if let Some((before, earlier)) = previous {
                if before == side {
                    // Later / earlier at one meeting, earlier / later at the next, as the
                    // pairs' order flips: a drift in the load cancels here as it does in
                    // the pairs' ratios, so the control measures the same method.
                    legs.same.push(if legs.same.len().is_multiple_of(2) {
                        r / earlier
                    } else {
                        earlier / r
                    });
                    legs.same_sides.push(side);
                }
            }
            previous = Some((side, r));
            figures[side] = r;
            legs.rates[side].push(r);
        }
        after_pair(pair, &figures);
    }
    Ok(legs)
}

/// The upper median of `v` (`v[len / 2]` once sorted; NaN when empty): a leg's figure from
/// its rounds, and a side's scale from its legs.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Why a run's ratios support no verdict at all, if they do not: no A/A control, fewer
/// pairs than give a [`CONFIDENCE`] interval (for the ratios `named` or the control), or a
/// control whose interval excludes 1.00 (something besides the configuration moved the
/// ratios in this run). `None`: the run may be judged on its ratios' intervals.
pub fn control_problem(named: &[(&str, &Summary)], control: Option<&Summary>) -> Option<String> {
    let Some(control) = control else {
        return Some("no A/A control".into());
    };
    for (name, s) in named.iter().copied().chain([("A/A", control)]) {
        if s.coverage < CONFIDENCE {
            return Some(format!(
                "{} {name} pairs give only a {:.0} % interval",
                s.n,
                s.coverage * 100.0
            ));
        }
    }
    if control.ci_low > 1.0 || control.ci_high < 1.0 {
        return Some(format!(
            "the A/A control's interval [{:.2}, {:.2}] excludes 1.00 (the method is biased in this run)",
            control.ci_low, control.ci_high
        ));
    }
    None
}

/// The verdict on "the ratio is at least `target`" (e.g. ours / openraft ≥ 1.0), which never
/// claims more than the run shows: "met" when the ratio's whole interval lies at or above
/// `target`, "MISSED" when it lies wholly below, both only when [`control_problem`] finds
/// nothing wrong with the run; otherwise "not demonstrated", with why.
pub fn verdict_at_least(
    target: f64,
    name: &str,
    ratio: &Summary,
    control: Option<&Summary>,
) -> String {
    if let Some(problem) = control_problem(&[(name, ratio)], control) {
        return format!("not demonstrated: {problem}");
    }
    if ratio.ci_low >= target {
        "met".into()
    } else if ratio.ci_high < target {
        "MISSED".into()
    } else {
        format!(
            "not demonstrated: the interval [{:.2}, {:.2}] contains {target:.2}",
            ratio.ci_low, ratio.ci_high
        )
    }
}

/// One line for a [`Summary`] of ratios: pairs, estimate, interval, median and quartiles.
pub fn describe(s: &Summary) -> String {
    format!(
        "{} pairs, estimate {:.3}, {:.1} % interval [{:.3}, {:.3}]; median {:.3}, quartiles {:.3}–{:.3}",
        s.n, s.estimate, s.coverage * 100.0, s.ci_low, s.ci_high, s.median, s.q1, s.q3
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paired_ratio::summarize;

    #[test]
    fn the_order_reverses_every_pair() {
        assert_eq!(order(0, 2), [0, 1]);
        assert_eq!(order(1, 2), [1, 0]);
        assert_eq!(order(2, 3), [0, 1, 2]);
        assert_eq!(order(3, 3), [2, 1, 0]);
    }

    /// Legs run in the reversing order, each figure lands under its side and pair, and the
    /// control takes the two legs where pairs meet, later / earlier then earlier / later.
    #[test]
    fn legs_are_filed_by_side_and_meetings_give_the_control() {
        let mut calls = Vec::new();
        let mut seen = Vec::new();
        // Figure = 10 * side + pair + 1, so every leg is told apart.
        let legs = run::<()>(
            3,
            2,
            |side, pair| {
                calls.push((side, pair));
                Ok((10 * side + pair + 1) as f64)
            },
            |pair, figures| seen.push((pair, figures.to_vec())),
        )
        .unwrap();
        assert_eq!(calls, [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2)]);
        assert_eq!(legs.rates, [vec![1.0, 2.0, 3.0], vec![11.0, 12.0, 13.0]]);
        assert_eq!(seen[1], (1, vec![2.0, 12.0]));
        // Meetings: side 1 (11 then 12), later / earlier; side 0 (2 then 3), earlier / later.
        assert_eq!(legs.same, [12.0 / 11.0, 2.0 / 3.0]);
        assert_eq!(legs.same_sides, [1, 0]);
        assert_eq!(legs.ratios(1, 0), [11.0, 6.0, 13.0 / 3.0]);
        assert_eq!(legs.median(1), 12.0);
    }

    #[test]
    fn an_error_stops_the_run() {
        let mut calls = 0;
        let result = run(
            4,
            2,
            |_, pair| {
                calls += 1;
                if pair == 1 {
                    Err("down")
                } else {
                    Ok(1.0)
                }
            },
            |_, _| {},
        );
        assert_eq!(result, Err("down"));
        assert_eq!(calls, 3);
    }

    #[test]
    fn the_median_is_the_upper_one() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn a_control_away_from_one_or_too_few_pairs_forbid_a_verdict() {
        let flat = summarize(&[0.97, 1.02, 0.99, 1.01, 1.03, 0.98, 1.0, 1.04]).unwrap();
        let high = summarize(&[1.2, 1.3, 1.25, 1.22, 1.31, 1.27, 1.24, 1.29]).unwrap();
        let few = summarize(&[1.0, 1.1, 0.9]).unwrap();
        assert_eq!(control_problem(&[("x", &high)], Some(&flat)), None);
        assert!(control_problem(&[("x", &flat)], Some(&high))
            .unwrap()
            .contains("excludes 1.00"));
        assert!(control_problem(&[("x", &few)], Some(&flat))
            .unwrap()
            .contains("3 x pairs"));
        assert!(control_problem(&[("x", &flat)], Some(&few))
            .unwrap()
            .contains("A/A"));
        assert_eq!(
            control_problem(&[("x", &flat)], None).as_deref(),
            Some("no A/A control")
        );
    }

    #[test]
    fn at_least_needs_the_whole_interval_on_one_side() {
        let flat = summarize(&[0.97, 1.02, 0.99, 1.01, 1.03, 0.98, 1.0, 1.04]).unwrap();
        let high = summarize(&[1.2, 1.3, 1.25, 1.22, 1.31, 1.27, 1.24, 1.29]).unwrap();
        let low = summarize(&[0.8, 0.7, 0.75, 0.78, 0.69, 0.73, 0.76, 0.71]).unwrap();
        // Eight ratios: the interval drops the 3 smallest and 3 largest of 36 Walsh
        // averages, so `high` lies above 1.2 and `low` below 0.8.
        assert!(high.ci_low > 1.2 && low.ci_high < 0.8, "{high:?} {low:?}");
        assert_eq!(verdict_at_least(1.0, "x", &high, Some(&flat)), "met");
        assert_eq!(verdict_at_least(1.0, "x", &low, Some(&flat)), "MISSED");
        assert!(verdict_at_least(1.0, "x", &flat, Some(&flat)).contains("contains 1.00"));
        // Met only at a target the interval clears.
        assert!(verdict_at_least(1.25, "x", &high, Some(&flat)).starts_with("not demonstrated"));
        // A biased control forbids the verdict either way.
        assert!(verdict_at_least(1.0, "x", &high, Some(&low)).contains("excludes 1.00"));
        assert!(verdict_at_least(1.0, "x", &low, None).contains("no A/A control"));
    }
}
