//! The devices of an account.
//!
//! - `GET /_matrix/client/{r0,v3}/devices`, `GET|PUT|DELETE
//!   /devices/{deviceId}`, `POST /delete_devices` (the deletions are UIA).

use serde_json::Value;

use super::{Handlers, Json, empty};
use crate::accounts::Device;
use crate::api::runtime::{AccessToken, Request};
use crate::api::{Devices, types};
use crate::error::Error;

pub(super) fn device(device: Device) -> types::Device {
    types::Device {
        device_id: device.device_id,
        display_name: device.display_name,
        last_seen_ip: device.last_seen_ip,
        last_seen_ts: device.last_seen_ts,
    }
}

impl Devices for Handlers {
    async fn get_devices(&self, request: &Request, token: AccessToken) -> Result<types::GetDevicesResponse, Error> {
        let session = self.session(request, &token).await?;
        let devices = self.accounts.devices(&session).await?;
        Ok(types::GetDevicesResponse { devices: devices.into_iter().map(device).collect() })
    }

    async fn get_device(
        &self,
        request: &Request,
        token: AccessToken,
        device_id: String,
    ) -> Result<types::Device, Error> {
        let session = self.session(request, &token).await?;
        Ok(device(self.accounts.device(&session, &device_id).await?))
    }

    async fn update_device(
        &self,
        request: &Request,
        token: AccessToken,
        device_id: String,
        body: types::UpdateDeviceRequest,
    ) -> Result<Json, Error> {
        let session = self.session(request, &token).await?;
        self.accounts.rename_device(&session, &device_id, body.display_name).await?;
        Ok(empty())
    }

    async fn delete_device(
        &self,
        request: &Request,
        token: AccessToken,
        device_id: String,
        body: types::DeleteDeviceRequest,
    ) -> Result<Json, Error> {
        let session = self.session(request, &token).await?;
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        self.accounts.delete_device(&session, &device_id, auth, &self.client(request)).await?;
        Ok(empty())
    }

    async fn delete_devices(
        &self,
        request: &Request,
        token: AccessToken,
        body: types::DeleteDevicesRequest,
    ) -> Result<Json, Error> {
        let session = self.session(request, &token).await?;
        let auth = body.auth.map(|auth| Value::Object(auth.0));
        self.accounts.delete_devices(&session, body.devices, auth, &self.client(request)).await?;
        Ok(empty())
    }
}
