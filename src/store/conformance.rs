//! The store's contract as tests, written once and run against every
//! engine: SQLite always, PostgreSQL when `MATRIX_ACCOUNTS_TEST_POSTGRES`
//! names a server (a URL whose user may create databases; each test gets a
//! database of its own). With `CI=true`, a missing PostgreSQL fails the
//! PostgreSQL half instead of skipping it.

use std::sync::{Arc, Barrier};

use serde_json::json;

use super::*;

/// The tests, each a function of the store under test.
macro_rules! conformance {
    ($engine:ident, $open:path) => {
        mod $engine {
            conformance!(@tests $open;
                a_localpart_is_taken_once,
                generated_localparts_count_up_and_skip_taken_ones,
                logging_in_again_on_a_device_replaces_its_tokens,
                rotation_keeps_the_old_refresh_token_until_the_new_pair_is_used,
                rotation_sweeps_the_devices_expired_access_tokens,
                password_change_keeps_only_the_callers_device,
                a_threepid_belongs_to_one_account,
                an_email_token_is_single_use_and_wrong_ones_void_it,
                uia_sessions_round_trip_and_expire,
                a_uia_session_registers_one_account,
                a_password_change_or_3pid_add_uses_its_uia_session_up,
                registration_tokens_count_their_uses,
                an_import_writes_each_user_once_and_never_overwrites,
                an_imported_3pid_or_token_held_here_is_left_out,
                one_name_is_registered_once_under_contention,
                a_token_use_is_claimed_once_under_contention,
                a_deactivated_account_is_reactivated_with_a_new_password
            );
        }
    };
    (@tests $open:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(store) = $open(stringify!($name)) {
                    super::$name(&*store);
                }
            }
        )*
    };
}

conformance!(sqlite, super::open_sqlite);
conformance!(postgres, super::open_postgres);

/// A fresh SQLite store in a directory removed at the end of the process.
fn open_sqlite(_test: &str) -> Option<Arc<dyn Store>> {
    let dir = tempfile::tempdir().unwrap().keep();
    Some(Arc::new(SqliteStore::open(&dir.join("test.db")).unwrap()))
}

/// A fresh PostgreSQL store in a database of its own, or `None` (skip)
/// without a server to test against.
fn open_postgres(test: &str) -> Option<Arc<dyn Store>> {
    let Some(url) = crate::store::postgres::test_server() else {
        eprintln!("skipping {test} on PostgreSQL: MATRIX_ACCOUNTS_TEST_POSTGRES is not set");
        return None;
    };
    let database = crate::store::postgres::create_database(&url, &format!("conformance_{test}")).unwrap();
    Some(Arc::new(PostgresStore::open(&database).unwrap()))
}

pub(super) fn user(localpart: NewLocalpart) -> NewUser {
    NewUser {
        threepid: None,
        localpart,
        password_hash: Some("$argon2id$…".into()),
        is_guest: false,
        admin: false,
        created_at: 1,
        registration_token: None,
    }
}

fn tokens(access: u8, refresh: Option<u8>) -> NewTokens {
    NewTokens { access: [access; 32], refresh: refresh.map(|r| [r; 32]), expires_at: None, created_at: 1 }
}

pub(super) fn login(device: &str, access: u8, refresh: Option<u8>) -> NewLogin {
    NewLogin { device_id: device.into(), display_name: None, tokens: tokens(access, refresh) }
}

fn a_localpart_is_taken_once(store: &dyn Store) {
    let created = store.create_user(&user(NewLocalpart::Chosen("alice".into())), None, None).unwrap();
    assert_eq!(created, Created { localpart: "alice".into(), revoked: Vec::new() });
    let again = store.create_user(&user(NewLocalpart::Chosen("alice".into())), Some(&login("D", 1, None)), None);
    assert!(matches!(again, Err(StoreError::UserExists)));
    // Nothing of the failed attempt was written.
    assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
}

fn generated_localparts_count_up_and_skip_taken_ones(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("2".into())), None, None).unwrap();
    let first = store.create_user(&user(NewLocalpart::Generated), None, None).unwrap();
    let second = store.create_user(&user(NewLocalpart::Generated), None, None).unwrap();
    assert_eq!((first.localpart.as_str(), second.localpart.as_str()), ("1", "3"));
}

fn logging_in_again_on_a_device_replaces_its_tokens(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("bob".into())), Some(&login("D", 1, None)), None).unwrap();
    let revoked = store.create_login("bob", &login("D", 2, None)).unwrap();
    assert_eq!(revoked, vec![[1; 32]]);
    assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
    let record = store.access_token(&[2; 32]).unwrap().unwrap();
    assert_eq!((record.localpart.as_str(), record.device_id.as_str()), ("bob", "D"));
}

fn rotation_keeps_the_old_refresh_token_until_the_new_pair_is_used(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("carol".into())), Some(&login("D", 1, Some(11))), None).unwrap();
    // R1 → (A2, R2).
    let rotated = store.rotate_refresh_token(&[11; 32], &tokens(2, Some(12))).unwrap().unwrap();
    assert!(rotated.revoked.is_empty());
    assert!(store.access_token(&[2; 32]).unwrap().unwrap().predecessor_alive);
    // R1 again before A2/R2 were used → (A3, R3); A2 and R2 die.
    let rotated = store.rotate_refresh_token(&[11; 32], &tokens(3, Some(13))).unwrap().unwrap();
    assert_eq!(rotated.revoked, vec![[2; 32]]);
    assert_eq!(store.rotate_refresh_token(&[12; 32], &tokens(9, Some(19))).unwrap(), None);
    // First use of A3 retires R1; A1 lives on.
    let a3 = store.access_token(&[3; 32]).unwrap().unwrap();
    store.retire_refresh_predecessor(a3.refresh_token_id.unwrap()).unwrap();
    assert!(!store.access_token(&[3; 32]).unwrap().unwrap().predecessor_alive);
    assert_eq!(store.rotate_refresh_token(&[11; 32], &tokens(9, Some(19))).unwrap(), None);
    assert!(store.access_token(&[1; 32]).unwrap().is_some());
    // R3 → (A4, R4) → R3 retires when R4 is rotated.
    store.rotate_refresh_token(&[13; 32], &tokens(4, Some(14))).unwrap().unwrap();
    store.rotate_refresh_token(&[14; 32], &tokens(5, Some(15))).unwrap().unwrap();
    assert_eq!(store.rotate_refresh_token(&[13; 32], &tokens(9, Some(19))).unwrap(), None);
}

fn rotation_sweeps_the_devices_expired_access_tokens(store: &dyn Store) {
    let expiring = NewTokens { expires_at: Some(100), ..tokens(1, Some(11)) };
    let login = NewLogin { device_id: "D".into(), display_name: None, tokens: expiring };
    store.create_user(&user(NewLocalpart::Chosen("ida".into())), Some(&login), None).unwrap();
    let later = NewTokens { created_at: 200, expires_at: Some(500), ..tokens(2, Some(12)) };
    let rotated = store.rotate_refresh_token(&[11; 32], &later).unwrap().unwrap();
    assert_eq!(rotated.revoked, vec![[1; 32]]);
    assert_eq!(store.access_token(&[1; 32]).unwrap(), None);
    assert!(store.access_token(&[2; 32]).unwrap().is_some());
}

fn password_change_keeps_only_the_callers_device(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("erin".into())), Some(&login("D1", 1, Some(11))), None).unwrap();
    store.create_login("erin", &login("D2", 2, None)).unwrap();
    let revoked = store.set_password("erin", "new", Some("D1"), true, None).unwrap();
    assert_eq!(revoked, vec![[2; 32]]);
    assert!(store.access_token(&[1; 32]).unwrap().is_some());
    assert_eq!(store.user("erin").unwrap().unwrap().password_hash.as_deref(), Some("new"));
    let revoked = store.delete_all_devices("erin").unwrap();
    assert_eq!(revoked, vec![[1; 32]]);
}

fn a_threepid_belongs_to_one_account(store: &dyn Store) {
    for name in ["frank", "gina"] {
        store.create_user(&user(NewLocalpart::Chosen(name.into())), None, None).unwrap();
    }
    let threepid = ThreepidRecord {
        medium: "email".into(),
        address: "f@example.org".into(),
        validated_at: 5,
        added_at: 6,
        id_server: None,
    };
    store.add_threepid("frank", &threepid, None).unwrap();
    store.add_threepid("frank", &threepid, None).unwrap();
    assert!(matches!(store.add_threepid("gina", &threepid, None), Err(StoreError::ThreepidInUse)));
    assert_eq!(store.threepids("frank").unwrap(), vec![threepid]);
    assert_eq!(store.threepid_owner("email", "f@example.org").unwrap().as_deref(), Some("frank"));
    assert!(!store.delete_threepid("gina", "email", "f@example.org").unwrap());
    assert!(store.delete_threepid("frank", "email", "f@example.org").unwrap());
    assert!(store.threepids("frank").unwrap().is_empty());
}

fn email_session(sid: &str, token: u8, expires_at: Millis) -> EmailSessionRecord {
    EmailSessionRecord {
        sid: sid.into(),
        client_secret: "secret".into(),
        address: format!("{sid}@example.org"),
        purpose: EmailPurpose::Register,
        send_attempt: 1,
        token_hash: Some([token; 32]),
        failed_attempts: 0,
        next_link: None,
        created_at: 1,
        expires_at,
        validated_at: None,
    }
}

fn an_email_token_is_single_use_and_wrong_ones_void_it(store: &dyn Store) {
    store.put_email_session(&email_session("s1", 1, 100), 10).unwrap();
    let found = store.email_session_for("secret", "s1@example.org", EmailPurpose::Register, 10).unwrap();
    assert_eq!(found.map(|s| s.sid).as_deref(), Some("s1"));
    assert_eq!(store.email_session_for("secret", "s1@example.org", EmailPurpose::AddThreepid, 10).unwrap(), None);
    assert_eq!(store.submit_email_token("s1", "other", &[1; 32], 10, 3).unwrap(), TokenSubmission::Refused);
    let TokenSubmission::Validated(session) = store.submit_email_token("s1", "secret", &[1; 32], 11, 3).unwrap()
    else {
        panic!("the right token")
    };
    assert_eq!((session.validated_at, session.token_hash), (Some(11), None));
    assert_eq!(store.submit_email_token("s1", "secret", &[1; 32], 12, 3).unwrap(), TokenSubmission::Refused);
    assert_eq!(store.email_session("s1", 12).unwrap().unwrap().validated_at, Some(11));

    store.put_email_session(&email_session("s2", 2, 100), 10).unwrap();
    for _ in 0..3 {
        assert_eq!(store.submit_email_token("s2", "secret", &[9; 32], 10, 3).unwrap(), TokenSubmission::Refused);
    }
    assert_eq!(store.submit_email_token("s2", "secret", &[2; 32], 10, 3).unwrap(), TokenSubmission::Refused);
    // Expired: gone for reads, swept by the next write.
    assert_eq!(store.email_session("s2", 100).unwrap(), None);
    store.put_email_session(&email_session("s3", 3, 500), 200).unwrap();
    assert_eq!(store.email_session("s1", 0).unwrap(), None, "expired sessions are swept");
    store.delete_email_session("s3").unwrap();
    assert_eq!(store.email_session("s3", 0).unwrap(), None);
}

fn uia_sessions_round_trip_and_expire(store: &dyn Store) {
    let session = UiaSessionRecord {
        id: "abc".into(),
        operation: UiaOperation::ChangePassword,
        user: Some("erin".into()),
        params: json!({"logout_devices": false}),
        password_hash: Some("hash".into()),
        password_digest: Some(vec![7; 32]),
        completed: vec!["m.login.password".into()],
        registered: None,
        registration_token: None,
        created_at: 10,
        expires_at: 20,
    };
    store.put_uia_session(&session, 10).unwrap();
    assert_eq!(store.uia_session("abc", 15).unwrap(), Some(session.clone()));
    assert_eq!(store.uia_session("abc", 21).unwrap(), None);
    // Storing another session later sweeps the expired one.
    store.put_uia_session(&UiaSessionRecord { id: "def".into(), expires_at: 100, ..session }, 50).unwrap();
    assert_eq!(store.uia_session("abc", 0).unwrap(), None);
}

fn session(id: &str, operation: UiaOperation) -> UiaSessionRecord {
    UiaSessionRecord {
        id: id.into(),
        operation,
        user: None,
        params: json!({}),
        password_hash: None,
        password_digest: None,
        completed: vec!["m.login.dummy".into()],
        registered: None,
        registration_token: None,
        created_at: 1,
        expires_at: i64::MAX,
    }
}

fn completion(session: &str) -> RegistrationCompletion {
    RegistrationCompletion { session: session.into(), password_digest: Some(vec![9; 32]), retry_until: 500 }
}

fn a_uia_session_registers_one_account(store: &dyn Store) {
    let mut record = session("reg", UiaOperation::Register);
    record.password_hash = Some("hash".into());
    store.put_uia_session(&record, 1).unwrap();
    let first = store
        .create_user(&user(NewLocalpart::Generated), Some(&login("D1", 1, None)), Some(&completion("reg")))
        .unwrap();
    assert_eq!(first, Created { localpart: "1".into(), revoked: Vec::new() });
    let completed = store.uia_session("reg", 0).unwrap().unwrap();
    assert_eq!(completed.registered.as_deref(), Some("1"));
    assert_eq!((completed.password_hash, completed.password_digest), (None, Some(vec![9; 32])));
    assert_eq!(completed.expires_at, 500);
    // A second completion of the same session writes nothing.
    let second =
        store.create_user(&user(NewLocalpart::Generated), Some(&login("D2", 2, None)), Some(&completion("reg")));
    assert!(matches!(second, Err(StoreError::UnknownUiaSession(id)) if id == "reg"));
    assert_eq!(store.user("2").unwrap(), None);
    assert_eq!(store.access_token(&[2; 32]).unwrap(), None);
    // Nor does a completion of a session that is gone.
    let gone = store.create_user(&user(NewLocalpart::Chosen("bob".into())), None, Some(&completion("nope")));
    assert!(matches!(gone, Err(StoreError::UnknownUiaSession(_))));
    assert_eq!(store.user("bob").unwrap(), None);
}

fn a_password_change_or_3pid_add_uses_its_uia_session_up(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("jo".into())), Some(&login("D1", 1, None)), None).unwrap();
    store.create_login("jo", &login("D2", 2, None)).unwrap();
    store.put_uia_session(&session("pw", UiaOperation::ChangePassword), 1).unwrap();
    assert_eq!(store.set_password("jo", "new", Some("D1"), true, Some("pw")).unwrap(), vec![[2; 32]]);
    assert_eq!(store.uia_session("pw", 0).unwrap(), None);
    // Used up: a replay changes nothing.
    let replay = store.set_password("jo", "newer", None, true, Some("pw"));
    assert!(matches!(replay, Err(StoreError::UnknownUiaSession(id)) if id == "pw"));
    let jo = store.user("jo").unwrap().unwrap();
    assert_eq!(jo.password_hash.as_deref(), Some("new"));
    assert!(store.access_token(&[1; 32]).unwrap().is_some());

    let threepid = ThreepidRecord {
        medium: "email".into(),
        address: "jo@example.org".into(),
        validated_at: 5,
        added_at: 6,
        id_server: None,
    };
    store.put_uia_session(&session("3pid", UiaOperation::AddThreepid), 1).unwrap();
    store.add_threepid("jo", &threepid, Some("3pid")).unwrap();
    assert_eq!(store.uia_session("3pid", 0).unwrap(), None);
    let other = ThreepidRecord { address: "other@example.org".into(), ..threepid };
    let replay = store.add_threepid("jo", &other, Some("3pid"));
    assert!(matches!(replay, Err(StoreError::UnknownUiaSession(_))));
    assert_eq!(store.threepids("jo").unwrap().len(), 1);
}

fn registration_tokens_count_their_uses(store: &dyn Store) {
    assert!(store.create_registration_token(&RegistrationTokenRecord::new("once", Some(1), None)).unwrap());
    assert!(!store.create_registration_token(&RegistrationTokenRecord::new("once", None, None)).unwrap());
    store.create_registration_token(&RegistrationTokenRecord::new("old", None, Some(10))).unwrap();
    store.create_registration_token(&RegistrationTokenRecord::new("free", None, None)).unwrap();
    let names = |tokens: Vec<RegistrationTokenRecord>| tokens.into_iter().map(|t| t.token).collect::<Vec<_>>();
    assert_eq!(names(store.registration_tokens(None, 20).unwrap()), ["free", "old", "once"]);
    assert_eq!(names(store.registration_tokens(Some(true), 20).unwrap()), ["free", "once"]);
    assert_eq!(names(store.registration_tokens(Some(false), 20).unwrap()), ["old"]);

    // A session reserves the one use; another session cannot, nor can a
    // registration without a session.
    store.put_uia_session(&session("s1", UiaOperation::Register), 1).unwrap();
    store.put_uia_session(&session("s2", UiaOperation::Register), 1).unwrap();
    assert!(store.claim_registration_token("once", "s1", 20).unwrap());
    assert!(store.claim_registration_token("once", "s1", 20).unwrap(), "a session keeps what it holds");
    assert!(!store.claim_registration_token("once", "s2", 20).unwrap());
    let one_shot = NewUser { registration_token: Some("once".into()), ..user(NewLocalpart::Chosen("x".into())) };
    assert!(matches!(store.create_user(&one_shot, None, None), Err(StoreError::RegistrationTokenUnusable)));
    assert_eq!(store.user("x").unwrap(), None);
    assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 1);
    assert_eq!(names(store.registration_tokens(Some(false), 20).unwrap()), ["old", "once"]);

    // The session registers: pending becomes completed.
    store.create_user(&user(NewLocalpart::Chosen("y".into())), None, Some(&completion("s1"))).unwrap();
    let once = store.registration_token("once").unwrap().unwrap();
    assert_eq!((once.pending, once.completed), (0, 1));

    // Raising the limit frees a use; a session that expires gives its back.
    let raised = RegistrationTokenUpdate { uses_allowed: Some(Some(2)), expiry_time: None };
    assert_eq!(store.update_registration_token("once", &raised).unwrap().unwrap().uses_allowed, Some(2));
    let mut short = session("s3", UiaOperation::Register);
    short.expires_at = 30;
    store.put_uia_session(&short, 1).unwrap();
    assert!(store.claim_registration_token("once", "s3", 20).unwrap());
    assert!(!store.claim_registration_token("once", "s2", 20).unwrap());
    store.put_uia_session(&session("s4", UiaOperation::Register), 40).unwrap();
    assert_eq!(store.registration_token("once").unwrap().unwrap().pending, 0);
    assert!(store.claim_registration_token("once", "s2", 50).unwrap());

    // Unlimited, never expiring: by `Some(None)`.
    let cleared = RegistrationTokenUpdate { uses_allowed: None, expiry_time: Some(None) };
    assert_eq!(store.update_registration_token("old", &cleared).unwrap().unwrap().expiry_time, None);
    assert_eq!(store.update_registration_token("nope", &cleared).unwrap(), None);
    assert!(store.delete_registration_token("old").unwrap());
    assert!(!store.delete_registration_token("old").unwrap());
    assert_eq!(store.registration_token("old").unwrap(), None);
}

fn imported(localpart: &str, email: &str, token: u8) -> ImportedUser {
    ImportedUser {
        localpart: localpart.into(),
        password_hash: Some("$2b$04$…".into()),
        is_guest: false,
        deactivated: false,
        admin: true,
        user_type: Some("bot".into()),
        created_at: 5,
        threepids: vec![ThreepidRecord {
            medium: "email".into(),
            address: email.into(),
            validated_at: 6,
            added_at: 7,
            id_server: None,
        }],
        devices: vec![ImportedDevice {
            device_id: "PHONE".into(),
            display_name: Some("Phone".into()),
            created_at: 8,
            refresh_tokens: vec![ImportedRefreshToken { source_id: 40, token: [token + 1; 32] }],
            access_tokens: vec![ImportedAccessToken {
                token: [token; 32],
                expires_at: Some(9),
                refresh_source_id: Some(40),
            }],
        }],
    }
}

fn an_import_writes_each_user_once_and_never_overwrites(store: &dyn Store) {
    // A local account of the same name, made before the import.
    store.create_user(&user(NewLocalpart::Chosen("bob".into())), None, None).unwrap();
    let users = [imported("alice", "a@example.org", 1), imported("bob", "b@example.org", 3)];
    let outcomes = store.import_users(&users).unwrap();
    let counts =
        ImportedCounts { threepids: 1, devices: 1, access_tokens: 1, refresh_tokens: 1, ..Default::default() };
    assert_eq!(outcomes, [ImportOutcome::Imported(counts), ImportOutcome::AlreadyPresent]);
    assert_eq!(store.user("bob").unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$…"));
    assert_eq!(store.threepid_owner("email", "b@example.org").unwrap(), None);

    // The access token works, linked to its refresh token, which rotates.
    let token = store.access_token(&[1; 32]).unwrap().unwrap();
    assert_eq!((token.localpart.as_str(), token.device_id.as_str(), token.expires_at), ("alice", "PHONE", Some(9)));
    assert!(token.refresh_token_id.is_some());
    assert!(store.rotate_refresh_token(&[2; 32], &tokens(20, Some(21))).unwrap().is_some());

    // A second run: nothing new.
    let again = store.import_users(&users).unwrap();
    assert_eq!(again, [ImportOutcome::AlreadyPresent, ImportOutcome::AlreadyPresent]);
}

fn an_imported_3pid_or_token_held_here_is_left_out(store: &dyn Store) {
    store.import_users(&[imported("alice", "shared@example.org", 1)]).unwrap();
    let outcomes = store.import_users(&[imported("carol", "shared@example.org", 1)]).unwrap();
    let counts = ImportedCounts { devices: 1, threepids_in_use: 1, tokens_in_use: 2, ..Default::default() };
    assert_eq!(outcomes, [ImportOutcome::Imported(counts)]);
    assert_eq!(store.threepid_owner("email", "shared@example.org").unwrap().as_deref(), Some("alice"));
}

fn one_name_is_registered_once_under_contention(store: &dyn Store) {
    let barrier = Barrier::new(8);
    let outcomes: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8u8)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    store.create_user(&user(NewLocalpart::Chosen("race".into())), Some(&login("D", i, None)), None)
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).collect()
    });
    let won = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    let lost = outcomes.iter().filter(|outcome| matches!(outcome, Err(StoreError::UserExists))).count();
    assert_eq!((won, lost), (1, 7), "{outcomes:?}");
    assert_eq!(store.devices("race").unwrap().len(), 1);
}

fn a_token_use_is_claimed_once_under_contention(store: &dyn Store) {
    store.create_registration_token(&RegistrationTokenRecord::new("single", Some(1), None)).unwrap();
    for i in 0..8 {
        store.put_uia_session(&session(&format!("s{i}"), UiaOperation::Register), 1).unwrap();
    }
    let barrier = Barrier::new(8);
    let claimed = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    store.claim_registration_token("single", &format!("s{i}"), 2).unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).filter(|claimed| *claimed).count()
    });
    assert_eq!(claimed, 1);
    assert_eq!(store.registration_token("single").unwrap().unwrap().pending, 1);
}

fn a_deactivated_account_is_reactivated_with_a_new_password(store: &dyn Store) {
    store.create_user(&user(NewLocalpart::Chosen("kim".into())), Some(&login("D", 1, None)), None).unwrap();
    assert!(!store.reactivate_user("kim", "new").unwrap(), "an active account is not reactivated");
    store.deactivate_user("kim", None).unwrap();
    assert!(store.reactivate_user("kim", "new").unwrap());
    let kim = store.user("kim").unwrap().unwrap();
    assert_eq!((kim.deactivated, kim.password_hash.as_deref()), (false, Some("new")));
    assert_eq!(store.access_token(&[1; 32]).unwrap(), None, "its old sessions stay gone");
    assert!(!store.reactivate_user("nobody", "new").unwrap());
}
