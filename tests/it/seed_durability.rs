//! What the server answered 200 survives SIGKILL: a burst of seed
//! registrations is cut short by killing the process, and after a restart
//! on the same database every registration that had been answered can log
//! in.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Answer, SEED_PASSWORD, SEED_V2, TestServer, seed_login, seed_register};
use serde_json::json;

/// Concurrent clients in the burst.
const WORKERS: usize = 12;
/// Answered registrations to wait for before the kill.
const BEFORE_KILL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_answered_before_a_sigkill_survive_it() {
    let mut server = TestServer::start();
    let url = server.url(&format!("{SEED_V2}/register"));
    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));

    // Each worker registers names until its request fails (the server is gone).
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WORKERS {
        let (url, answered, killed) = (url.clone(), Arc::clone(&answered), Arc::clone(&killed));
        workers.spawn(async move {
            let client = common::client();
            let mut succeeded = Vec::new();
            for n in 0.. {
                let username = format!("w{worker}n{n}");
                let body = json!({"username": username, "password": SEED_PASSWORD, "auth": {"type": "m.login.dummy"}});
                let sent_before_kill = !killed.load(Ordering::SeqCst);
                let response = client.post(&url).json(&body).send().await;
                // Only a complete 200 counts: the body may be cut off too.
                let answer = match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        response.bytes().await.map(|bytes| (status, bytes))
                    }
                    Err(error) => Err(error),
                };
                match answer {
                    Ok((200, bytes)) => {
                        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON 200");
                        assert_eq!(body["user_id"], format!("@{username}:localhost"));
                        succeeded.push(username);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((status, bytes)) => panic!("{username}: {status} {}", String::from_utf8_lossy(&bytes)),
                    // The server is gone; was this request already on its way?
                    Err(_) => return (succeeded, sent_before_kill),
                }
            }
            unreachable!()
        });
    }

    // Let the burst run, then kill the server with requests in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < BEFORE_KILL {
        assert!(tokio::time::Instant::now() < deadline, "the burst is too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    killed.store(true, Ordering::SeqCst);

    let results = workers.join_all().await;
    let succeeded: Vec<String> = results.iter().flat_map(|(names, _)| names.clone()).collect();
    let in_flight = results.iter().filter(|(_, sent_before_kill)| *sent_before_kill).count();
    assert!(succeeded.len() >= BEFORE_KILL, "{} registrations answered", succeeded.len());
    assert!(in_flight >= 1, "no request was in flight at the kill");
    eprintln!("{} registrations answered before the kill, {in_flight} cut off in flight", succeeded.len());

    // Restart on the same database: every answered registration is there.
    server.restart();
    for username in &succeeded {
        let login = seed_login(&server, username, SEED_PASSWORD).await;
        assert_eq!(login.status, 200, "{username} was answered 200 before the kill: {}", login.body);
        let again: Answer = seed_register(&server, username).await;
        assert_eq!(again.errcode(), "M_USER_IN_USE", "{username}");
    }
    // And the database still takes writes.
    assert_eq!(seed_register(&server, "after_restart").await.status, 200);
}
