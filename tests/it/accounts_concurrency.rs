//! Concurrent requests never corrupt or duplicate data.

use crate::accounts_support;

use accounts_support::{PASSWORD, Server, client, user_request};
use matrix_accounts::error::ErrorCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_registrations_of_one_name_make_one_account() {
    let server = Server::start();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let accounts = server.accounts.clone();
            tokio::spawn(async move {
                accounts.register(user_request("popular"), Some(json!({"type": "m.login.dummy"})), &client()).await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(registered) => {
                assert_eq!(registered.user_id, "@popular:localhost");
                created += 1;
            }
            Err(error) => {
                assert_eq!((error.status().as_u16(), error.code()), (400, Some(ErrorCode::UserInUse)), "{error}");
            }
        }
    }
    assert_eq!(created, 1);
    server.login("popular", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_generated_names_are_distinct() {
    let server = Server::start();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let accounts = server.accounts.clone();
            tokio::spawn(async move {
                let request = matrix_accounts::accounts::RegisterRequest {
                    password: Some(PASSWORD.into()),
                    ..Default::default()
                };
                accounts.register(request, Some(json!({"type": "m.login.dummy"})), &client()).await
            })
        })
        .collect();
    let mut user_ids = Vec::new();
    for task in tasks {
        user_ids.push(task.await.expect("task").expect("registration").user_id);
    }
    user_ids.sort();
    user_ids.dedup();
    assert_eq!(user_ids.len(), 20);
}

/// Twenty clients complete one UIA session at once: one account, and every
/// completion answers for it (as a replay does), each on its own device.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completions_of_one_session_make_one_account() {
    let server = Server::start();
    for username in [None, Some("chosen")] {
        let request = matrix_accounts::accounts::RegisterRequest {
            username: username.map(str::to_owned),
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        let challenge = server.accounts.register(request.clone(), None, &client()).await.unwrap_err();
        let session = challenge.challenge().unwrap().session.clone();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (accounts, request, start) = (server.accounts.clone(), request.clone(), start.clone());
                let auth = json!({"type": "m.login.dummy", "session": session});
                tokio::spawn(async move {
                    start.wait().await;
                    accounts.register(request, Some(auth), &client()).await
                })
            })
            .collect();
        let mut user_ids = Vec::new();
        let mut devices = Vec::new();
        for task in tasks {
            let registered = task.await.expect("task").expect("every completion succeeds");
            user_ids.push(registered.user_id);
            devices.push(registered.device_id.expect("a device"));
        }
        user_ids.sort();
        user_ids.dedup();
        assert_eq!(user_ids.len(), 1, "one session made several accounts: {user_ids:?}");
        devices.sort();
        devices.dedup();
        assert_eq!(devices.len(), 20);
    }
    // The anonymous session made account 1, and no other numbered one.
    server.login("1", PASSWORD).await.unwrap();
    assert_eq!(server.login("2", PASSWORD).await.unwrap_err().code(), Some(ErrorCode::Forbidden));
    server.login("chosen", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_checked_during_its_logout_does_not_come_back() {
    let server = Server::start();
    for _ in 0..20 {
        let token = server.login_or_register("racer").await;
        let session = server.accounts.authenticate(&token).await.unwrap();
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let (accounts, token) = (server.accounts.clone(), token.clone());
                tokio::spawn(async move { accounts.authenticate(&token).await.map(drop) })
            })
            .collect();
        server.accounts.logout(&session).await.unwrap();
        for reader in readers {
            let _ = reader.await.expect("reader");
        }
        // Whatever the readers raced, the logged-out token stays dead.
        let error = server.accounts.authenticate(&token).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::UnknownToken));
    }
}

impl Server {
    async fn login_or_register(&self, name: &str) -> String {
        match self.login(name, PASSWORD).await {
            Ok(logged_in) => logged_in.access_token,
            Err(_) => self.register(name).await.access_token.expect("token"),
        }
    }
}
