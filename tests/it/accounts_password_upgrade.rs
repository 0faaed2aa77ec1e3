//! Password hashes made elsewhere keep working and are replaced at the next
//! successful login: bcrypt hashes as Synapse makes them (what an import
//! from Synapse brings), and argon2 hashes made with parameters the
//! configuration no longer names. A wrong password replaces nothing.

use crate::accounts_support::{self, Server, client, login_request};

use matrix_accounts::config::{Config, Passwords};
use matrix_accounts::error::ErrorCode;
use std::sync::Arc;

use matrix_accounts::store::{NewLocalpart, NewUser, Store};

const PASSWORD: &str = "correct horse battery staple";

/// Made by Python's `bcrypt` 5.0 as Synapse makes hashes:
/// `bcrypt.hashpw(unicodedata.normalize("NFKC", PASSWORD).encode("utf8") +
/// pepper.encode("utf8"), bcrypt.gensalt(4))`, without a pepper and with
/// `"pepper-of-synapse"`.
const SYNAPSE_HASH: &str = "$2b$04$p39dkXcWpEwXTgB.eVV.puRxNUjqYuGiRs76NtzSnTbpzeHuuy9tO";
const SYNAPSE_HASH_PEPPERED: &str = "$2b$04$Nk.LtYzZbTaWFma3yL1fyuBg4Pnp4n/FisFWm6.tL51MKsB4z0lwO";

/// A server whose database holds `localpart` with `hash`, as an import
/// would leave it.
fn server_with(config: Config, localpart: &str, hash: &str) -> (Server, Arc<dyn Store>) {
    let server = Server::with(config);
    let store = server.config.database.open().unwrap();
    let user = NewUser {
        localpart: NewLocalpart::Chosen(localpart.into()),
        password_hash: Some(hash.into()),
        is_guest: false,
        admin: false,
        created_at: 0,
        registration_token: None,
        threepid: None,
    };
    store.create_user(&user, None, None).unwrap();
    (server, store)
}

fn stored_hash(store: &dyn Store, localpart: &str) -> String {
    store.user(localpart).unwrap().unwrap().password_hash.unwrap()
}

#[tokio::test]
async fn a_synapse_bcrypt_hash_logs_in_and_becomes_argon2id() {
    let (server, store) = server_with(accounts_support::config(), "imported", SYNAPSE_HASH);

    let wrong = server.login("imported", "not the password").await;
    accounts_support::assert_error(wrong, 403, ErrorCode::Forbidden);
    assert_eq!(stored_hash(&*store, "imported"), SYNAPSE_HASH, "a wrong password replaced the hash");

    server.login("imported", PASSWORD).await.expect("the imported password logs in");
    let upgraded = stored_hash(&*store, "imported");
    assert!(upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{upgraded}");

    // The new hash holds the same password, and is now left alone.
    server.login("imported", PASSWORD).await.expect("the password still logs in");
    assert_eq!(stored_hash(&*store, "imported"), upgraded);
}

#[tokio::test]
async fn synapse_s_pepper_is_needed_for_a_peppered_hash() {
    let (without, _store) = server_with(accounts_support::config(), "peppered", SYNAPSE_HASH_PEPPERED);
    accounts_support::assert_error(without.login("peppered", PASSWORD).await, 403, ErrorCode::Forbidden);

    let mut config = accounts_support::config();
    config.passwords.bcrypt_pepper = "pepper-of-synapse".into();
    let (with, store) = server_with(config, "peppered", SYNAPSE_HASH_PEPPERED);
    with.login("peppered", PASSWORD).await.expect("logs in with Synapse's pepper");
    assert!(stored_hash(&*store, "peppered").starts_with("$argon2id$"));
}

#[tokio::test]
async fn an_argon2_hash_with_old_parameters_is_remade_with_the_current_ones() {
    let mut server = Server::start();
    server.register("veteran").await;
    let store = server.config.database.open().unwrap();
    let old = stored_hash(&*store, "veteran");
    assert!(old.contains("m=64,t=1,p=1"), "{old}");

    server.config.passwords = Passwords { memory_kib: 128, iterations: 2, ..server.config.passwords.clone() };
    server.restart();
    server.login("veteran", accounts_support::PASSWORD).await.expect("the old hash still verifies");
    let new = stored_hash(&*store, "veteran");
    assert!(new.contains("m=128,t=2,p=1"), "{new}");

    let again = server.accounts.login(login_request("veteran", accounts_support::PASSWORD), &client()).await;
    assert!(again.is_ok(), "{again:?}");
    assert_eq!(stored_hash(&*store, "veteran"), new, "a current hash was replaced");
}
