//! The columns both engines select, in the order their row mappers
//! (`*_from_row` in `sqlite/` and `postgres/`) read them: one list per
//! record, so that the two engines cannot drift apart.

pub(super) const USER_COLUMNS: &str = "localpart, password_hash, is_guest, deactivated, admin, created_at";

pub(super) const DEVICE_COLUMNS: &str = "device_id, display_name, last_seen_ip, last_seen_ts";

pub(super) const THREEPID_COLUMNS: &str = "medium, address, validated_at, added_at, id_server";

pub(super) const TOKEN_COLUMNS: &str = "token, uses_allowed, pending, completed, expiry_time";

pub(super) const EMAIL_SESSION_COLUMNS: &str = "sid, client_secret, address, purpose, send_attempt, token_hash, \
    failed_attempts, next_link, created_at, expires_at, validated_at";
