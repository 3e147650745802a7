//! Spans to draw and the rule that keeps their number bounded: spans closer than a threshold are merged
//! (counting how many each drawn span stands for), the threshold doubling until a layer fits its cap.

/// A span to draw: `[start, end)` in µs, standing for `count` spans of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: i64,
    pub end: i64,
    pub count: usize,
}

/// Sorts `list` and merges spans that overlap or are at most `sep` µs apart.
pub(crate) fn merge_close(list: &mut Vec<Span>, sep: i64) {
    list.sort_unstable_by_key(|s| (s.start, s.end));
    let mut out: Vec<Span> = Vec::with_capacity(list.len());
    for s in list.drain(..) {
        match out.last_mut() {
            Some(last) if s.start <= last.end.saturating_add(sep) => {
                last.end = last.end.max(s.end);
                last.count = last.count.saturating_add(s.count);
            }
            _ => out.push(s),
        }
    }
    *list = out;
}

/// What [`fit`] did to a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fitted {
    /// Spans of the input (after overlaps were merged).
    pub spans: usize,
    /// Spans drawn.
    pub drawn: usize,
    /// The merge threshold used, µs (`None`: nothing merged for the cap).
    pub sep_us: Option<i64>,
}

/// Merges overlapping spans in every list, then — while the lists hold more than `cap` spans together —
/// merges spans closer than a threshold starting at `start_sep` µs and doubling. Ends once each list holds
/// at most one span (threshold ≥ the recording), so `cap` ≥ the number of lists always fits.
pub(crate) fn fit(lists: &mut [Vec<Span>], cap: usize, start_sep: i64) -> Fitted {
    for l in lists.iter_mut() {
        merge_close(l, 0);
    }
    let total = |lists: &[Vec<Span>]| lists.iter().map(Vec::len).sum::<usize>();
    let spans = total(lists);
    let mut f = Fitted {
        spans,
        drawn: spans,
        sep_us: None,
    };
    let mut sep = start_sep.max(1);
    while f.drawn > cap {
        for l in lists.iter_mut() {
            merge_close(l, sep);
        }
        f.drawn = total(lists);
        f.sep_us = Some(sep);
        if sep == i64::MAX {
            break;
        }
        sep = sep.saturating_mul(2);
    }
    f
}

/// `a` minus every span of `b`: both `(start, end)` lists in time order; `b`'s spans may overlap each other.
pub(crate) fn subtract(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s, e) in a {
        let mut at = s;
        for &(qs, qe) in b {
            if qe <= at || qs >= e {
                continue;
            }
            if qs > at {
                out.push((at, qs));
            }
            at = at.max(qe);
        }
        if e > at {
            out.push((at, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(start: i64, end: i64) -> Span {
        Span {
            start,
            end,
            count: 1,
        }
    }

    #[test]
    fn overlaps_merge_and_count() {
        let mut l = vec![s(10, 20), s(0, 5), s(15, 30), s(30, 31)];
        merge_close(&mut l, 0);
        assert_eq!(
            l,
            vec![
                s(0, 5),
                Span {
                    start: 10,
                    end: 31,
                    count: 3
                }
            ]
        );
    }

    #[test]
    fn fit_merges_until_under_the_cap() {
        let mut lists = vec![(0..1000).map(|i| s(i * 10, i * 10 + 1)).collect::<Vec<_>>(); 3];
        let f = fit(&mut lists, 300, 1);
        assert_eq!(f.spans, 3000);
        assert!(f.drawn <= 300, "{f:?}");
        assert_eq!(f.sep_us, Some(16));
        assert!(lists.iter().flatten().map(|s| s.count).sum::<usize>() == 3000);
        let mut one = vec![vec![s(0, i64::MAX), s(5, 6), s(i64::MAX - 1, i64::MAX)]];
        assert_eq!(fit(&mut one, 0, i64::MAX).drawn, 1);
    }
}
