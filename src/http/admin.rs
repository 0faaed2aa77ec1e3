//! Synapse's admin API, the account part, so that Synapse's tools
//! (`register_new_matrix_user`, synapse-admin, scripts) work unchanged.
//!
//! - `GET|POST /_synapse/admin/v1/register`: shared-secret registration;
//! - `GET /_synapse/admin/v1/server_version`;
//! - `GET|PUT /_synapse/admin/v1/users/{user_id}/admin`,
//!   `POST /_synapse/admin/v1/deactivate/{user_id}`,
//!   `POST /_synapse/admin/v1/reset_password/{user_id}`,
//!   `GET /_synapse/admin/v1/username_available`,
//!   `GET /_synapse/admin/v1/whois/{user_id}`,
//!   `GET /_synapse/admin/v1/threepid/{medium}/users/{address}`,
//!   `GET /_synapse/admin/v2/users`, `GET|PUT /_synapse/admin/v2/users/{user_id}`,
//!   `GET /_synapse/admin/v2/users/{user_id}/devices`, `GET|PUT|DELETE
//!   .../devices/{device_id}`, `POST .../delete_devices`: admins only.
//!
//! Any other `/_synapse/admin/...` path is not in `api/`, so it answers
//! 404 `M_UNRECOGNIZED` like every unknown path.

use super::devices::device;
use super::{Handlers, Json, empty};
use crate::accounts::{AdminUserUpdate, AdminUserView, Secret, SharedSecretRegistration, Upserted, UserListQuery};
use crate::api::runtime::{AccessToken, Request};
use crate::api::{AdminPutUserSuccess, AdminRegister, AdminUserV2, AdminUsers, types};
use crate::error::Error;

impl AdminRegister for Handlers {
    async fn get_registration_nonce(&self, _: &Request) -> Result<types::GetRegistrationNonceResponse, Error> {
        Ok(types::GetRegistrationNonceResponse { nonce: self.accounts.registration_nonce()? })
    }

    async fn shared_secret_register(
        &self,
        request: &Request,
        body: types::SharedSecretRegisterRequest,
    ) -> Result<types::SharedSecretRegisterResponse, Error> {
        let registration = SharedSecretRegistration {
            nonce: body.nonce,
            username: body.username,
            password: Secret::from(body.password),
            admin: body.admin,
            mac: body.mac,
        };
        let registered = self.accounts.register_with_shared_secret(registration, &self.client(request)).await?;
        let (Some(access_token), Some(device_id)) = (registered.access_token, registered.device_id) else {
            return Err(Error::internal("a shared-secret registration signed no device in"));
        };
        Ok(types::SharedSecretRegisterResponse {
            access_token,
            device_id,
            home_server: self.accounts.server_name().to_owned(),
            user_id: registered.user_id,
        })
    }
}

impl AdminUsers for Handlers {
    async fn get_server_version(&self, _: &Request) -> Result<types::GetServerVersionResponse, Error> {
        Ok(types::GetServerVersionResponse {
            server_version: concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).to_owned(),
        })
    }

    async fn get_user_admin(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
    ) -> Result<types::AdminFlag, Error> {
        self.admin(request, &token).await?;
        Ok(types::AdminFlag { admin: self.accounts.is_admin(&user_id).await? })
    }

    async fn set_user_admin(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        body: types::AdminFlag,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.set_admin(&admin, &user_id, body.admin).await?;
        Ok(empty())
    }

    async fn admin_deactivate_user(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        body: types::AdminDeactivateUserRequest,
    ) -> Result<types::AdminDeactivateUserResponse, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.admin_deactivate(&admin, &user_id, body.erase).await?;
        Ok(types::AdminDeactivateUserResponse { id_server_unbind_result: "success".into() })
    }

    async fn admin_reset_password(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        body: types::AdminResetPasswordRequest,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        let password = Secret::from(body.new_password);
        self.accounts.admin_reset_password(&admin, &user_id, password, body.logout_devices).await?;
        Ok(empty())
    }

    async fn admin_whois(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
    ) -> Result<types::AdminWhoisResponse, Error> {
        let admin = self.admin(request, &token).await?;
        let (user_id, devices) = self.accounts.whois(&user_id).await?;
        tracing::info!(event = "admin.whois", admin = %admin.user_id(), target = %user_id);
        let devices = devices.into_iter().map(|device| {
            let connections = match (device.last_seen_ip, device.last_seen_ts) {
                (Some(ip), Some(last_seen)) => vec![types::WhoisConnection { ip, last_seen }],
                _ => Vec::new(),
            };
            (device.device_id, types::WhoisDevice { sessions: vec![types::WhoisSession { connections }] })
        });
        Ok(types::AdminWhoisResponse { user_id, devices: devices.collect() })
    }

    async fn admin_threepid_user(
        &self,
        request: &Request,
        token: AccessToken,
        medium: String,
        address: String,
    ) -> Result<types::AdminThreepidUserResponse, Error> {
        self.admin(request, &token).await?;
        Ok(types::AdminThreepidUserResponse { user_id: self.accounts.threepid_user(&medium, &address).await? })
    }

    async fn admin_username_available(
        &self,
        request: &Request,
        token: AccessToken,
        query: types::AdminUsernameAvailableQuery,
    ) -> Result<types::AdminUsernameAvailableResponse, Error> {
        self.admin(request, &token).await?;
        self.accounts.username_available_unlimited(&query.username).await?;
        Ok(types::AdminUsernameAvailableResponse { available: true })
    }
}

impl AdminUserV2 for Handlers {
    async fn admin_list_devices(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
    ) -> Result<types::AdminListDevicesResponse, Error> {
        self.admin(request, &token).await?;
        let devices: Vec<_> = self.accounts.admin_devices(&user_id).await?.into_iter().map(device).collect();
        let total = devices.len() as i64;
        Ok(types::AdminListDevicesResponse { devices, total })
    }

    async fn admin_get_device(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        device_id: String,
    ) -> Result<types::Device, Error> {
        self.admin(request, &token).await?;
        Ok(device(self.accounts.admin_device(&user_id, &device_id).await?))
    }

    async fn admin_update_device(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        device_id: String,
        body: types::AdminUpdateDeviceRequest,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.admin_rename_device(&admin, &user_id, &device_id, body.display_name).await?;
        Ok(empty())
    }

    async fn admin_delete_device(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        device_id: String,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.admin_device(&user_id, &device_id).await?;
        self.accounts.admin_delete_devices(&admin, &user_id, vec![device_id]).await?;
        Ok(empty())
    }

    async fn admin_delete_devices(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        body: types::AdminDeleteDevicesRequest,
    ) -> Result<Json, Error> {
        let admin = self.admin(request, &token).await?;
        self.accounts.admin_delete_devices(&admin, &user_id, body.devices).await?;
        Ok(empty())
    }

    async fn admin_list_users(
        &self,
        request: &Request,
        token: AccessToken,
        query: types::AdminListUsersQuery,
    ) -> Result<types::AdminListUsersResponse, Error> {
        self.admin(request, &token).await?;
        let query = UserListQuery {
            from: query.from,
            limit: query.limit,
            name: query.name,
            guests: query.guests,
            deactivated: query.deactivated,
            admins: query.admins,
            order_by: query.order_by,
            dir: query.dir,
        };
        let page = self.accounts.list_users(query).await?;
        let users = page.users.into_iter().map(|(name, user)| types::AdminListedUser {
            name,
            admin: user.admin,
            deactivated: user.deactivated,
            is_guest: user.is_guest,
            creation_ts: user.created_at,
        });
        Ok(types::AdminListUsersResponse { users: users.collect(), total: page.total, next_token: page.next_token })
    }

    async fn admin_get_user(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
    ) -> Result<types::AdminUser, Error> {
        self.admin(request, &token).await?;
        Ok(admin_user(self.accounts.admin_user(&user_id).await?))
    }

    async fn admin_put_user(
        &self,
        request: &Request,
        token: AccessToken,
        user_id: String,
        body: types::AdminPutUserRequest,
    ) -> Result<AdminPutUserSuccess, Error> {
        let admin = self.admin(request, &token).await?;
        // `displayname` is read (a string, or 400) and not kept: no profiles here.
        let types::AdminPutUserRequest {
            password,
            logout_devices,
            admin: flag,
            deactivated,
            displayname: _,
            threepids,
        } = body;
        let update = AdminUserUpdate {
            password: password.map(Secret::from),
            logout_devices,
            admin: flag,
            deactivated,
            threepids: threepids.map(|list| list.into_iter().map(|t| (t.medium, t.address)).collect()),
        };
        Ok(match self.accounts.admin_upsert_user(&admin, &user_id, update).await? {
            Upserted::Created(view) => AdminPutUserSuccess::Created(admin_user(view)),
            Upserted::Modified(view) => AdminPutUserSuccess::Ok(admin_user(view)),
        })
    }
}

/// An account in the shape of `GET /_synapse/admin/v2/users/{user_id}`.
fn admin_user(view: AdminUserView) -> types::AdminUser {
    let threepids = view.threepids.into_iter().map(|t| types::Threepid {
        added_at: t.added_at,
        address: t.address,
        medium: t.medium,
        validated_at: t.validated_at,
    });
    types::AdminUser {
        name: view.user_id,
        admin: view.user.admin,
        deactivated: view.user.deactivated,
        is_guest: view.user.is_guest,
        // Seconds, as Synapse's single-user answer (its list says ms).
        creation_ts: view.user.created_at / 1000,
        threepids: threepids.collect(),
    }
}
