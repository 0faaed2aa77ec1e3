//! The admin API's behaviour (Synapse's `/_synapse/admin`, account part).
//!
//! **Who is an admin.** An account whose `admin` flag is set: by
//! shared-secret registration with `admin: true`, or by another admin. The
//! flag is read from the store on every admin request (admin requests are
//! rare, and a revoked admin must lose the API at once), never cached with
//! the token. No token: 401 `M_MISSING_TOKEN`; an unknown one: 401
//! `M_UNKNOWN_TOKEN`; a valid one of a non-admin: 403 `M_FORBIDDEN`.
//!
//! **Shared-secret registration**, as Synapse and its
//! `register_new_matrix_user` script do it: `GET` hands out a nonce, good
//! for one registration within [`NONCE_LIFETIME`]; the `POST` proves the
//! secret with `mac = hex(HMAC-SHA1(secret, nonce \0 username \0 password
//! \0 "admin"|"notadmin"))`. The nonce is used up by the attempt whatever
//! its outcome, so a wrong MAC cannot be retried against it. The MAC is
//! compared in constant time.
//!
//! **Audit.** Every admin action is logged at `info` as `event =
//! "admin.<action>"` with the actor (`admin`: the acting admin's user ID,
//! `shared-secret`, or `command-line`, see [`Actor`]) and the target user;
//! never a password, a secret or a MAC.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Accounts, ClientInfo, RegisterRequest, Registered, Secret, Session, ids, now_ms};
use crate::error::{Error, ErrorCode, Result};
use crate::store::{NewLocalpart, NewUser};

/// How long a registration nonce can be used (Synapse: 60 s).
pub(crate) const NONCE_LIFETIME: Duration = Duration::from_secs(60);

/// At most this many unused nonces are kept; handing out more forgets the
/// oldest, so a flood of `GET`s cannot grow memory.
const MAX_NONCES: usize = 1000;

/// Nonces handed out here and not used yet, and nonces used here.
///
/// A nonce carries its issue time and an HMAC-SHA256 of it under the shared
/// secret (`{issued_ms}.{random}.{tag}`), so that every instance sharing
/// the secret recognises the nonces of the others: behind a load balancer,
/// `register_new_matrix_user`'s `GET` and `POST` may reach different
/// instances. Each instance uses a nonce up once; one issued elsewhere
/// could be used once on each instance within its 60 s, which gains an
/// attacker nothing: every use needs a MAC made with the secret itself.
#[derive(Default)]
pub(crate) struct Nonces {
    issued: Mutex<HashMap<String, Instant>>,
    /// Nonces used here, wherever they were issued, until they expire.
    used: Mutex<HashMap<String, Instant>>,
}

impl Nonces {
    /// A new nonce, remembered as issued here.
    fn issue(&self, secret: &str, random: &str, now: Instant, now_ms: i64) -> String {
        let nonce = format!("{now_ms}.{random}.{}", nonce_tag(secret, now_ms, random));
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        remember(&mut issued, nonce.clone(), now);
        nonce
    }

    /// Uses a nonce up: one issued here and still fresh, or one another
    /// instance issued (its tag is right, it is fresh); either only once.
    fn consume(&self, nonce: &str, secret: &str, now: Instant, now_ms: i64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        used.retain(|_, at| now.duration_since(*at) < NONCE_LIFETIME);
        if used.contains_key(nonce) {
            return false;
        }
        let fresh = match self.issued.lock().unwrap_or_else(PoisonError::into_inner).remove(nonce) {
            Some(at) => now.duration_since(at) < NONCE_LIFETIME,
            None => genuine(nonce, secret, now_ms),
        };
        if fresh {
            remember(&mut used, nonce.to_owned(), now);
        }
        fresh
    }
}

/// Whether `nonce` was issued by an instance with `secret` (its tag is
/// right) less than [`NONCE_LIFETIME`] before `now_ms`.
fn genuine(nonce: &str, secret: &str, now_ms: i64) -> bool {
    let mut parts = nonce.splitn(3, '.');
    let (Some(issued), Some(random), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(issued_ms) = issued.parse::<i64>() else { return false };
    (0..NONCE_LIFETIME.as_millis() as i64).contains(&(now_ms - issued_ms))
        && bool::from(subtle::ConstantTimeEq::ct_eq(nonce_tag(secret, issued_ms, random).as_bytes(), tag.as_bytes()))
}

/// Adds a nonce to a bounded map: expired ones go first, and at
/// [`MAX_NONCES`] the oldest, so that a flood cannot grow memory.
fn remember(nonces: &mut HashMap<String, Instant>, nonce: String, now: Instant) {
    nonces.retain(|_, at| now.duration_since(*at) < NONCE_LIFETIME);
    if nonces.len() >= MAX_NONCES
        && let Some(oldest) = nonces.iter().min_by_key(|(_, at)| **at).map(|(n, _)| n.clone())
    {
        nonces.remove(&oldest);
    }
    nonces.insert(nonce, now);
}

/// The tag that makes a nonce recognisable to every instance with the
/// shared secret: hex HMAC-SHA256 of its issue time and random part.
fn nonce_tag(secret: &str, issued_ms: i64, random: &str) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("matrix-accounts registration nonce\0{issued_ms}\0{random}").as_bytes());
    tag.as_ref()[..16].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A shared-secret registration (`POST /_synapse/admin/v1/register`).
#[derive(Clone)]
pub struct SharedSecretRegistration {
    pub nonce: String,
    pub username: String,
    pub password: Secret,
    pub admin: bool,
    /// Lower-case hex HMAC-SHA1, as `register_new_matrix_user` sends it.
    pub mac: String,
}

/// An account as the admin API shows it.
#[derive(Debug, Clone)]
pub struct AdminUserView {
    pub user_id: String,
    pub user: crate::store::UserRecord,
    pub threepids: Vec<crate::store::ThreepidRecord>,
}

/// What `PUT /_synapse/admin/v2/users/{user_id}` asks for: each field
/// absent leaves the account as it is (on creation: no password, not an
/// admin, no 3pids).
#[derive(Debug, Clone)]
pub struct AdminUserUpdate {
    pub password: Option<Secret>,
    /// With a new password: log every device out (default true).
    pub logout_devices: bool,
    pub admin: Option<bool>,
    pub deactivated: Option<bool>,
    /// The new list of 3pids, `(medium, address)`, replacing the old one.
    pub threepids: Option<Vec<(String, String)>>,
}

/// What an admin's `PUT` did.
#[derive(Debug, Clone)]
pub enum Upserted {
    Created(AdminUserView),
    Modified(AdminUserView),
}

/// The longest password an admin may set (Synapse's limit).
const MAX_PASSWORD_BYTES: usize = 512;

/// An admin's user-list request, as Synapse's query parameters say it.
#[derive(Debug, Clone, Default)]
pub struct UserListQuery {
    pub from: Option<i64>,
    pub limit: Option<i64>,
    pub name: Option<String>,
    pub guests: Option<bool>,
    pub deactivated: Option<bool>,
    pub admins: Option<bool>,
    pub order_by: Option<String>,
    pub dir: Option<String>,
}

/// One page of the user list.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// `(user ID, account)`, in the requested order.
    pub users: Vec<(String, crate::store::UserRecord)>,
    /// How many accounts match in all.
    pub total: i64,
    /// What to pass as `from` for the next page (a string, as Synapse
    /// gives it); `None` on the last page.
    pub next_token: Option<String>,
}

/// Who performs an admin action. The admin API acts for an admin's
/// session; the operator's command line (`matrix-accounts user ...`) acts
/// for whoever may write the database, and has no account of its own. The
/// actor is named in the audit log, and the rules about oneself (an admin
/// may not demote themselves) apply only to a session.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a Session),
    CommandLine,
}

impl Actor<'_> {
    /// The actor as the audit log names it.
    pub fn name(&self) -> &str {
        match self {
            Actor::Admin(session) => session.user_id(),
            Actor::CommandLine => "command-line",
        }
    }

    /// The actor's own account, if it has one.
    fn localpart(&self) -> Option<&str> {
        match self {
            Actor::Admin(session) => Some(session.localpart()),
            Actor::CommandLine => None,
        }
    }
}

impl<'a> From<&'a Session> for Actor<'a> {
    fn from(session: &'a Session) -> Self {
        Actor::Admin(session)
    }
}

/// The MAC shared-secret registration expects.
pub(crate) fn registration_mac(secret: &str, nonce: &str, username: &str, password: &str, admin: bool) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    for part in [nonce.as_bytes(), b"\0", username.as_bytes(), b"\0", password.as_bytes(), b"\0"] {
        context.update(part);
    }
    context.update(if admin { b"admin" } else { b"notadmin" });
    context.sign().as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn not_admin() -> Error {
    Error::forbidden("You are not a server admin")
}

fn no_such_user() -> Error {
    Error::new(http::StatusCode::NOT_FOUND, ErrorCode::NotFound, "User not found")
}

impl Accounts {
    /// The shared secret, if shared-secret registration is on: from
    /// `[admin] registration_shared_secret`, else the file
    /// `registration_shared_secret_path` names (read at start).
    fn shared_secret(&self) -> Option<&str> {
        self.inner.shared_secret.as_deref()
    }

    /// Checks that `session` is an admin's (403 `M_FORBIDDEN` otherwise).
    pub async fn require_admin(&self, session: &Session) -> Result<()> {
        let localpart = session.localpart().to_owned();
        let user = self.db(move |store| store.user(&localpart)).await?;
        if !user.is_some_and(|user| user.admin && !user.deactivated) {
            return Err(not_admin());
        }
        Ok(())
    }

    /// The localpart of a local account an admin names by user ID; 400
    /// `M_INVALID_PARAM` for another server's, 404 `M_NOT_FOUND` for none.
    pub(crate) async fn local_account(&self, user_id: &str) -> Result<crate::store::UserRecord> {
        let localpart = self
            .inner
            .usernames
            .resolve(user_id)
            .filter(|_| user_id.starts_with('@'))
            .ok_or_else(|| Error::invalid_param("Can only look up local users"))?;
        self.db(move |store| store.user(&localpart)).await?.ok_or_else(no_such_user)
    }

    /// A fresh nonce for shared-secret registration; 400 `M_UNKNOWN` when it
    /// is not enabled (as Synapse answers).
    pub fn registration_nonce(&self) -> Result<String> {
        let Some(secret) = self.shared_secret() else {
            return Err(Error::bad_request(ErrorCode::Unknown, "Shared secret registration is not enabled"));
        };
        Ok(self.inner.nonces.issue(secret, &ids::uia_session_id()?, Instant::now(), now_ms()))
    }

    /// Creates an account by shared-secret registration and signs it in on
    /// a new device.
    ///
    /// - Not enabled: 400 `M_UNKNOWN`. Unknown, used or expired nonce: 400
    ///   `M_UNKNOWN` "unrecognised nonce". Wrong MAC: 403 `M_FORBIDDEN`.
    ///   Each attempt uses its nonce up.
    /// - The username follows registration's rules (400
    ///   `M_INVALID_USERNAME`, `M_USER_IN_USE`), so a deactivated account's
    ///   ID is never reused.
    pub async fn register_with_shared_secret(
        &self,
        request: SharedSecretRegistration,
        client: &ClientInfo,
    ) -> Result<Registered> {
        let Some(secret) = self.shared_secret() else {
            return Err(Error::bad_request(ErrorCode::Unknown, "Shared secret registration is not enabled"));
        };
        if !self.inner.nonces.consume(&request.nonce, secret, Instant::now(), now_ms()) {
            return Err(Error::bad_request(ErrorCode::Unknown, "unrecognised nonce"));
        }
        let expected =
            registration_mac(secret, &request.nonce, &request.username, request.password.expose(), request.admin);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), request.mac.to_ascii_lowercase().as_bytes()))
        {
            tracing::warn!(event = "admin.register.refused", ip = %client.ip, "shared-secret registration with a wrong MAC");
            return Err(Error::forbidden("HMAC incorrect"));
        }
        let registered = self.create_account_by_admin(&request.username, request.password, request.admin, true).await?;
        tracing::info!(event = "admin.register", admin = "shared-secret", target = %registered.user_id,
            admin_flag = request.admin, ip = %client.ip);
        Ok(registered)
    }

    /// Creates an account for the operator (`matrix-accounts user create`),
    /// by the same rules as shared-secret registration but signing no
    /// device in: the operator hands the password over, the person logs in.
    pub async fn create_user(&self, actor: Actor<'_>, username: &str, password: Secret, admin: bool) -> Result<String> {
        let registered = self.create_account_by_admin(username, password, admin, false).await?;
        tracing::info!(event = "admin.register", admin = %actor.name(), target = %registered.user_id, admin_flag = admin);
        Ok(registered.user_id)
    }

    /// An account made on an admin's say-so: registration's username rules
    /// (400 `M_INVALID_USERNAME`, `M_USER_IN_USE`, so a deactivated
    /// account's ID is never reused), the password hashed as registration
    /// hashes it, and a new device only with `sign_in`.
    async fn create_account_by_admin(
        &self,
        username: &str,
        password: Secret,
        admin: bool,
        sign_in: bool,
    ) -> Result<Registered> {
        let localpart = self.inner.usernames.validate(username)?;
        let password_hash = self.inner.passwords.hash(password).await?;
        let user = NewUser {
            localpart: NewLocalpart::Chosen(localpart),
            password_hash: Some(password_hash),
            is_guest: false,
            admin,
            created_at: now_ms(),
            registration_token: None,
            threepid: None,
        };
        let request = RegisterRequest { inhibit_login: Some(!sign_in), ..RegisterRequest::default() };
        self.create_account(user, &request, None).await
    }

    /// Whether a username could be registered, by registration's rules but
    /// without its per-IP limit (`GET /_synapse/admin/v1/username_available`).
    pub async fn username_available_unlimited(&self, username: &str) -> Result<()> {
        self.available_localpart(username).await.map(|_| ())
    }

    /// A page of accounts (`GET /_synapse/admin/v2/users`), with Synapse's
    /// defaults: from 0, 100 at a time, guests in, deactivated accounts
    /// out, by name, ascending. A negative `from` or `limit`, an unknown
    /// `order_by` or a `dir` other than `f`/`b` is 400 `M_INVALID_PARAM`.
    pub async fn list_users(&self, query: UserListQuery) -> Result<UserPage> {
        use crate::store::{UserListing, UserOrder};
        let from = query.from.unwrap_or(0);
        let limit = query.limit.unwrap_or(100);
        if from < 0 || limit < 0 {
            return Err(Error::invalid_param("from and limit must not be negative"));
        }
        let order_by = match query.order_by.as_deref().unwrap_or("name") {
            "name" => UserOrder::Name,
            "admin" => UserOrder::Admin,
            "deactivated" => UserOrder::Deactivated,
            "is_guest" => UserOrder::IsGuest,
            "creation_ts" => UserOrder::CreationTs,
            other => return Err(Error::invalid_param(format!("Unknown value for order_by: {other}"))),
        };
        let descending = match query.dir.as_deref().unwrap_or("f") {
            "f" => false,
            "b" => true,
            _ => return Err(Error::invalid_param("dir must be f or b")),
        };
        let listing = UserListing {
            name: query.name.map(|name| name.trim_start_matches('@').to_lowercase()),
            guests: query.guests.unwrap_or(true),
            deactivated: query.deactivated.unwrap_or(false),
            admins: query.admins,
            order_by,
            descending,
            from,
            limit,
        };
        let (users, total) = self.db(move |store| store.list_users(&listing)).await?;
        let next = from.saturating_add(users.len() as i64);
        let next_token = (next < total && !users.is_empty()).then(|| next.to_string());
        let users = users.into_iter().map(|user| (self.user_id(&user.localpart), user)).collect();
        Ok(UserPage { users, total, next_token })
    }

    /// An account as an admin sees it (`GET /_synapse/admin/v2/users/{user_id}`).
    pub async fn admin_user(&self, user_id: &str) -> Result<AdminUserView> {
        let user = self.local_account(user_id).await?;
        let localpart = user.localpart.clone();
        let threepids = self.db(move |store| store.threepids(&localpart)).await?;
        Ok(AdminUserView { user_id: self.user_id(&user.localpart), user, threepids })
    }

    /// The account a 3pid is attached to
    /// (`GET /_synapse/admin/v1/threepid/{medium}/users/{address}`); 404
    /// `M_NOT_FOUND` when none is.
    pub async fn threepid_user(&self, medium: &str, address: &str) -> Result<String> {
        let (medium, address) = (medium.to_owned(), super::threepids::canonical_address(medium, address));
        let owner = self.db(move |store| store.threepid_owner(&medium, &address)).await?;
        owner.map(|localpart| self.user_id(&localpart)).ok_or_else(no_such_user)
    }

    /// The devices of an account an admin names.
    pub async fn admin_devices(&self, user_id: &str) -> Result<Vec<super::Device>> {
        let user = self.local_account(user_id).await?;
        self.devices_of(&user.localpart).await
    }

    /// One device of an account an admin names (404 for either unknown).
    pub async fn admin_device(&self, user_id: &str, device_id: &str) -> Result<super::Device> {
        let user = self.local_account(user_id).await?;
        self.device_of(&user.localpart, device_id).await
    }

    /// Renames a device of an account an admin names.
    pub async fn admin_rename_device(
        &self,
        admin: &Session,
        user_id: &str,
        device_id: &str,
        display_name: Option<String>,
    ) -> Result<()> {
        let user = self.local_account(user_id).await?;
        self.rename_device_of(&user.localpart, device_id, display_name).await?;
        tracing::info!(event = "admin.device.renamed", admin = %admin.user_id(), target = %self.user_id(&user.localpart), device_id);
        Ok(())
    }

    /// Deletes devices of an account an admin names, without UIA; unknown
    /// device IDs are skipped (as Synapse does).
    pub async fn admin_delete_devices(&self, admin: &Session, user_id: &str, devices: Vec<String>) -> Result<()> {
        let user = self.local_account(user_id).await?;
        let count = devices.len();
        self.delete_devices_of(&user.localpart, devices, None).await?;
        tracing::info!(event = "admin.devices.deleted", admin = %admin.user_id(), target = %self.user_id(&user.localpart), count);
        Ok(())
    }

    /// An account's devices with their latest use
    /// (`GET /_synapse/admin/v1/whois/{user_id}`).
    pub async fn whois(&self, user_id: &str) -> Result<(String, Vec<super::Device>)> {
        let user = self.local_account(user_id).await?;
        let devices = self.devices_of(&user.localpart).await?;
        Ok((self.user_id(&user.localpart), devices))
    }

    /// Creates or modifies an account as Synapse's `PUT
    /// /_synapse/admin/v2/users/{user_id}` does.
    ///
    /// Everything is checked before anything is written, so a refused
    /// request changes nothing: another server's user ID, or one that is
    /// not a valid localpart (400 `M_INVALID_PARAM`, `M_INVALID_USERNAME`);
    /// a password over 512 bytes; a 3pid of an unknown medium or an
    /// address that does not parse (400 `M_INVALID_PARAM`), or one another
    /// account has (400 `M_THREEPID_IN_USE`); an admin demoting
    /// themselves (400 `M_UNKNOWN`, as Synapse); and `deactivated: false`
    /// on a deactivated account without a `password` (400 `M_UNKNOWN`, as
    /// Synapse: a reactivated account needs a way to log in).
    ///
    /// Then, on an existing account, in Synapse's order: the 3pids are
    /// replaced, the admin flag set, the password set (every device logged
    /// out unless `logout_devices` is false) or, on a deactivated account
    /// with `deactivated: false`, the account reactivated with it, and the
    /// account deactivated. A
    /// new account is created with its password, admin flag and 3pids,
    /// and then deactivated if asked (Synapse ignores `deactivated` on
    /// creation). Each step is its own transaction.
    pub async fn admin_upsert_user(&self, admin: &Session, user_id: &str, update: AdminUserUpdate) -> Result<Upserted> {
        let localpart = self
            .inner
            .usernames
            .resolve(user_id)
            .filter(|_| user_id.starts_with('@'))
            .ok_or_else(|| Error::invalid_param("This endpoint can only be used with local users"))?;
        if update.password.as_ref().is_some_and(|p| p.expose().len() > MAX_PASSWORD_BYTES) {
            return Err(Error::invalid_param("Invalid password"));
        }
        let threepids = match &update.threepids {
            Some(threepids) => Some(self.admin_threepids(&localpart, threepids).await?),
            None => None,
        };
        let existing = {
            let localpart = localpart.clone();
            self.db(move |store| store.user(&localpart)).await?
        };
        let target = self.user_id(&localpart);
        let mut changes: Vec<&str> = Vec::new();
        let created = match existing {
            Some(user) => {
                if update.admin == Some(false) && user.admin && admin.localpart() == localpart {
                    return Err(Error::bad_request(ErrorCode::Unknown, "You may not demote yourself."));
                }
                let reactivate = update.deactivated == Some(false) && user.deactivated;
                if reactivate && update.password.is_none() {
                    return Err(Error::bad_request(
                        ErrorCode::Unknown,
                        "Must provide a password to re-activate an account.",
                    ));
                }
                if let Some(threepids) = threepids {
                    self.replace_threepids(&localpart, threepids).await?;
                    changes.push("threepids");
                }
                if let Some(flag) = update.admin.filter(|flag| *flag != user.admin) {
                    let owner = localpart.clone();
                    self.db(move |store| store.set_admin(&owner, flag)).await?;
                    changes.push("admin");
                }
                if let Some(password) = update.password.clone().filter(|_| reactivate) {
                    let password_hash = self.inner.passwords.hash(password).await?;
                    let owner = localpart.clone();
                    self.db(move |store| store.reactivate_user(&owner, &password_hash)).await?;
                    changes.push("reactivated");
                } else if let Some(password) = update.password {
                    let password_hash = self.inner.passwords.hash(password).await?;
                    let (owner, logout) = (localpart.clone(), update.logout_devices);
                    self.db_revoking(move |store| store.set_password(&owner, &password_hash, None, logout, None))
                        .await?;
                    changes.push(if logout { "password, devices logged out" } else { "password" });
                }
                false
            }
            None => {
                let password_hash = match update.password {
                    Some(password) => Some(self.inner.passwords.hash(password).await?),
                    None => None,
                };
                let user = NewUser {
                    localpart: NewLocalpart::Chosen(self.inner.usernames.validate(&localpart)?),
                    password_hash,
                    is_guest: false,
                    admin: update.admin.unwrap_or(false),
                    created_at: now_ms(),
                    registration_token: None,
                    threepid: None,
                };
                let request = RegisterRequest { inhibit_login: Some(true), ..RegisterRequest::default() };
                self.create_account(user, &request, None).await?;
                if let Some(threepids) = threepids {
                    self.replace_threepids(&localpart, threepids).await?;
                }
                true
            }
        };
        if update.deactivated == Some(true) {
            let current = self.local_account(&target).await?;
            if !current.deactivated {
                self.deactivate_account(&localpart, None).await?;
                changes.push("deactivated");
            }
        }
        let view = self.admin_user(&target).await?;
        if created {
            tracing::info!(event = "admin.user.created", admin = %admin.user_id(), target = %target,
                admin_flag = view.user.admin, threepids = view.threepids.len(), deactivated = view.user.deactivated);
            Ok(Upserted::Created(view))
        } else {
            let changes = changes.join(", ");
            tracing::info!(event = "admin.user.modified", admin = %admin.user_id(), target = %target, changes);
            Ok(Upserted::Modified(view))
        }
    }

    /// The 3pids an admin gives an account, canonical and checked: a known
    /// medium, an e-mail address with one `@`, none attached to another
    /// account, no duplicates.
    async fn admin_threepids(&self, localpart: &str, threepids: &[(String, String)]) -> Result<Vec<(String, String)>> {
        let mut checked: Vec<(String, String)> = Vec::new();
        for (medium, address) in threepids {
            if medium != "email" && medium != "msisdn" {
                return Err(Error::invalid_param(format!("Unknown medium: {medium}")));
            }
            let address = super::threepids::canonical_address(medium, address);
            if address.is_empty() || medium == "email" && address.matches('@').count() != 1 {
                return Err(Error::invalid_param("Unable to parse email address"));
            }
            let owner = {
                let (medium, address) = (medium.clone(), address.clone());
                self.db(move |store| store.threepid_owner(&medium, &address)).await?
            };
            if owner.is_some_and(|owner| owner != localpart) {
                return Err(crate::store::StoreError::ThreepidInUse.into());
            }
            if !checked.iter().any(|(m, a)| m == medium && *a == address) {
                checked.push((medium.clone(), address));
            }
        }
        Ok(checked)
    }

    /// Replaces an account's 3pids by `threepids` (checked by
    /// [`Accounts::admin_threepids`]): those it keeps keep their dates, new
    /// ones are validated and added now (an admin vouches for them).
    async fn replace_threepids(&self, localpart: &str, threepids: Vec<(String, String)>) -> Result<()> {
        let (owner, evicted) = (localpart.to_owned(), localpart.to_owned());
        self.db_then(
            move |store| {
                let now = now_ms();
                for old in store.threepids(&owner)? {
                    if !threepids.iter().any(|(m, a)| *m == old.medium && *a == old.address) {
                        store.delete_threepid(&owner, &old.medium, &old.address)?;
                    }
                }
                for (medium, address) in threepids {
                    let record = crate::store::ThreepidRecord {
                        medium,
                        address,
                        validated_at: now,
                        added_at: now,
                        id_server: None,
                    };
                    store.add_threepid(&owner, &record, None)?;
                }
                Ok(())
            },
            move |inner, ()| inner.threepids.invalidate([&evicted]),
        )
        .await
    }

    /// Whether the account an admin names is an admin.
    pub async fn is_admin(&self, user_id: &str) -> Result<bool> {
        Ok(self.local_account(user_id).await?.admin)
    }

    /// Grants or takes away the admin flag (`PUT .../users/{user_id}/admin`).
    /// An admin cannot take their own away (as Synapse refuses), so the
    /// server never loses its last admin by a slip.
    /// The command line may demote anyone: it has no account to lose.
    pub async fn set_admin<'a>(&self, actor: impl Into<Actor<'a>>, user_id: &str, flag: bool) -> Result<()> {
        let actor = actor.into();
        let target = self.local_account(user_id).await?;
        if actor.localpart() == Some(target.localpart.as_str()) && !flag {
            return Err(Error::bad_request(ErrorCode::Unknown, "You may not demote yourself."));
        }
        let localpart = target.localpart.clone();
        self.db(move |store| store.set_admin(&localpart, flag)).await?;
        tracing::info!(event = "admin.set_admin", admin = %actor.name(), target = %self.user_id(&target.localpart), admin_flag = flag);
        Ok(())
    }

    /// Deactivates an account on an admin's behalf
    /// (`POST /_synapse/admin/v1/deactivate/{user_id}`): as the user's own
    /// deactivation, without UIA.
    pub async fn admin_deactivate<'a>(&self, actor: impl Into<Actor<'a>>, user_id: &str, erase: bool) -> Result<()> {
        let actor = actor.into();
        let target = self.local_account(user_id).await?;
        let threepids = self.deactivate_account(&target.localpart, None).await?;
        tracing::info!(event = "admin.deactivate", admin = %actor.name(), target = %self.user_id(&target.localpart), erase, threepids);
        Ok(())
    }

    /// Sets an account's password on an admin's behalf
    /// (`POST /_synapse/admin/v1/reset_password/{user_id}`); with
    /// `logout_devices` (default true) every device of the account is
    /// logged out.
    pub async fn admin_reset_password<'a>(
        &self,
        actor: impl Into<Actor<'a>>,
        user_id: &str,
        new_password: Secret,
        logout_devices: bool,
    ) -> Result<()> {
        let actor = actor.into();
        let target = self.local_account(user_id).await?;
        if target.deactivated {
            return Err(Error::bad_request(ErrorCode::Unknown, "The user is deactivated"));
        }
        let password_hash = self.inner.passwords.hash(new_password).await?;
        let localpart = target.localpart.clone();
        self.db_revoking(move |store| store.set_password(&localpart, &password_hash, None, logout_devices, None))
            .await?;
        tracing::info!(event = "admin.reset_password", admin = %actor.name(), target = %self.user_id(&target.localpart), logout_devices);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MAC Synapse's own `register_new_matrix_user` computes for these
    /// inputs (Python: `hmac.new(b"secret", digestmod=hashlib.sha1)` over
    /// the same parts).
    #[test]
    fn the_mac_is_synapses() {
        assert_eq!(registration_mac("secret", "n", "u", "p", false), "0f2b4751fa14a68d6a6878c313b752580706c394");
    }

    #[test]
    fn a_nonce_is_used_once_and_expires() {
        let nonces = Nonces::default();
        let (start, ms) = (Instant::now(), 1_000_000);
        let a = nonces.issue("secret", "a", start, ms);
        assert!(nonces.consume(&a, "secret", start, ms));
        assert!(!nonces.consume(&a, "secret", start, ms), "used twice");
        let b = nonces.issue("secret", "b", start, ms);
        let later = ms + NONCE_LIFETIME.as_millis() as i64;
        assert!(!nonces.consume(&b, "secret", start + NONCE_LIFETIME, later), "used after its lifetime");
        assert!(!nonces.consume("never", "secret", start, ms));
    }

    #[test]
    fn another_instance_s_nonce_is_recognised_once_by_its_tag() {
        let (here, elsewhere) = (Nonces::default(), Nonces::default());
        let (start, ms) = (Instant::now(), 1_000_000);
        let nonce = elsewhere.issue("secret", "r", start, ms);
        assert!(!here.consume(&nonce, "another secret", start, ms), "a tag under another secret");
        assert!(here.consume(&nonce, "secret", start, ms + 10));
        assert!(!here.consume(&nonce, "secret", start, ms + 20), "used twice here");
        let forged = nonce.replace(".r.", ".s.");
        assert!(!here.consume(&forged, "secret", start, ms), "a tag for other text");
        let stale = elsewhere.issue("secret", "t", start, ms);
        assert!(!here.consume(&stale, "secret", start, ms + NONCE_LIFETIME.as_millis() as i64));
    }
}
