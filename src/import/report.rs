//! What an import did, for the operator (text) or a script (`--json`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::store::{ImportOutcome, ImportedCounts};

/// Why something in the source did not come over. Each one is counted, so
/// the report accounts for every user, 3pid, device and token it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Locked, suspended or not yet approved in Synapse: this server models
    /// none of these, so importing would lift the restriction.
    RestrictedUser,
    /// Users of an application service, which this server does not model.
    ApplicationServiceUser,
    /// Synapse keeps cross-signing keys as hidden devices; they are not
    /// devices a user signed in on.
    HiddenDevice,
    ThreepidInUse,
    /// Tokens with no device (old Synapse logins) or of a device that was
    /// not imported.
    TokenWithoutImportedDevice,
    /// Access tokens an admin made to act as the user (`puppets_user_id`).
    PuppetToken,
    /// Rotated: the successor holds the session.
    RotatedRefreshToken,
    /// Refresh tokens with an expiry, which this server does not model:
    /// importing would make them last forever.
    ExpiringRefreshToken,
    TokenInUse,
    /// Without `--sessions`, tokens stay behind and clients sign in again.
    SessionsNotRequested,
}

impl Skip {
    fn describe(self) -> &'static str {
        match self {
            Skip::RestrictedUser => {
                "users locked, suspended or awaiting approval (not modelled here; importing would lift it)"
            }
            Skip::ApplicationServiceUser => "users of an application service (not modelled here)",
            Skip::HiddenDevice => "hidden devices (Synapse's cross-signing keys, not sign-ins)",
            Skip::ThreepidInUse => "3pids already attached to another account here",
            Skip::TokenWithoutImportedDevice => "tokens without a device, or of a device not imported",
            Skip::PuppetToken => "access tokens an admin made to act as the user",
            Skip::RotatedRefreshToken => "refresh tokens already rotated (the successor carries the session)",
            Skip::ExpiringRefreshToken => "refresh tokens with an expiry (not modelled here)",
            Skip::TokenInUse => "tokens already stored here",
            Skip::SessionsNotRequested => "access and refresh tokens (without --sessions clients sign in again)",
        }
    }
}

/// Parts of a Synapse database this server has no place for.
pub const NOT_CARRIED: &[&str] = &[
    "rooms, events, state and receipts",
    "media",
    "profiles (display names, avatars), account data, push rules and pushers",
    "end-to-end keys",
];

/// The final account of an import.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub source: String,
    pub schema_version: i64,
    pub dry_run: bool,
    /// Users read from the source, skipped ones included.
    pub users_read: u64,
    pub users_imported: u64,
    /// Already here (an earlier run, or a local account of that name):
    /// left as they are.
    pub users_already_present: u64,
    pub threepids: u64,
    pub devices: u64,
    pub access_tokens: u64,
    pub refresh_tokens: u64,
    pub skipped: BTreeMap<Skip, u64>,
    pub not_carried: &'static [&'static str],
}

impl Report {
    pub fn new(source: String, schema_version: i64, dry_run: bool) -> Report {
        Report { source, schema_version, dry_run, not_carried: NOT_CARRIED, ..Report::default() }
    }

    pub fn skip(&mut self, reason: Skip, count: u64) {
        if count > 0 {
            *self.skipped.entry(reason).or_default() += count;
        }
    }

    pub fn record(&mut self, outcome: ImportOutcome) {
        match outcome {
            ImportOutcome::AlreadyPresent => self.users_already_present += 1,
            ImportOutcome::Imported(counts) => self.add(counts),
        }
    }

    fn add(&mut self, counts: ImportedCounts) {
        self.users_imported += 1;
        self.threepids += counts.threepids;
        self.devices += counts.devices;
        self.access_tokens += counts.access_tokens;
        self.refresh_tokens += counts.refresh_tokens;
        self.skip(Skip::ThreepidInUse, counts.threepids_in_use);
        self.skip(Skip::TokenInUse, counts.tokens_in_use);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would import" } else { "imported" };
        writeln!(f, "Synapse database {} (schema version {})", self.source, self.schema_version)?;
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        writeln!(
            f,
            "{verb}: {} users, {} 3pids, {} devices, {} access tokens, {} refresh tokens",
            self.users_imported, self.threepids, self.devices, self.access_tokens, self.refresh_tokens
        )?;
        writeln!(f, "users read: {}", self.users_read)?;
        if self.users_already_present > 0 {
            writeln!(f, "already here, left as they are: {} users", self.users_already_present)?;
        }
        if self.users_imported == 0 {
            writeln!(f, "nothing new to import")?;
        }
        for (reason, count) in &self.skipped {
            writeln!(f, "skipped {count}: {}", reason.describe())?;
        }
        write!(f, "not carried (not modelled by this server): {}", self.not_carried.join("; "))
    }
}
