//! Recorder legs on the server: Teams invites up to two recorder bots into a call, each streams it on its own.
//!
//! The call registry is keyed by (call id, leg id): each leg of a call is recorded in its own folder (leg `1`
//! in `<call>`, leg `x` in `<call>-leg<x>`), the same (call, leg) while it streams is refused, and the same
//! (call, leg) after its stream ended (the bot reconnected) records into a new folder whose `metadata.json`
//! links the earlier one (`call.continues`).

use std::collections::{HashMap, VecDeque};

/// A call's leg in the registry: (call id, leg id).
pub(crate) type LegKey = (String, String);

/// How many ended legs the server remembers for `call.continues` (the oldest are forgotten).
const MAX_ENDED_LEGS: usize = 4096;

/// The folder name (before uniqueness) of a call's leg: `<call>` for leg `1`, `<call>-leg<leg>` otherwise.
pub(crate) fn folder_base(call_id: &str, leg_id: &str) -> String {
    if leg_id == "1" {
        call_id.to_string()
    } else {
        format!("{call_id}-leg{leg_id}")
    }
}

/// The newest folder of each leg whose stream ended on this server, bounded to [`MAX_ENDED_LEGS`] legs.
#[derive(Default)]
pub(crate) struct EndedLegs {
    folders: HashMap<LegKey, String>,
    order: VecDeque<LegKey>,
}

impl EndedLegs {
    /// Remembers that `key`'s stream, recorded in `folder`, ended.
    pub(crate) fn record(&mut self, key: LegKey, folder: String) {
        if self.folders.insert(key.clone(), folder).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MAX_ENDED_LEGS {
            if let Some(old) = self.order.pop_front() {
                self.folders.remove(&old);
            }
        }
    }

    /// The folder of `key`'s latest ended stream, if the server remembers one.
    pub(crate) fn last(&self, key: &LegKey) -> Option<&String> {
        self.folders.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, l: &str) -> LegKey {
        (c.into(), l.into())
    }

    #[test]
    fn legs_name_their_folders_and_ended_legs_are_remembered_up_to_a_bound() {
        assert_eq!(folder_base("c", "1"), "c");
        assert_eq!(folder_base("c", "2"), "c-leg2");
        let mut e = EndedLegs::default();
        e.record(key("c", "1"), "c".into());
        e.record(key("c", "1"), "c-2".into());
        assert_eq!(e.last(&key("c", "1")).map(String::as_str), Some("c-2"));
        assert_eq!(e.last(&key("c", "2")), None);
        for i in 0..MAX_ENDED_LEGS {
            e.record(key(&format!("x{i}"), "1"), "f".into());
        }
        assert_eq!(e.last(&key("c", "1")), None, "the oldest is forgotten");
        assert!(e.folders.len() <= MAX_ENDED_LEGS);
    }
}
