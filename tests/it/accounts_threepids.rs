//! Third-party identifiers, validated by a real (tiny) identity server on
//! 127.0.0.1 that this test starts.

use crate::accounts_support;
use crate::identity_server;

use accounts_support::{PASSWORD, Server, assert_error, client, login_request, password_auth, session_of};
use identity_server::IdentityServer;
use matrix_accounts::accounts::{
    AddThreepidRequest, ChangePasswordRequest, IdServerUnbindResult, LoginRequest, ThreepidCredentials, UserIdentifier,
};
use matrix_accounts::error::ErrorCode;
use serde_json::json;

/// The domain's form of credentials naming this identity server.
trait Credentials {
    fn credentials(&self, sid: &str, secret: &str) -> ThreepidCredentials;
}

impl Credentials for IdentityServer {
    fn credentials(&self, sid: &str, secret: &str) -> ThreepidCredentials {
        ThreepidCredentials { id_server: self.address.clone(), sid: sid.into(), client_secret: secret.into() }
    }
}

fn server_trusting(identity: &IdentityServer, delegate: bool) -> Server {
    let mut config = accounts_support::config();
    config.identity.trusted_servers = vec![identity.address.clone()];
    config.identity.insecure_http = true;
    config.identity.threepid_delegate = delegate.then(|| identity.address.clone());
    Server::with(config)
}

#[tokio::test(flavor = "multi_thread")]
async fn add_list_bind_and_delete() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, false);
    let accounts = &server.accounts;
    let wendy = accounts.authenticate(&server.register("wendy").await.access_token.unwrap()).await.unwrap();
    let xavier = accounts.authenticate(&server.register("xavier").await.access_token.unwrap()).await.unwrap();

    assert!(accounts.threepids(&wendy).await.unwrap().is_empty());

    // Not validated (yet): 400 M_THREEPID_AUTH_FAILED, nothing stored.
    let pending = identity.credentials("s1", "secret1");
    assert_error(
        accounts.bind_threepid(&wendy, pending.clone(), false, &client()).await,
        400,
        ErrorCode::ThreepidAuthFailed,
    );
    assert!(accounts.threepids(&wendy).await.unwrap().is_empty());

    // Validated: stored with the identity server's validated_at, and bound.
    identity.validate("s1", "secret1", "email", "Wendy@Example.org");
    accounts.bind_threepid(&wendy, pending.clone(), true, &client()).await.unwrap();
    let listed = accounts.threepids(&wendy).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].medium.as_str(), listed[0].address.as_str()), ("email", "wendy@example.org"));
    assert_eq!(listed[0].validated_at, 1_535_176_800_000);
    assert!(listed[0].added_at > listed[0].validated_at);
    assert_eq!(
        identity.binds.lock().unwrap().as_slice(),
        [json!({"sid": "s1", "client_secret": "secret1", "mxid": "@wendy:localhost"})]
    );

    // Adding it again is a no-op; another account cannot have it.
    accounts.bind_threepid(&wendy, pending.clone(), false, &client()).await.unwrap();
    assert_eq!(accounts.threepids(&wendy).await.unwrap().len(), 1);
    assert_error(accounts.bind_threepid(&xavier, pending, false, &client()).await, 400, ErrorCode::ThreepidInUse);

    // The 3pid logs in, in any case.
    let by_email = LoginRequest {
        identifier: UserIdentifier::ThirdParty { medium: "email".into(), address: "WENDY@example.org".into() },
        ..login_request("", PASSWORD)
    };
    assert_eq!(accounts.login(by_email, &client()).await.unwrap().user_id, "@wendy:localhost");

    // Delete: idempotent, and the list follows.
    assert_eq!(
        accounts.delete_threepid(&wendy, "email", "wendy@example.org", &client()).await.unwrap(),
        IdServerUnbindResult::NoSupport
    );
    assert!(accounts.threepids(&wendy).await.unwrap().is_empty());
    accounts.delete_threepid(&wendy, "email", "wendy@example.org", &client()).await.unwrap();
    // Now free for another account.
    accounts.bind_threepid(&xavier, identity.credentials("s1", "secret1"), false, &client()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_servers_must_be_trusted_and_reachable() {
    let identity = IdentityServer::start();
    identity.validate("s1", "secret1", "email", "yara@example.org");
    let server = server_trusting(&identity, false);
    let accounts = &server.accounts;
    let yara = accounts.authenticate(&server.register("yara").await.access_token.unwrap()).await.unwrap();

    let untrusted = ThreepidCredentials { id_server: "id.example.org".into(), ..identity.credentials("s1", "secret1") };
    assert_error(accounts.bind_threepid(&yara, untrusted, false, &client()).await, 400, ErrorCode::ThreepidAuthFailed);

    let mut config = accounts_support::config();
    config.identity.trusted_servers = vec!["127.0.0.1:9".into()];
    config.identity.insecure_http = true;
    let unreachable = Server::with(config);
    let zed =
        unreachable.accounts.authenticate(&unreachable.register("zed").await.access_token.unwrap()).await.unwrap();
    let credentials = ThreepidCredentials { id_server: "127.0.0.1:9".into(), ..identity.credentials("s1", "secret1") };
    assert_error(
        unreachable.accounts.bind_threepid(&zed, credentials, false, &client()).await,
        400,
        ErrorCode::ThreepidAuthFailed,
    );

    let bad_secret = identity.credentials("s1", "bad secret!");
    assert_error(accounts.bind_threepid(&yara, bad_secret, false, &client()).await, 400, ErrorCode::InvalidParam);
}

#[tokio::test(flavor = "multi_thread")]
async fn add_with_uia_through_the_delegate() {
    let identity = IdentityServer::start();
    identity.validate("s2", "secret2", "email", "abe@example.org");
    let server = server_trusting(&identity, true);
    let accounts = &server.accounts;
    let abe = accounts.authenticate(&server.register("abe").await.access_token.unwrap()).await.unwrap();
    let request = AddThreepidRequest { sid: Some("s2".into()), client_secret: Some("secret2".into()) };

    assert_error(
        accounts.add_threepid(&abe, AddThreepidRequest::default(), None, &client()).await,
        400,
        ErrorCode::MissingParam,
    );
    let challenge = accounts.add_threepid(&abe, request.clone(), None, &client()).await.unwrap_err();
    assert_eq!(challenge.body()["flows"], json!([{"stages": ["m.login.password"]}]));
    let session = session_of(&challenge);
    // The follow-up carries only `auth`: the session remembers sid and secret.
    let auth = password_auth("abe", PASSWORD, Some(&session));
    accounts.add_threepid(&abe, AddThreepidRequest::default(), Some(auth), &client()).await.unwrap();
    assert_eq!(accounts.threepids(&abe).await.unwrap()[0].address, "abe@example.org");

    // The session is used up: replaying it, even to add another address,
    // is an unknown session.
    identity.validate("s5", "secret5", "email", "abe-2@example.org");
    let other = AddThreepidRequest { sid: Some("s5".into()), client_secret: Some("secret5".into()) };
    let replay = password_auth("abe", PASSWORD, Some(&session));
    let error =
        assert_error(accounts.add_threepid(&abe, other, Some(replay), &client()).await, 400, ErrorCode::Unknown);
    assert_eq!(error.message(), format!("Unknown session ID: {session}"));
    assert_eq!(accounts.threepids(&abe).await.unwrap().len(), 1);

    // A session whose add failed (not validated yet) is kept for a retry.
    let pending = AddThreepidRequest { sid: Some("s6".into()), client_secret: Some("secret6".into()) };
    let session = session_of(&accounts.add_threepid(&abe, pending.clone(), None, &client()).await.unwrap_err());
    let auth = password_auth("abe", PASSWORD, Some(&session));
    assert_error(
        accounts.add_threepid(&abe, AddThreepidRequest::default(), Some(auth.clone()), &client()).await,
        400,
        ErrorCode::ThreepidAuthFailed,
    );
    identity.validate("s6", "secret6", "email", "abe-3@example.org");
    accounts.add_threepid(&abe, AddThreepidRequest::default(), Some(auth.clone()), &client()).await.unwrap();
    assert_eq!(accounts.threepids(&abe).await.unwrap().len(), 2);
    // Then used up too, even for an address the account already has.
    assert_error(accounts.add_threepid(&abe, pending, Some(auth), &client()).await, 400, ErrorCode::Unknown);

    // Without a delegate, /3pid/add can validate nothing.
    let plain = server_trusting(&identity, false);
    let ben = plain.accounts.authenticate(&plain.register("ben").await.access_token.unwrap()).await.unwrap();
    let auth = password_auth("ben", PASSWORD, None);
    assert_error(
        plain.accounts.add_threepid(&ben, request, Some(auth), &client()).await,
        400,
        ErrorCode::ThreepidAuthFailed,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_reset_without_a_token_through_a_validated_email() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, false);
    let accounts = &server.accounts;
    let cleo_token = server.register("cleo").await.access_token.unwrap();
    let cleo = accounts.authenticate(&cleo_token).await.unwrap();
    identity.validate("s3", "secret3", "email", "cleo@example.org");
    accounts.bind_threepid(&cleo, identity.credentials("s3", "secret3"), false, &client()).await.unwrap();

    let reset = || ChangePasswordRequest { new_password: Some("reset-pw".into()), logout_devices: None };
    let challenge = accounts.change_password(None, reset(), None, &client()).await.unwrap_err();
    assert_eq!(challenge.body()["flows"], json!([{"stages": ["m.login.email.identity"]}]));

    // The seed: a validated address no account has is 404 M_NOT_FOUND.
    identity.validate("s4", "secret4", "email", "stranger@example.org");
    let stranger = json!({"type": "m.login.email.identity",
        "threepid_creds": {"sid": "s4", "client_secret": "secret4", "id_server": identity.address}});
    assert_error(accounts.change_password(None, reset(), Some(stranger), &client()).await, 404, ErrorCode::NotFound);

    // An m.login.password stage naming an unknown 3pid is 404 too.
    let unknown = json!({"type": "m.login.password", "password": PASSWORD,
        "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "nobody@example.org"}});
    let change = ChangePasswordRequest { new_password: Some("x".into()), logout_devices: None };
    assert_error(
        accounts.change_password(Some(&cleo), change, Some(unknown), &client()).await,
        404,
        ErrorCode::NotFound,
    );

    let own = json!({"type": "m.login.email.identity",
        "threepidCreds": {"sid": "s3", "client_secret": "secret3", "id_server": identity.address}});
    accounts.change_password(None, reset(), Some(own), &client()).await.unwrap();
    server.login("cleo", "reset-pw").await.unwrap();
    // Without a caller, every device was logged out.
    assert_error(accounts.authenticate(&cleo_token).await, 401, ErrorCode::UnknownToken);
}

/// A trusted identity server that answers 302 to a host nobody trusts: the
/// redirect is not followed (that host would see the `client_secret` and
/// could vouch for any address), and the validation fails.
#[tokio::test(flavor = "multi_thread")]
async fn redirects_from_an_identity_server_are_not_followed() {
    let trusted = IdentityServer::start();
    let untrusted = IdentityServer::start();
    untrusted.validate("s1", "secret1", "email", "victim@example.org");
    trusted.redirect_to(&untrusted.address);
    let server = server_trusting(&trusted, false);
    let accounts = &server.accounts;
    let eve = accounts.authenticate(&server.register("eve").await.access_token.unwrap()).await.unwrap();

    let credentials = trusted.credentials("s1", "secret1");
    assert_error(accounts.bind_threepid(&eve, credentials, false, &client()).await, 400, ErrorCode::ThreepidAuthFailed);
    assert_eq!(trusted.requests().len(), 1);
    assert!(untrusted.requests().is_empty(), "the redirect was followed: {:?}", untrusted.requests());
    assert!(accounts.threepids(&eve).await.unwrap().is_empty());
}

/// An answer of a megabyte (valid JSON, padded) is not read to its end:
/// past 64 KiB the validation fails, a client error, never a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_identity_server_answer_fails_the_validation() {
    let identity = IdentityServer::start();
    identity.validate("s1", "secret1", "email", "fay@example.org");
    identity.huge_bodies();
    let server = server_trusting(&identity, false);
    let accounts = &server.accounts;
    let fay = accounts.authenticate(&server.register("fay").await.access_token.unwrap()).await.unwrap();

    let credentials = identity.credentials("s1", "secret1");
    assert_error(accounts.bind_threepid(&fay, credentials, false, &client()).await, 400, ErrorCode::ThreepidAuthFailed);
    assert!(accounts.threepids(&fay).await.unwrap().is_empty());
}

/// A 3pid add whose identity-server check fails after the password stage
/// passed leaves the session as it was: a retry must pass the stage again,
/// it cannot skip re-authentication with the bare session ID.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_3pid_add_does_not_complete_its_session() {
    let identity = IdentityServer::start();
    let server = server_trusting(&identity, true);
    let accounts = &server.accounts;
    let gil = accounts.authenticate(&server.register("gil").await.access_token.unwrap()).await.unwrap();
    let pending = AddThreepidRequest { sid: Some("s7".into()), client_secret: Some("secret7".into()) };
    let session = session_of(&accounts.add_threepid(&gil, pending, None, &client()).await.unwrap_err());
    let auth = password_auth("gil", PASSWORD, Some(&session));
    assert_error(
        accounts.add_threepid(&gil, AddThreepidRequest::default(), Some(auth), &client()).await,
        400,
        ErrorCode::ThreepidAuthFailed,
    );
    let asked = identity.requests().len();

    identity.validate("s7", "secret7", "email", "gil@example.org");
    let bare = json!({"session": session});
    let retry = accounts.add_threepid(&gil, AddThreepidRequest::default(), Some(bare), &client()).await.unwrap_err();
    assert_eq!(retry.status().as_u16(), 401, "{retry}");
    assert_eq!(retry.body()["completed"], json!([]), "{retry}");
    assert_eq!(identity.requests().len(), asked, "the identity server was asked without re-authentication");
    assert!(accounts.threepids(&gil).await.unwrap().is_empty());

    // Passing the stage again adds it.
    let auth = password_auth("gil", PASSWORD, Some(&session));
    accounts.add_threepid(&gil, AddThreepidRequest::default(), Some(auth), &client()).await.unwrap();
    assert_eq!(accounts.threepids(&gil).await.unwrap().len(), 1);
}
