//! A request cancelled at an `.await` (the server drops a handler's future
//! when its client disconnects) never leaves a revoked token, or a stale 3pid
//! list, in the in-memory caches; and a token check racing a logout never
//! puts the token back.
//!
//! The store is wrapped in a [`GatedStore`] that can hold one call, after it
//! committed, until the test lets it go: the test drops the operation's
//! future at exactly the point where a store write is done and the cache
//! eviction that must follow it is not.

use crate::accounts_support;
use crate::identity_server;

use std::future::Future;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use accounts_support::{PASSWORD, client, login_request, password_auth, user_request};
use identity_server::IdentityServer;
use matrix_accounts::accounts::{Accounts, ChangePasswordRequest, LoginRequest, RegisterRequest, ThreepidCredentials};
use matrix_accounts::config::Config;
use matrix_accounts::error::ErrorCode;
use matrix_accounts::store::{
    AccessTokenRecord, Created, Deactivated, DeviceRecord, EmailPurpose, EmailSessionRecord, LastSeen, Millis,
    NewLogin, NewTokens, NewUser, RegistrationCompletion, RegistrationTokenRecord, RegistrationTokenUpdate, Rotated,
    Store, StoreResult, ThreepidRecord, TokenHash, TokenSubmission, UiaSessionRecord, UserListing,
    UserRecord,
};
use serde_json::json;
use tokio::sync::oneshot;

/// One held call: which store method, how to tell the test it was reached,
/// and what it waits for.
struct Gate {
    method: &'static str,
    reached: oneshot::Sender<()>,
    release: mpsc::Receiver<()>,
}

/// A store whose next call of one method, once armed, stops after
/// the real call returned until released.
struct GatedStore {
    inner: Arc<dyn Store>,
    gate: Mutex<Option<Gate>>,
}

/// An armed gate, from the test's side.
struct Armed {
    reached: oneshot::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl GatedStore {
    fn arm(&self, method: &'static str) -> Armed {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = mpsc::channel();
        *self.gate.lock().unwrap() = Some(Gate { method, reached: reached_tx, release: release_rx });
        Armed { reached, release }
    }

    /// Called after each real call: holds it if its gate is armed.
    fn pass<T>(&self, method: &'static str, result: T) -> T {
        let gate = {
            let mut gate = self.gate.lock().unwrap();
            if gate.as_ref().is_some_and(|gate| gate.method == method) { gate.take() } else { None }
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            let _ = gate.release.recv_timeout(Duration::from_secs(30));
        }
        result
    }
}

impl Store for GatedStore {
    fn user(&self, localpart: &str) -> StoreResult<Option<UserRecord>> {
        self.pass("user", self.inner.user(localpart))
    }

    fn create_user(
        &self,
        user: &NewUser,
        login: Option<&NewLogin>,
        completion: Option<&RegistrationCompletion>,
    ) -> StoreResult<Created> {
        self.pass("create_user", self.inner.create_user(user, login, completion))
    }

    fn create_login(&self, localpart: &str, login: &NewLogin) -> StoreResult<Vec<TokenHash>> {
        self.pass("create_login", self.inner.create_login(localpart, login))
    }

    fn set_password(
        &self,
        localpart: &str,
        password_hash: &str,
        keep_device: Option<&str>,
        revoke_other_devices: bool,
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        let result = self.inner.set_password(localpart, password_hash, keep_device, revoke_other_devices, uia_session);
        self.pass("set_password", result)
    }

    fn upgrade_password_hash(&self, localpart: &str, old: &str, new: &str) -> StoreResult<bool> {
        self.pass("upgrade_password_hash", self.inner.upgrade_password_hash(localpart, old, new))
    }

    fn access_token(&self, token: &TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        self.pass("access_token", self.inner.access_token(token))
    }

    fn retire_refresh_predecessor(&self, refresh_token_id: i64) -> StoreResult<()> {
        self.pass("retire_refresh_predecessor", self.inner.retire_refresh_predecessor(refresh_token_id))
    }

    fn rotate_refresh_token(&self, refresh: &TokenHash, new: &NewTokens) -> StoreResult<Option<Rotated>> {
        self.pass("rotate_refresh_token", self.inner.rotate_refresh_token(refresh, new))
    }

    fn delete_device(&self, localpart: &str, device_id: &str) -> StoreResult<Vec<TokenHash>> {
        self.pass("delete_device", self.inner.delete_device(localpart, device_id))
    }

    fn delete_all_devices(&self, localpart: &str) -> StoreResult<Vec<TokenHash>> {
        self.pass("delete_all_devices", self.inner.delete_all_devices(localpart))
    }

    fn devices(&self, localpart: &str) -> StoreResult<Vec<DeviceRecord>> {
        self.pass("devices", self.inner.devices(localpart))
    }

    fn device(&self, localpart: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        self.pass("device", self.inner.device(localpart, device_id))
    }

    fn set_device_display_name(
        &self,
        localpart: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> StoreResult<bool> {
        self.pass("set_device_display_name", self.inner.set_device_display_name(localpart, device_id, display_name))
    }

    fn delete_devices(
        &self,
        localpart: &str,
        device_ids: &[String],
        uia_session: Option<&str>,
    ) -> StoreResult<Vec<TokenHash>> {
        self.pass("delete_devices", self.inner.delete_devices(localpart, device_ids, uia_session))
    }

    fn record_last_seen(&self, seen: &[LastSeen]) -> StoreResult<()> {
        self.pass("record_last_seen", self.inner.record_last_seen(seen))
    }

    fn deactivate_user(&self, localpart: &str, uia_session: Option<&str>) -> StoreResult<Deactivated> {
        self.pass("deactivate_user", self.inner.deactivate_user(localpart, uia_session))
    }

    fn reactivate_user(&self, localpart: &str, password_hash: &str) -> StoreResult<bool> {
        self.pass("reactivate_user", self.inner.reactivate_user(localpart, password_hash))
    }

    fn list_users(&self, listing: &UserListing) -> StoreResult<(Vec<UserRecord>, i64)> {
        self.pass("list_users", self.inner.list_users(listing))
    }

    fn set_admin(&self, localpart: &str, admin: bool) -> StoreResult<bool> {
        self.pass("set_admin", self.inner.set_admin(localpart, admin))
    }

    fn put_uia_session(&self, session: &UiaSessionRecord, now: Millis) -> StoreResult<()> {
        self.pass("put_uia_session", self.inner.put_uia_session(session, now))
    }

    fn uia_session(&self, id: &str, now: Millis) -> StoreResult<Option<UiaSessionRecord>> {
        self.pass("uia_session", self.inner.uia_session(id, now))
    }

    fn threepids(&self, localpart: &str) -> StoreResult<Vec<ThreepidRecord>> {
        self.pass("threepids", self.inner.threepids(localpart))
    }

    fn threepid_owner(&self, medium: &str, address: &str) -> StoreResult<Option<String>> {
        self.pass("threepid_owner", self.inner.threepid_owner(medium, address))
    }

    fn add_threepid(&self, localpart: &str, threepid: &ThreepidRecord, uia_session: Option<&str>) -> StoreResult<()> {
        self.pass("add_threepid", self.inner.add_threepid(localpart, threepid, uia_session))
    }

    fn delete_threepid(&self, localpart: &str, medium: &str, address: &str) -> StoreResult<bool> {
        self.pass("delete_threepid", self.inner.delete_threepid(localpart, medium, address))
    }

    fn create_registration_token(&self, token: &RegistrationTokenRecord) -> StoreResult<bool> {
        self.pass("create_registration_token", self.inner.create_registration_token(token))
    }

    fn registration_token(&self, token: &str) -> StoreResult<Option<RegistrationTokenRecord>> {
        self.pass("registration_token", self.inner.registration_token(token))
    }

    fn registration_tokens(&self, valid: Option<bool>, now: Millis) -> StoreResult<Vec<RegistrationTokenRecord>> {
        self.pass("registration_tokens", self.inner.registration_tokens(valid, now))
    }

    fn update_registration_token(
        &self,
        token: &str,
        update: &RegistrationTokenUpdate,
    ) -> StoreResult<Option<RegistrationTokenRecord>> {
        self.pass("update_registration_token", self.inner.update_registration_token(token, update))
    }

    fn delete_registration_token(&self, token: &str) -> StoreResult<bool> {
        self.pass("delete_registration_token", self.inner.delete_registration_token(token))
    }

    fn claim_registration_token(&self, token: &str, session: &str, now: Millis) -> StoreResult<bool> {
        self.pass("claim_registration_token", self.inner.claim_registration_token(token, session, now))
    }

    fn email_session_for(
        &self,
        client_secret: &str,
        address: &str,
        purpose: EmailPurpose,
        now: Millis,
    ) -> StoreResult<Option<EmailSessionRecord>> {
        self.pass("email_session_for", self.inner.email_session_for(client_secret, address, purpose, now))
    }

    fn email_session(&self, sid: &str, now: Millis) -> StoreResult<Option<EmailSessionRecord>> {
        self.pass("email_session", self.inner.email_session(sid, now))
    }

    fn put_email_session(&self, session: &EmailSessionRecord, now: Millis) -> StoreResult<()> {
        self.pass("put_email_session", self.inner.put_email_session(session, now))
    }

    fn submit_email_token(
        &self,
        sid: &str,
        client_secret: &str,
        token: &TokenHash,
        now: Millis,
        max_failures: i64,
    ) -> StoreResult<TokenSubmission> {
        self.pass("submit_email_token", self.inner.submit_email_token(sid, client_secret, token, now, max_failures))
    }

    fn delete_email_session(&self, sid: &str) -> StoreResult<()> {
        self.pass("delete_email_session", self.inner.delete_email_session(sid))
    }

    fn import_users(
        &self,
        users: &[matrix_accounts::store::ImportedUser],
    ) -> StoreResult<Vec<matrix_accounts::store::ImportOutcome>> {
        self.pass("import_users", self.inner.import_users(users))
    }
}

struct Server {
    accounts: Accounts,
    store: Arc<GatedStore>,
    _dir: tempfile::TempDir,
}

fn start(mut config: Config) -> Server {
    let dir = tempfile::tempdir().unwrap();
    config.database = crate::common::fresh_database(dir.path());
    let store = Arc::new(GatedStore { inner: config.database.open().unwrap(), gate: Mutex::new(None) });
    let accounts = Accounts::new(&config, Arc::clone(&store) as Arc<dyn Store>).unwrap();
    Server { accounts, store, _dir: dir }
}

impl Server {
    /// Runs `operation` until the store call `method` has committed, then
    /// drops it there, as the server does when the client disconnects, and
    /// lets the store call return to nobody.
    async fn cancel_after<F: Future>(&self, method: &'static str, operation: F)
    where
        F::Output: std::fmt::Debug,
    {
        let armed = self.store.arm(method);
        tokio::select! {
            biased;
            reached = armed.reached => reached.expect("the gate was dropped"),
            output = operation => panic!("the operation ended before {method}: {output:?}"),
        }
        armed.release.send(()).unwrap();
    }

    async fn register(&self, name: &str) -> String {
        let registered = self
            .accounts
            .register(user_request(name), Some(json!({"type": "m.login.dummy"})), &client())
            .await
            .expect("registration");
        registered.access_token.expect("a token")
    }
}

/// Waits (a few seconds at most) for `check` to hold: the cancelled
/// operation's blocking thread finishes on its own after the release.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn revoked(accounts: &Accounts, token: &str) -> bool {
    match accounts.authenticate(token).await {
        Ok(_) => false,
        Err(error) => {
            assert_eq!(error.code(), Some(ErrorCode::UnknownToken), "{error}");
            true
        }
    }
}

fn config() -> Config {
    accounts_support::config()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_logout_still_evicts_the_token() {
    let server = start(config());
    let token = server.register("ada").await;
    let session = server.accounts.authenticate(&token).await.unwrap(); // cached now
    server.cancel_after("delete_device", server.accounts.logout(&session)).await;
    eventually("the logged-out token still works from the cache", async || revoked(&server.accounts, &token).await)
        .await;

    let first = server.accounts.login(login_request("ada", PASSWORD), &client()).await.unwrap().access_token;
    let second = server.accounts.login(login_request("ada", PASSWORD), &client()).await.unwrap().access_token;
    let caller = server.accounts.authenticate(&first).await.unwrap();
    server.accounts.authenticate(&second).await.unwrap();
    server.cancel_after("delete_all_devices", server.accounts.logout_all(&caller)).await;
    eventually("logout-all left a token in the cache", async || {
        revoked(&server.accounts, &first).await && revoked(&server.accounts, &second).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_login_on_a_known_device_still_evicts_its_old_token() {
    let server = start(config());
    server.register("bo").await;
    let on_device = LoginRequest { device_id: Some("PHONE".into()), ..login_request("bo", PASSWORD) };
    let old = server.accounts.login(on_device.clone(), &client()).await.unwrap().access_token;
    server.accounts.authenticate(&old).await.unwrap();
    server.cancel_after("create_login", server.accounts.login(on_device, &client())).await;
    eventually("the device's replaced token still works from the cache", async || {
        revoked(&server.accounts, &old).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_password_change_still_evicts_the_other_devices() {
    let server = start(config());
    let mine = server.register("cy").await;
    let other = server.accounts.login(login_request("cy", PASSWORD), &client()).await.unwrap().access_token;
    let caller = server.accounts.authenticate(&mine).await.unwrap();
    server.accounts.authenticate(&other).await.unwrap();
    let change = ChangePasswordRequest { new_password: Some("pw-2".into()), logout_devices: None };
    let auth = password_auth("cy", PASSWORD, None);
    server
        .cancel_after("set_password", server.accounts.change_password(Some(&caller), change, Some(auth), &client()))
        .await;
    eventually("a device logged out by the password change still works from the cache", async || {
        revoked(&server.accounts, &other).await
    })
    .await;
    server.accounts.authenticate(&mine).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_replay_of_a_registration_on_a_known_device_still_evicts_its_old_token() {
    let server = start(config());
    let on_device = RegisterRequest { device_id: Some("DESK".into()), ..user_request("dee") };
    let challenge = server.accounts.register(on_device.clone(), None, &client()).await.unwrap_err();
    let auth = json!({"type": "m.login.dummy", "session": challenge.challenge().unwrap().session});
    let old = server.accounts.register(on_device.clone(), Some(auth.clone()), &client()).await.unwrap();
    let old = old.access_token.unwrap();
    server.accounts.authenticate(&old).await.unwrap();
    // The replay signs in on the same device again, replacing its token.
    server.cancel_after("create_login", server.accounts.register(on_device, Some(auth), &client())).await;
    eventually("the replaced token still works from the cache", async || revoked(&server.accounts, &old).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_3pid_change_still_evicts_the_cached_list() {
    let identity = IdentityServer::start();
    identity.validate("s1", "secret1", "email", "eve@example.org");
    let mut config = config();
    config.identity.trusted_servers = vec![identity.address.clone()];
    config.identity.insecure_http = true;
    let server = start(config);
    let eve = server.accounts.authenticate(&server.register("eve").await).await.unwrap();
    assert!(server.accounts.threepids(&eve).await.unwrap().is_empty()); // cached now

    let credentials =
        ThreepidCredentials { id_server: identity.address.clone(), sid: "s1".into(), client_secret: "secret1".into() };
    server.cancel_after("add_threepid", server.accounts.bind_threepid(&eve, credentials, false, &client())).await;
    eventually("the added 3pid is missing from the cached list", async || {
        server.accounts.threepids(&eve).await.unwrap().len() == 1
    })
    .await;

    server
        .cancel_after("delete_threepid", server.accounts.delete_threepid(&eve, "email", "eve@example.org", &client()))
        .await;
    eventually("the deleted 3pid is still in the cached list", async || {
        server.accounts.threepids(&eve).await.unwrap().is_empty()
    })
    .await;
}

/// A token check that loads a token from the store while a logout of its
/// device commits must not cache what it loaded, nor the first use it then
/// records (a pair minted by a refresh retires its predecessor on first use).
#[tokio::test(flavor = "multi_thread")]
async fn a_token_loaded_during_its_logout_is_not_cached_by_its_first_use() {
    let server = start(config());
    let request = RegisterRequest { refresh_token: Some(true), ..user_request("fay") };
    let registered =
        server.accounts.register(request, Some(json!({"type": "m.login.dummy"})), &client()).await.unwrap();
    let first = registered.access_token.unwrap();
    let caller = server.accounts.authenticate(&first).await.unwrap();
    // A pair minted by a refresh, never used: not cached, its first use
    // will be recorded.
    let refreshed = server.accounts.refresh(registered.refresh_token.as_deref().unwrap(), &client()).await.unwrap();

    let armed = server.store.arm("access_token");
    let check = tokio::spawn({
        let (accounts, token) = (server.accounts.clone(), refreshed.access_token.clone());
        async move { accounts.authenticate(&token).await.map(drop) }
    });
    // The check has read the token; the device logs out before it goes on.
    armed.reached.await.unwrap();
    server.accounts.logout(&caller).await.unwrap();
    armed.release.send(()).unwrap();
    // It may answer what it read (it raced the logout)...
    let _ = check.await.unwrap();
    // ...but it must not have cached it.
    assert!(revoked(&server.accounts, &refreshed.access_token).await, "the logged-out token came back");
    assert!(revoked(&server.accounts, &first).await);
}
