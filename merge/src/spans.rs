//! Sorted, disjoint half-open sample ranges `[start, end)`: what a leg holds, what is lost, what was chosen.

/// A half-open range of sample positions.
pub type Span = (u64, u64);

/// Sorts `spans`, drops empty ones and joins those that overlap or touch.
///
/// # Examples
/// ```
/// let s = merge::spans::normalize(vec![(5, 9), (0, 2), (2, 3), (8, 12), (7, 7)]);
/// assert_eq!(s, vec![(0, 3), (5, 12)]);
/// ```
pub fn normalize(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| s.0 < s.1);
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.0 <= last.1 => last.1 = last.1.max(s.1),
            _ => out.push(s),
        }
    }
    out
}

/// `a` minus `b` (both normalized).
///
/// # Examples
/// ```
/// let d = merge::spans::subtract(&[(0, 10), (20, 30)], &[(2, 4), (8, 22)]);
/// assert_eq!(d, vec![(0, 2), (4, 8), (22, 30)]);
/// ```
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in a {
        let mut cur = s;
        while j < b.len() && b[j].1 <= cur {
            j += 1;
        }
        let mut k = j;
        while cur < e {
            match b.get(k) {
                Some(&(bs, be)) if bs < e => {
                    if bs > cur {
                        out.push((cur, bs));
                    }
                    cur = cur.max(be);
                    k += 1;
                }
                _ => {
                    out.push((cur, e));
                    cur = e;
                }
            }
        }
    }
    out
}

/// `a` intersected with `b` (both normalized).
///
/// # Examples
/// ```
/// let i = merge::spans::intersect(&[(0, 10), (20, 30)], &[(5, 25)]);
/// assert_eq!(i, vec![(5, 10), (20, 25)]);
/// ```
pub fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Total length of normalized spans.
///
/// # Examples
/// ```
/// assert_eq!(merge::spans::total(&[(0, 10), (20, 25)]), 15);
/// ```
pub fn total(spans: &[Span]) -> u64 {
    spans.iter().map(|s| s.1 - s.0).sum()
}

/// Joins spans separated by less than `bridge` (normalized in, normalized out).
///
/// # Examples
/// ```
/// assert_eq!(merge::spans::bridge(&[(0, 10), (12, 20), (40, 50)], 5), vec![(0, 20), (40, 50)]);
/// ```
pub fn bridge(spans: &[Span], bridge: u64) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for &s in spans {
        match out.last_mut() {
            Some(last) if s.0 < last.1.saturating_add(bridge) => last.1 = last.1.max(s.1),
            _ => out.push(s),
        }
    }
    out
}

/// Spans shifted by `by` samples (clamped at 0: a span that would start before 0 is cut there).
pub(crate) fn shift(spans: &[Span], by: i64) -> Vec<Span> {
    spans
        .iter()
        .filter_map(|&(s, e)| {
            let s = (s as i64).saturating_add(by).max(0) as u64;
            let e = (e as i64).saturating_add(by).max(0) as u64;
            (s < e).then_some((s, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The set operations agree with a brute-force bitmap on pseudo-random inputs.
    #[test]
    fn set_operations_match_a_bitmap() {
        let mut x: u64 = 0x1234_5678;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300 {
            let mut gen = || {
                let v: Vec<Span> = (0..(next() % 6))
                    .map(|_| {
                        let s = next() % 100;
                        (s, s + next() % 30)
                    })
                    .collect();
                normalize(v)
            };
            let (a, b) = (gen(), gen());
            let bits = |s: &[Span]| {
                let mut m = [false; 140];
                for &(p, q) in s {
                    for v in m.iter_mut().take(q as usize).skip(p as usize) {
                        *v = true;
                    }
                }
                m
            };
            let (ma, mb) = (bits(&a), bits(&b));
            let want_sub: Vec<bool> = (0..140).map(|i| ma[i] && !mb[i]).collect();
            let want_int: Vec<bool> = (0..140).map(|i| ma[i] && mb[i]).collect();
            assert_eq!(bits(&subtract(&a, &b)).to_vec(), want_sub, "{a:?} - {b:?}");
            assert_eq!(bits(&intersect(&a, &b)).to_vec(), want_int, "{a:?} & {b:?}");
            assert_eq!(total(&a), ma.iter().filter(|&&v| v).count() as u64);
        }
    }
}
