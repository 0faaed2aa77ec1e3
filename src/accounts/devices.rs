//! The devices of an account (`GET /devices`, `GET|PUT|DELETE
//! /devices/{deviceId}`, `POST /delete_devices`).
//!
//! A device is what a login creates: a device ID, a display name, and the
//! tokens issued to it. Listing and renaming need only the access token;
//! deleting logs the device out for good, so it asks for the password
//! again (UIA `m.login.password`, for the caller's own account), like a
//! password change, and the session is used up by the deletion.
//!
//! `last_seen_ip`/`last_seen_ts` come from the store with the uses noted
//! since the last batch laid over them (see `last_seen`).

use serde::{Deserialize, Serialize};

use super::uia::Resumable;
use super::{Accounts, ClientInfo, Session, guest_forbidden};
use crate::error::{Error, ErrorCode, Result};
pub use crate::store::DeviceRecord as Device;
use crate::store::UiaOperation;

/// Device display names are at most this long (as Synapse's).
pub(crate) const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// What a device deletion's UIA session remembers: the devices to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeleteDevicesRequest {
    devices: Vec<String>,
}

impl Resumable for DeleteDevicesRequest {
    fn or(self, stored: Self) -> Self {
        if self.devices.is_empty() { stored } else { self }
    }
}

fn no_such_device() -> Error {
    Error::new(http::StatusCode::NOT_FOUND, ErrorCode::NotFound, "Unknown device")
}

impl Accounts {
    /// The caller's devices, by device ID.
    pub async fn devices(&self, session: &Session) -> Result<Vec<Device>> {
        self.devices_of(session.localpart()).await
    }

    /// The devices of an account, with their latest uses (for the caller's
    /// own list and for an admin's whois).
    pub(crate) async fn devices_of(&self, localpart: &str) -> Result<Vec<Device>> {
        let localpart = localpart.to_owned();
        let mut devices = {
            let localpart = localpart.clone();
            self.db(move |store| store.devices(&localpart)).await?
        };
        self.inner.last_seen.overlay(&localpart, &mut devices);
        Ok(devices)
    }

    /// One of the caller's devices; 404 `M_NOT_FOUND` if it has none of
    /// that ID.
    pub async fn device(&self, session: &Session, device_id: &str) -> Result<Device> {
        self.device_of(session.localpart(), device_id).await
    }

    /// One device of an account (the caller's own, or one an admin names).
    pub(crate) async fn device_of(&self, localpart: &str, device_id: &str) -> Result<Device> {
        let (localpart, device_id) = (localpart.to_owned(), device_id.to_owned());
        let device = {
            let localpart = localpart.clone();
            self.db(move |store| store.device(&localpart, &device_id)).await?
        };
        let mut device = [device.ok_or_else(no_such_device)?];
        self.inner.last_seen.overlay(&localpart, &mut device);
        let [device] = device;
        Ok(device)
    }

    /// Renames one of the caller's devices (`None` clears the name).
    ///
    /// - 404 `M_NOT_FOUND`: the caller has no device of that ID.
    /// - 400 `M_INVALID_PARAM`: a name over 100 characters (login cuts an
    ///   `initial_device_display_name` instead, as Synapse does; a rename
    ///   is explicit, so it is told).
    pub async fn rename_device(&self, session: &Session, device_id: &str, display_name: Option<String>) -> Result<()> {
        self.rename_device_of(session.localpart(), device_id, display_name).await
    }

    /// [`Self::rename_device`] for any account (an admin's request).
    pub(crate) async fn rename_device_of(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<String>,
    ) -> Result<()> {
        if display_name.as_ref().is_some_and(|name| name.chars().count() > MAX_DISPLAY_NAME_CHARS) {
            return Err(Error::invalid_param(format!(
                "display_name is too long (at most {MAX_DISPLAY_NAME_CHARS} characters)"
            )));
        }
        let (localpart, device_id) = (localpart.to_owned(), device_id.to_owned());
        let renamed =
            self.db(move |store| store.set_device_display_name(&localpart, &device_id, display_name.as_deref()));
        if !renamed.await? {
            return Err(no_such_device());
        }
        Ok(())
    }

    /// Deletes one of the caller's devices (`DELETE /devices/{deviceId}`):
    /// 404 `M_NOT_FOUND` before UIA if there is no such device, then as
    /// [`Self::delete_devices`].
    pub async fn delete_device(
        &self,
        session: &Session,
        device_id: &str,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<()> {
        if session.is_guest() {
            return Err(guest_forbidden());
        }
        self.device(session, device_id).await?;
        self.delete_devices(session, vec![device_id.to_owned()], auth, client).await
    }

    /// Deletes some of the caller's devices with their tokens
    /// (`POST /delete_devices`); IDs it does not have are skipped.
    ///
    /// - Guests: 403 `M_GUEST_ACCESS_FORBIDDEN` (no password to prove).
    /// - UIA `m.login.password` for the caller's own account: 401 with the
    ///   flows until it passes; another account's credentials are 403.
    /// - The session remembers the device list: a follow-up carrying only
    ///   `auth` deletes the devices the first request named. The deletion
    ///   uses the session up.
    /// - The caller's own device may be among them: it is logged out too.
    pub async fn delete_devices(
        &self,
        session: &Session,
        devices: Vec<String>,
        auth: Option<serde_json::Value>,
        client: &ClientInfo,
    ) -> Result<()> {
        let (request, passed) = self
            .reauthenticate(UiaOperation::DeleteDevices, session, DeleteDevicesRequest { devices }, auth, client)
            .await?;
        let count = request.devices.len();
        self.delete_devices_of(session.localpart(), request.devices, passed.session_id).await?;
        tracing::info!(event = "devices.deleted", user = session.user_id(), ip = %client.ip, count);
        Ok(())
    }

    /// Deletes devices of an account with their tokens, using up
    /// `uia_session` if one authorised it (none for an admin's request).
    pub(crate) async fn delete_devices_of(
        &self,
        localpart: &str,
        devices: Vec<String>,
        uia_session: Option<String>,
    ) -> Result<()> {
        let owner = localpart.to_owned();
        self.db_revoking(move |store| store.delete_devices(&owner, &devices, uia_session.as_deref())).await?;
        Ok(())
    }

    /// Writes the device uses noted since the last call in one transaction
    /// (see `last_seen`). On failure they are kept for the next call.
    pub async fn flush_last_seen(&self) -> Result<()> {
        let uses = self.inner.last_seen.take();
        if uses.is_empty() {
            return Ok(());
        }
        let inner = std::sync::Arc::clone(&self.inner);
        let written = tokio::task::spawn_blocking(move || match inner.store.record_last_seen(&uses) {
            Ok(()) => Ok(()),
            Err(error) => {
                inner.last_seen.restore(uses);
                Err(error)
            }
        });
        match written.await {
            Ok(result) => result.map_err(Error::from),
            Err(join) => Err(Error::internal(join)),
        }
    }
}
