//! Paired ratios, summarized robustly: the median and quartiles of the ratios, and a
//! Hodges–Lehmann estimate of their centre with its exact 95 % confidence interval from
//! the Wilcoxon signed-rank distribution, both taken on the logarithms of the ratios.
//!
//! A comparison of two configurations on a shared, loaded machine is measured as pairs taken
//! back to back (A then B, then B then A, ...), one ratio B/A per pair: a drift in the
//! machine's load falls on both halves of a pair, and a pair that caught a burst of other
//! work is one outlier among many rather than a shift of a whole mean. The ratios are not
//! normal (a stalled half gives 0.4 or 2.5), but their logarithms are close to symmetric
//! (a stall on either side moves the log ratio by the same amount), which is all the
//! signed-rank interval assumes; it needs no variance and resists outliers, and is about
//! 1.5 times as efficient as the sign-test interval of the median on such data. Working
//! on logarithms also makes the summary of B/A the reciprocal of that of A/B.

/// What [`summarize`] reports about `n` paired ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of ratios.
    pub n: usize,
    /// Their median.
    pub median: f64,
    /// First quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// The Hodges–Lehmann estimate of the centre: `exp` of the median of the Walsh
    /// averages `(ln r_i + ln r_j) / 2`, `i <= j`.
    pub estimate: f64,
    /// Lower end of the confidence interval of the centre (a Walsh average, `exp`ed).
    pub ci_low: f64,
    /// Upper end of that interval.
    pub ci_high: f64,
    /// The interval's exact coverage under the signed-rank distribution: at least
    /// [`CONFIDENCE`] when `n` allows it (`n >= 6`); with fewer ratios the whole range of
    /// Walsh averages, with its lower coverage.
    pub coverage: f64,
}

/// The coverage the interval aims for.
pub const CONFIDENCE: f64 = 0.95;

/// The median, quartiles, Hodges–Lehmann estimate and signed-rank confidence interval of
/// `ratios` (values that are not finite and positive are dropped); `None` when none is
/// left.
pub fn summarize(ratios: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = ratios
        .iter()
        .copied()
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let logs: Vec<f64> = v.iter().map(|r| r.ln()).collect();
    let mut walsh = Vec::with_capacity(n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            walsh.push((logs[i] + logs[j]) / 2.0);
        }
    }
    walsh.sort_by(f64::total_cmp);
    let m = walsh.len();
    let below = signed_rank_cdf(n);
    // The largest k (1-based) whose interval [W(k), W(m+1-k)] still covers the centre with
    // probability 1 - 2 P(T <= k - 1) >= CONFIDENCE; k = 1 (the whole range) when none does.
    let mut k = 1;
    while k < m.div_ceil(2) && 1.0 - 2.0 * below[k] >= CONFIDENCE {
        k += 1;
    }
    Some(Summary {
        n,
        median: quantile(&v, 0.5),
        q1: quantile(&v, 0.25),
        q3: quantile(&v, 0.75),
        estimate: quantile(&walsh, 0.5).exp(),
        ci_low: walsh[k - 1].exp(),
        ci_high: walsh[m - k].exp(),
        coverage: (1.0 - 2.0 * below[k - 1]).max(0.0),
    })
}

/// `P(T <= t)` for `t` in `0..=n(n+1)/2`, `T` the Wilcoxon signed-rank statistic of `n`
/// ratios under symmetry about the centre: the sum of a uniformly random subset of
/// `1..=n` (each rank's sign is a fair coin).
fn signed_rank_cdf(n: usize) -> Vec<f64> {
    let m = n * (n + 1) / 2;
    let mut p = vec![0.0; m + 1];
    p[0] = 1.0;
    let mut top = 0;
    for rank in 1..=n {
        top += rank;
        for t in (0..=top).rev() {
            let with = if t >= rank { p[t - rank] } else { 0.0 };
            p[t] = (p[t] + with) / 2.0;
        }
    }
    let mut sum = 0.0;
    p.iter()
        .map(|x| {
            sum += x;
            sum
        })
        .collect()
}

/// Linear-interpolated quantile of sorted, non-empty `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = (v.len() - 1) as f64 * q;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn empty_and_invalid_give_nothing() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN, f64::INFINITY, 0.0, -1.0]), None);
    }

    #[test]
    fn median_and_quartiles_of_an_odd_count() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.n, s.median, s.q1, s.q3), (5, 3.0, 2.0, 4.0));
        // Five ratios cannot give 95 %: the whole range, with coverage 1 - 2/32.
        assert!(close(s.ci_low, 1.0) && close(s.ci_high, 5.0));
        assert!(close(s.coverage, 1.0 - 2.0 / 32.0), "{}", s.coverage);
    }

    #[test]
    fn signed_rank_distribution_matches_the_table() {
        // n = 10: P(T <= 8) = 0.0244 and P(T <= 9) = 0.0322 (standard tables), so the
        // 95 % interval drops the 8 smallest and 8 largest of the 55 Walsh averages.
        let cdf = signed_rank_cdf(10);
        assert!((cdf[8] - 0.0244).abs() < 5e-5, "{}", cdf[8]);
        assert!((cdf[9] - 0.0322).abs() < 5e-5, "{}", cdf[9]);
        assert!(close(cdf[55], 1.0));
        // Ratios e^1 .. e^10: Walsh averages of 1..10, the 9th smallest is 3.0 and the
        // 9th largest 8.0.
        let v: Vec<f64> = (1..=10).map(|i| f64::from(i).exp()).collect();
        let s = summarize(&v).unwrap();
        assert!(
            close(s.ci_low.ln(), 3.0) && close(s.ci_high.ln(), 8.0),
            "{s:?}"
        );
        assert!(close(s.coverage, 1.0 - 2.0 * cdf[8]));
        assert!(close(s.estimate.ln(), 5.5));
    }

    #[test]
    fn reciprocal_ratios_give_the_reciprocal_summary() {
        let r = [1.2, 0.9, 1.0, 1.1, 0.95, 1.05, 1.3, 0.8, 0.7, 1.6];
        let inv: Vec<f64> = r.iter().map(|x| 1.0 / x).collect();
        let (a, b) = (summarize(&r).unwrap(), summarize(&inv).unwrap());
        assert!(close(a.estimate, 1.0 / b.estimate));
        assert!(close(a.ci_low, 1.0 / b.ci_high) && close(a.ci_high, 1.0 / b.ci_low));
        assert!(close(a.coverage, b.coverage));
    }

    #[test]
    fn an_outlier_moves_the_estimate_little() {
        let mut r = vec![1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0];
        let before = summarize(&r).unwrap();
        r.push(50.0);
        let after = summarize(&r).unwrap();
        assert!(
            (after.estimate / before.estimate - 1.0).abs() < 0.02,
            "{after:?}"
        );
    }
}
