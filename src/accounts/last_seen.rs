//! Where and when each device was last used, kept cheaply.
//!
//! `GET /devices` shows every device's `last_seen_ip` and `last_seen_ts`.
//! Writing them on every authenticated request would put an SQLite write
//! on the hot path (whoami serves ~100k requests a second from memory), so
//! uses are noted in memory and written in one transaction per interval
//! (`[devices] last_seen_flush_interval`) and when the server stops:
//!
//! - each [`Session`] (one per cached access token) remembers when it was
//!   last noted and from which address, in two atomics: a request within
//!   [`GRANULARITY`] of the last note, from the same address, costs two
//!   relaxed loads and a clock read, nothing more (Synapse keeps the same
//!   two-minute granularity for its `user_ips`);
//! - otherwise the use goes into a pending map, behind a mutex taken at
//!   most once per session per minute;
//! - readers of devices overlay the pending uses on the stored ones, so an
//!   answer is never older than the latest noted use.
//!
//! What a crash loses is at most one interval of last-seen times, never a
//! device or a token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::store::{DeviceRecord, LastSeen, Millis};

/// A device's use within this long of the last noted one, from the same
/// address, is not noted again.
pub(crate) const GRANULARITY: Millis = 60_000;

/// What a session remembers of its last noted use.
#[derive(Debug, Default)]
pub(crate) struct Noted {
    at: AtomicI64,
    ip: AtomicU64,
}

impl Noted {
    /// Whether a use at `now` from `ip` needs noting; if so, remembers it.
    /// Two requests racing may both answer true: the pending map keeps the
    /// later one.
    fn should_note(&self, now: Millis, ip: IpAddr) -> bool {
        let fingerprint = fingerprint(ip);
        let recent = now.saturating_sub(self.at.load(Ordering::Relaxed)) < GRANULARITY;
        if recent && self.ip.load(Ordering::Relaxed) == fingerprint {
            return false;
        }
        self.at.store(now, Ordering::Relaxed);
        self.ip.store(fingerprint, Ordering::Relaxed);
        true
    }
}

/// An address in 64 bits, for comparing with the last one. A collision
/// between two IPv6 addresses only delays noting the change by a minute.
fn fingerprint(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)) | 1 << 63,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            ((bits as u64) ^ ((bits >> 64) as u64)) & !(1 << 63)
        }
    }
}

/// The latest noted use of each device of one account, by device ID.
type DeviceUses = HashMap<Box<str>, (IpAddr, Millis)>;

/// Uses noted and not written yet, by localpart, then device.
#[derive(Default)]
pub(crate) struct LastSeenTracker {
    pending: Mutex<HashMap<Box<str>, DeviceUses>>,
}

impl LastSeenTracker {
    /// Notes a use of `device_id` of `localpart`, if `noted` says it is
    /// news.
    pub(crate) fn note(&self, noted: &Noted, localpart: &str, device_id: &str, ip: IpAddr, now: Millis) {
        if !noted.should_note(now, ip) {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let devices = pending.entry(localpart.into()).or_default();
        let entry = devices.entry(device_id.into()).or_insert((ip, now));
        if entry.1 <= now {
            *entry = (ip, now);
        }
    }

    /// Takes every pending use, to be written.
    pub(crate) fn take(&self) -> Vec<LastSeen> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        pending
            .into_iter()
            .flat_map(|(localpart, devices)| {
                devices.into_iter().map(move |(device_id, (ip, ts))| LastSeen {
                    localpart: localpart.to_string(),
                    device_id: device_id.into(),
                    ip: ip.to_string(),
                    ts,
                })
            })
            .collect()
    }

    /// Puts uses back after a failed write, unless newer ones came since.
    pub(crate) fn restore(&self, uses: Vec<LastSeen>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for use_ in uses {
            let Ok(ip) = use_.ip.parse() else { continue };
            let devices = pending.entry(use_.localpart.into()).or_default();
            devices.entry(use_.device_id.into()).or_insert((ip, use_.ts));
        }
    }

    /// `devices` with the pending uses of `localpart` laid over them.
    pub(crate) fn overlay(&self, localpart: &str, devices: &mut [DeviceRecord]) {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(uses) = pending.get(localpart) else { return };
        for device in devices {
            if let Some((ip, ts)) = uses.get(device.device_id.as_str())
                && device.last_seen_ts.is_none_or(|stored| stored <= *ts)
            {
                device.last_seen_ip = Some(ip.to_string());
                device.last_seen_ts = Some(*ts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> DeviceRecord {
        DeviceRecord { device_id: id.into(), display_name: None, last_seen_ip: None, last_seen_ts: None }
    }

    #[test]
    fn a_session_is_noted_once_per_minute_per_address() {
        let tracker = LastSeenTracker::default();
        let noted = Noted::default();
        let (home, away) = (IpAddr::from([192, 0, 2, 1]), IpAddr::from([192, 0, 2, 2]));
        tracker.note(&noted, "alice", "PHONE", home, 1_000_000);
        assert!(!noted.should_note(1_000_000 + GRANULARITY - 1, home), "noted again within the minute");
        assert!(noted.should_note(1_000_000 + 1, away), "a new address is news");
        assert!(noted.should_note(1_000_000 + 1 + GRANULARITY, away), "a minute later is news");
        assert_eq!(tracker.take().len(), 1);
        assert!(tracker.take().is_empty(), "taken uses are gone");
    }

    #[test]
    fn pending_uses_are_laid_over_stored_ones() {
        let tracker = LastSeenTracker::default();
        let ip = IpAddr::from([192, 0, 2, 7]);
        tracker.note(&Noted::default(), "alice", "PHONE", ip, 5_000);
        let mut devices = vec![device("LAPTOP"), DeviceRecord { last_seen_ts: Some(9_000), ..device("PHONE") }];
        tracker.overlay("alice", &mut devices);
        assert_eq!(devices[0].last_seen_ts, None);
        assert_eq!(devices[1].last_seen_ts, Some(9_000), "an older pending use does not hide a newer stored one");
        let mut devices = vec![device("PHONE")];
        tracker.overlay("alice", &mut devices);
        assert_eq!(devices[0].last_seen_ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(devices[0].last_seen_ts, Some(5_000));
    }

    #[test]
    fn a_failed_write_is_retried_without_hiding_newer_uses() {
        let tracker = LastSeenTracker::default();
        let ip = IpAddr::from([192, 0, 2, 7]);
        tracker.note(&Noted::default(), "alice", "PHONE", ip, 5_000);
        let taken = tracker.take();
        tracker.note(&Noted::default(), "alice", "PHONE", ip, 6_000);
        tracker.restore(taken);
        let retried = tracker.take();
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].ts, 6_000);
    }
}
