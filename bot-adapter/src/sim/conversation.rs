//! Who talks when in a planned meeting: turn-taking per [`MeetingKind`](super::meeting::MeetingKind).
//!
//! A speaker holds the floor in sentences (spurts of 1.2–7 s with 0.15–0.9 s pauses, now and then a 1.5–4 s
//! pause); the next turn starts after a short gap, overlaps the end of the last one (cross-talk), or waits
//! several seconds. Listeners say "mm-hm" now and then (0.25–0.7 s back-channel spurts, quieter), and
//! sometimes someone cuts in for a few seconds while the speaker goes on. The kind decides who holds the floor
//! and for how long (see [`MeetingKind`](super::meeting::MeetingKind)). Everything is in call ticks and seeded;
//! people who are not present at a moment are not picked, and whatever falls outside a participant's presence
//! is cut later.

use rand::seq::SliceRandom;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Ticks per second.
pub(crate) const SEC: i64 = 10_000_000;
/// Ticks per minute.
pub(crate) const MIN: i64 = 60 * SEC;

/// One utterance in call ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Utterance {
    pub start: i64,
    pub end: i64,
    pub level: u16,
    /// An "mm-hm": not a reason to unmute.
    pub backchannel: bool,
}

/// A uniform integer in `[lo, hi)`, or `lo` when the range is empty (never panics).
pub(crate) fn between(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..hi)
    }
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Seconds (fractional) to ticks.
pub(crate) fn secs(s: f64) -> i64 {
    (s * SEC as f64) as i64
}

/// The conversation being written: who is present, and everyone's utterances so far.
pub(crate) struct Conversation<'a> {
    pub rng: ChaCha8Rng,
    /// Per participant, its presence as `(join, leave)` ticks.
    presence: &'a [Vec<(i64, i64)>],
    /// End of the call.
    pub end: i64,
    /// Per participant, its utterances (any order; sorted later).
    pub talk: Vec<Vec<Utterance>>,
    /// Per participant: speaking level and how often it back-channels (0–1).
    level: Vec<u16>,
    chatty: Vec<f64>,
}

impl<'a> Conversation<'a> {
    pub(crate) fn new(mut rng: ChaCha8Rng, presence: &'a [Vec<(i64, i64)>], end: i64) -> Self {
        let n = presence.len();
        let level = (0..n).map(|_| rng.random_range(4_500..9_000)).collect();
        let chatty = (0..n).map(|_| rng.random_range(0.0..1.0)).collect();
        Conversation {
            rng,
            presence,
            end,
            talk: vec![Vec::new(); n],
            level,
            chatty,
        }
    }

    /// True when participant `i` is in the call at `t`.
    pub(crate) fn present(&self, i: usize, t: i64) -> bool {
        self.presence
            .get(i)
            .is_some_and(|p| p.iter().any(|&(a, b)| a <= t && t < b))
    }

    /// Those of `people` present at `t`.
    pub(crate) fn here(&self, people: &[usize], t: i64) -> Vec<usize> {
        people
            .iter()
            .copied()
            .filter(|&i| self.present(i, t))
            .collect()
    }

    /// A random one of `people` present at `t`, other than `not`.
    pub(crate) fn pick(&mut self, people: &[usize], t: i64, not: Option<usize>) -> Option<usize> {
        let here: Vec<usize> = self
            .here(people, t)
            .into_iter()
            .filter(|&i| Some(i) != not)
            .collect();
        if here.is_empty() {
            return None;
        }
        here.get(self.rng.random_range(0..here.len())).copied()
    }

    fn push(&mut self, who: usize, start: i64, end: i64, level: u16, backchannel: bool) {
        let end = end.min(self.end);
        if end - start < secs(0.1) {
            return;
        }
        if let Some(t) = self.talk.get_mut(who) {
            t.push(Utterance {
                start,
                end,
                level,
                backchannel,
            });
        }
    }

    /// One spurt of `len` ticks.
    pub(crate) fn utter(&mut self, who: usize, start: i64, len: i64) -> i64 {
        let base = f64::from(self.level.get(who).copied().unwrap_or(6_000));
        let level = (base * self.rng.random_range(0.85..1.15)) as u16;
        self.push(who, start, start + len, level, false);
        (start + len).min(self.end)
    }

    /// An "mm-hm" at `at`.
    pub(crate) fn backchannel(&mut self, who: usize, at: i64) {
        let len = secs(self.rng.random_range(0.25..0.7));
        let level = self.rng.random_range(1_500..3_500);
        self.push(who, at, at + len, level, true);
    }

    /// `who` holds the floor from `start` for about `len`, sentence by sentence. Returns when it stops.
    pub(crate) fn speak(&mut self, who: usize, start: i64, len: i64) -> i64 {
        let stop = start.saturating_add(len).min(self.end);
        let mut t = start;
        let mut last = start;
        while t < stop {
            let s = secs(self.rng.random_range(1.2..7.0));
            let e = (t + s).min(stop);
            last = self.utter(who, t, e - t).max(last);
            let pause = if chance(&mut self.rng, 0.1) {
                self.rng.random_range(1.5..4.0)
            } else {
                self.rng.random_range(0.15..0.9)
            };
            t = e + secs(pause);
        }
        last
    }

    /// While `speaker` talks from `from` to `to`: the other `listeners` back-channel now and then (each by its
    /// own chattiness), and with probability `cut_in` one of them cuts in for 1.5–4 s (cross-talk).
    pub(crate) fn listen(
        &mut self,
        speaker: usize,
        listeners: &[usize],
        from: i64,
        to: i64,
        cut_in: f64,
    ) {
        for &l in listeners {
            if l == speaker || !self.present(l, from) {
                continue;
            }
            // Back-channels per minute: most people rarely, a few often; fewer in a big meeting.
            let c = self.chatty.get(l).copied().unwrap_or(0.0);
            let rate = c * c * 0.6 * (5.0 / listeners.len().max(5) as f64);
            let expected = rate * (to - from) as f64 / MIN as f64;
            let mut k = expected.floor() as i64;
            if chance(&mut self.rng, expected.fract()) {
                k += 1;
            }
            for _ in 0..k.min(20) {
                let at = between(&mut self.rng, from + 2 * SEC, to - SEC);
                self.backchannel(l, at);
            }
        }
        if chance(&mut self.rng, cut_in) {
            let others: Vec<usize> = listeners
                .iter()
                .copied()
                .filter(|&l| l != speaker)
                .collect();
            let at = between(&mut self.rng, from + 5 * SEC, to - 3 * SEC);
            if let Some(who) = self.pick(&others, at, None) {
                let len = secs(self.rng.random_range(1.5..4.0));
                self.utter(who, at, len);
            }
        }
    }

    /// When the turn after one that started at `start` and ended at `end` starts: [`next_turn`], but at least
    /// half a second after `start` (so a conversation always moves on).
    ///
    /// [`next_turn`]: Self::next_turn
    pub(crate) fn after(&mut self, start: i64, end: i64) -> i64 {
        self.next_turn(end).max(start + SEC / 2)
    }

    /// When the next turn starts after one that ended at `end`: usually a short gap, often overlapping the
    /// end (cross-talk), sometimes a pause.
    pub(crate) fn next_turn(&mut self, end: i64) -> i64 {
        let u: f64 = self.rng.random();
        let gap = if u < 0.62 {
            self.rng.random_range(0.3..1.5)
        } else if u < 0.84 {
            -self.rng.random_range(0.2..1.2) // starts before the other has finished
        } else if u < 0.96 {
            self.rng.random_range(2.0..6.0)
        } else {
            self.rng.random_range(10.0..40.0)
        };
        (end + secs(gap)).max(0)
    }

    /// The end of a meeting: everyone of `people` still there says goodbye within the same two seconds
    /// (0.5–1.5 s each), a few seconds before the end: many voices at once.
    pub(crate) fn farewell(&mut self, people: &[usize]) {
        let at = self.end - between(&mut self.rng, 4 * SEC, 8 * SEC);
        for p in self.here(people, at) {
            let start = at + between(&mut self.rng, 0, 2 * SEC);
            let len = secs(self.rng.random_range(0.5..1.5));
            self.utter(p, start, len);
        }
    }

    /// A free discussion among `people` from `from` until about `to`: turns of `turn` ticks (range), each a
    /// different speaker from the last when possible. Returns when the last turn ended.
    pub(crate) fn discuss(
        &mut self,
        people: &[usize],
        from: i64,
        to: i64,
        turn: (i64, i64),
    ) -> i64 {
        let mut t = from;
        let mut last = None;
        let mut ended = from;
        while t < to.min(self.end) {
            let Some(who) = self
                .pick(people, t, last)
                .or_else(|| self.pick(people, t, None))
            else {
                t += 10 * SEC;
                continue;
            };
            let len = between(&mut self.rng, turn.0, turn.1);
            let e = self.speak(who, t, len);
            self.listen(who, people, t, e, 0.12);
            last = Some(who);
            ended = e;
            t = self.after(t, e);
        }
        ended
    }
}

/// A stand-up: the facilitator (participant 0) opens; everyone gives a 45–120 s update in a shuffled order
/// (others back-channel, sometimes cut in with a question; the facilitator sometimes thanks them); then 2–6 min
/// of open discussion among two or three; a quiet minute; and again, for as long as the meeting lasts. Everyone
/// says goodbye at once at the end.
pub(crate) fn standup(c: &mut Conversation) {
    let all: Vec<usize> = (0..c.talk.len()).collect();
    let mut t = between(&mut c.rng, 3 * SEC, 10 * SEC);
    while t < c.end - 5 * SEC {
        if c.present(0, t) {
            let len = secs(c.rng.random_range(4.0..12.0));
            let e = c.speak(0, t, len);
            t = c.after(t, e);
        }
        let mut order: Vec<usize> = (1..all.len()).collect();
        order.shuffle(&mut c.rng);
        order.push(0);
        for p in order {
            if t >= c.end || !c.present(p, t) {
                continue;
            }
            let len = secs(c.rng.random_range(45.0..120.0));
            let e = c.speak(p, t, len);
            c.listen(p, &all, t, e, 0.3);
            let mut next = c.after(t, e);
            if p != 0 && chance(&mut c.rng, 0.4) && c.present(0, e) {
                let thanks = e + secs(c.rng.random_range(0.2..1.0));
                let len = secs(c.rng.random_range(0.8..2.5));
                next = next.max(c.utter(0, thanks, len) + secs(0.3));
            }
            t = next;
        }
        let here = c.here(&all, t);
        if here.len() >= 2 {
            let k = between(&mut c.rng, 2, 4).min(here.len() as i64) as usize;
            let mut few = here;
            few.shuffle(&mut c.rng);
            few.truncate(k);
            let len = between(&mut c.rng, 2 * MIN, 6 * MIN);
            t = c.discuss(&few, t, t + len, (5 * SEC, 40 * SEC));
        }
        t += between(&mut c.rng, 20 * SEC, 90 * SEC);
    }
    c.farewell(&all);
}

/// A town hall: the presenter (participant 0) talks in segments of 8–20 min; the moderator (participant 1,
/// with three or more people) opens, and after each segment reads one to three questions or hands over to
/// someone in the audience, whom the presenter answers for 0.5–2.5 min (sometimes a follow-up). The audience
/// is otherwise silent.
pub(crate) fn townhall(c: &mut Conversation) {
    let n = c.talk.len();
    let moderator = (n >= 3).then_some(1);
    let audience: Vec<usize> = (if n >= 3 { 2 } else { 1 }..n).collect();
    let mut t = between(&mut c.rng, 5 * SEC, 20 * SEC);
    if let Some(m) = moderator {
        let len = secs(c.rng.random_range(20.0..60.0));
        let e = c.speak(m, t, len);
        t = c.next_turn(e).max(e);
    }
    while t < c.end - 10 * SEC {
        let seg = between(&mut c.rng, 8 * MIN, 20 * MIN);
        let e = c.speak(0, t, seg);
        if let Some(m) = moderator {
            c.listen(0, &[m], t, e, 0.0);
        }
        t = e + secs(c.rng.random_range(1.0..4.0));
        for _ in 0..between(&mut c.rng, 1, 4) {
            if t >= c.end {
                break;
            }
            let asker = match moderator {
                Some(m) if chance(&mut c.rng, 0.4) || audience.is_empty() => Some(m),
                _ => c.pick(&audience, t, None).or(moderator),
            };
            let Some(asker) = asker else { break };
            let q = secs(c.rng.random_range(8.0..35.0));
            let e = c.speak(asker, t, q);
            t = c.next_turn(e).max(e);
            let a = secs(c.rng.random_range(30.0..150.0));
            let e = c.speak(0, t, a);
            c.listen(0, &[asker], t, e, 0.1);
            t = c.next_turn(e).max(e);
            if chance(&mut c.rng, 0.3) {
                let f = secs(c.rng.random_range(4.0..12.0));
                let e = c.speak(asker, t, f);
                let a = secs(c.rng.random_range(10.0..40.0));
                let start = c.next_turn(e).max(e);
                let e = c.speak(0, start, a);
                t = c.next_turn(e).max(e);
            }
        }
        t += secs(c.rng.random_range(1.0..5.0));
    }
    let hosts: Vec<usize> = std::iter::once(0).chain(moderator).collect();
    c.farewell(&hosts);
}

/// A one-on-one: two people (participants 0 and 1) alternate, mostly 3–25 s turns, often 25–90 s, sometimes a
/// 2–4 min explanation; the listener back-channels; frequent cross-talk; now and then a long pause. Once in a
/// meeting of 15 min or more, both go quiet for 2–3 min (reading a shared document): returned as
/// `(start, end)` so the screen share can be put around it.
pub(crate) fn one_on_one(c: &mut Conversation) -> Option<(i64, i64)> {
    let both = [0usize, 1];
    let mut reading = None;
    let read_at = (c.end >= 15 * MIN).then(|| between(&mut c.rng, c.end * 3 / 10, c.end * 6 / 10));
    let mut t = between(&mut c.rng, SEC, 4 * SEC);
    let mut cur = usize::from(chance(&mut c.rng, 0.5));
    while t < c.end - 2 * SEC {
        if reading.is_none() && read_at.is_some_and(|at| t >= at) {
            let quiet = between(&mut c.rng, 2 * MIN + 10 * SEC, 3 * MIN);
            reading = Some((t, t + quiet));
            t += quiet;
            continue;
        }
        if !c.present(cur, t) {
            cur = 1 - cur;
            if !c.present(cur, t) {
                t += 5 * SEC;
                continue;
            }
        }
        let u: f64 = c.rng.random();
        let len = if u < 0.05 {
            secs(c.rng.random_range(0.5..2.0))
        } else if u < 0.63 {
            secs(c.rng.random_range(3.0..25.0))
        } else if u < 0.9 {
            secs(c.rng.random_range(25.0..90.0))
        } else {
            between(&mut c.rng, 2 * MIN, 4 * MIN)
        };
        let e = c.speak(cur, t, len);
        let attentive = if len >= 2 * MIN { 0.4 } else { 0.75 };
        if chance(&mut c.rng, attentive) {
            c.listen(cur, &both, t, e, 0.15);
        }
        if chance(&mut c.rng, 0.8) {
            cur = 1 - cur;
            t = c.after(t, e);
        } else {
            t = e + secs(c.rng.random_range(1.0..5.0));
        }
        if chance(&mut c.rng, 0.04) {
            t += secs(c.rng.random_range(30.0..150.0));
        }
    }
    c.farewell(&both);
    reading
}

/// The panelists of a panel of `n`: participants `1..=k`, three to five of them when there are enough people.
pub(crate) fn panelists(n: usize, pick: usize) -> Vec<usize> {
    let k = (3 + pick % 3).min(n.saturating_sub(1)).max(1);
    (1..=k).collect()
}

/// A panel: the moderator (participant 0) introduces (1–2.5 min); each panelist introduces itself
/// (0.5–1.25 min); then topics: a question (15–45 s) to one panelist, who answers for 1–4 min while the others
/// back-channel or cut in, another often chimes in (20–90 s), sometimes a third (10–30 s). In the last 15 %,
/// the moderator hands questions from the silent audience (everyone else) to the panel. The moderator closes.
pub(crate) fn panel(c: &mut Conversation, panel: &[usize]) {
    let n = c.talk.len();
    let audience: Vec<usize> = (0..n).filter(|i| *i != 0 && !panel.contains(i)).collect();
    let mut t = between(&mut c.rng, 5 * SEC, 15 * SEC);
    let len = between(&mut c.rng, 60 * SEC, 150 * SEC);
    let e = c.speak(0, t, len);
    t = c.next_turn(e).max(e);
    for &p in panel {
        if !c.present(p, t) {
            continue;
        }
        let len = between(&mut c.rng, 30 * SEC, 75 * SEC);
        let e = c.speak(p, t, len);
        let bridge = c.next_turn(e).max(e);
        let len = secs(c.rng.random_range(2.0..6.0));
        let e = c.utter(0, bridge, len);
        t = c.next_turn(e).max(e);
    }
    let qa_from = if audience.is_empty() {
        c.end
    } else {
        c.end - c.end * 15 / 100
    };
    let mut everyone = panel.to_vec();
    everyone.push(0);
    while t < c.end - 40 * SEC {
        let from_audience = t >= qa_from;
        let asker = if from_audience {
            let len = secs(c.rng.random_range(5.0..15.0));
            let e = c.speak(0, t, len);
            t = c.next_turn(e).max(e);
            c.pick(&audience, t, None).unwrap_or(0)
        } else {
            0
        };
        let q = secs(c.rng.random_range(15.0..45.0));
        let e = c.speak(asker, t, q);
        t = c.next_turn(e).max(e);
        let Some(first) = c.pick(panel, t, None) else {
            t += 30 * SEC;
            continue;
        };
        let len = between(&mut c.rng, MIN, 4 * MIN);
        let e = c.speak(first, t, len);
        c.listen(first, &everyone, t, e, 0.25);
        t = c.after(t, e);
        if chance(&mut c.rng, 0.5) {
            if let Some(second) = c.pick(panel, t, Some(first)) {
                let len = between(&mut c.rng, 20 * SEC, 90 * SEC);
                let e = c.speak(second, t, len);
                c.listen(second, &everyone, t, e, 0.15);
                t = c.after(t, e);
                if chance(&mut c.rng, 0.3) {
                    if let Some(third) = c.pick(panel, t, Some(second)) {
                        let len = between(&mut c.rng, 10 * SEC, 30 * SEC);
                        let e = c.speak(third, t, len);
                        t = c.after(t, e);
                    }
                }
            }
        }
    }
    if c.present(0, t) {
        let len = between(&mut c.rng, 20 * SEC, 40 * SEC);
        c.speak(0, t, len);
    }
    c.farewell(&everyone);
}
