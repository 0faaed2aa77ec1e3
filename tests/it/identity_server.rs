//! A real (tiny) identity server on 127.0.0.1 for the 3pid tests: it
//! answers the seed-era v1 API a homeserver calls,
//! `GET /_matrix/identity/api/v1/3pid/getValidated3pid?sid=&client_secret=`
//! and `POST /_matrix/identity/api/v1/3pid/bind` (of validated sessions
//! only), from sessions the test marks validated, and records every request
//! it sees.
//!
//! It can also misbehave, as a compromised or broken server would:
//! redirect every request elsewhere ([`IdentityServer::redirect_to`]), or
//! pad its answers to megabytes ([`IdentityServer::huge_bodies`]).
//!
//! Shared by the domain-level (`accounts_threepids`) and the HTTP-level
//! (`seed_threepids`) tests; it depends on nothing of the server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// What `getValidated3pid` answers as `validated_at` for every session.
pub const VALIDATED_AT: i64 = 1_535_176_800_000;

/// Validated sessions: (sid, client_secret) → (medium, address).
type Sessions = Mutex<HashMap<(String, String), (String, String)>>;

/// An identity server that knows some validated sessions and records binds.
pub struct IdentityServer {
    /// `127.0.0.1:PORT`, what `id_server` and `trusted_servers` name.
    pub address: String,
    validated: Arc<Sessions>,
    /// The JSON body of every `/3pid/bind` request, in order.
    pub binds: Arc<Mutex<Vec<Value>>>,
    /// The request target (path and query) of every request, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
    refuse_binds: Arc<AtomicBool>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
}

/// How the server misbehaves, if it does.
#[derive(Debug, Clone, Default)]
enum Misbehaviour {
    #[default]
    None,
    /// Answer every request with a 302 to the same path on this address.
    Redirect(String),
    /// Answer `getValidated3pid` with a valid answer padded to 1 MiB, sent
    /// without `Content-Length` (the end is the connection's close).
    HugeBodies,
}

struct State {
    sessions: Arc<Sessions>,
    binds: Arc<Mutex<Vec<Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
    refuse_binds: Arc<AtomicBool>,
    misbehaviour: Arc<Mutex<Misbehaviour>>,
}

impl IdentityServer {
    pub fn start() -> IdentityServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let server = IdentityServer {
            address,
            validated: Arc::new(Mutex::new(HashMap::new())),
            binds: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(Mutex::new(Vec::new())),
            refuse_binds: Arc::new(AtomicBool::new(false)),
            misbehaviour: Arc::new(Mutex::new(Misbehaviour::None)),
        };
        let state = State {
            sessions: Arc::clone(&server.validated),
            binds: Arc::clone(&server.binds),
            requests: Arc::clone(&server.requests),
            refuse_binds: Arc::clone(&server.refuse_binds),
            misbehaviour: Arc::clone(&server.misbehaviour),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &state);
            }
        });
        server
    }

    /// Marks the session `sid` / `secret` as having validated `address`.
    pub fn validate(&self, sid: &str, secret: &str, medium: &str, address: &str) {
        self.validated.lock().unwrap().insert((sid.into(), secret.into()), (medium.into(), address.into()));
    }

    /// Makes `/3pid/bind` answer 400 from now on (or 200 again).
    pub fn refuse_binds(&self, refuse: bool) {
        self.refuse_binds.store(refuse, Ordering::SeqCst);
    }

    /// Answers every request from now on with a 302 to the same path and
    /// query on `address` (`127.0.0.1:PORT`).
    pub fn redirect_to(&self, address: &str) {
        *self.misbehaviour.lock().unwrap() = Misbehaviour::Redirect(address.into());
    }

    /// Pads every `getValidated3pid` answer to 1 MiB from now on.
    pub fn huge_bodies(&self) {
        *self.misbehaviour.lock().unwrap() = Misbehaviour::HugeBodies;
    }

    /// `threePidCreds` / `three_pid_creds` naming this server.
    pub fn creds_json(&self, sid: &str, secret: &str) -> Value {
        json!({"id_server": self.address, "sid": sid, "client_secret": secret})
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn binds(&self) -> Vec<Value> {
        self.binds.lock().unwrap().clone()
    }
}

/// `127.0.0.1:PORT` where nothing listens (the port was just released).
pub fn unreachable_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// Answers one HTTP/1.1 request and closes the connection.
fn serve(stream: TcpStream, state: &State) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    let _ = reader.read_exact(&mut body);
    let target = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    state.requests.lock().unwrap().push(target.clone());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query: HashMap<&str, &str> = query.split('&').filter_map(|pair| pair.split_once('=')).collect();

    let misbehaviour = state.misbehaviour.lock().unwrap().clone();
    let mut stream = reader.into_inner();
    match misbehaviour {
        Misbehaviour::None => {}
        Misbehaviour::Redirect(elsewhere) => {
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: http://{elsewhere}{target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        Misbehaviour::HugeBodies => {
            let key =
                (query.get("sid").unwrap_or(&"").to_string(), query.get("client_secret").unwrap_or(&"").to_string());
            let (medium, address) = state.sessions.lock().unwrap().get(&key).cloned().unwrap_or_default();
            let padding = "x".repeat(1024 * 1024);
            let answer =
                json!({"medium": medium, "address": address, "validated_at": VALIDATED_AT, "padding": padding});
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{answer}"
            );
            return;
        }
    }

    let (status, answer) = match path {
        "/_matrix/identity/api/v1/3pid/getValidated3pid" => {
            let key =
                (query.get("sid").unwrap_or(&"").to_string(), query.get("client_secret").unwrap_or(&"").to_string());
            match state.sessions.lock().unwrap().get(&key) {
                Some((medium, address)) => {
                    ("200 OK", json!({"medium": medium, "address": address, "validated_at": VALIDATED_AT}))
                }
                None => ("404 Not Found", json!({"errcode": "M_NO_VALID_SESSION", "error": "No valid session"})),
            }
        }
        "/_matrix/identity/api/v1/3pid/bind" if state.refuse_binds.load(Ordering::SeqCst) => {
            ("400 Bad Request", json!({"errcode": "M_SESSION_NOT_VALIDATED", "error": "Session not validated"}))
        }
        "/_matrix/identity/api/v1/3pid/bind" => {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let key = (
                request["sid"].as_str().unwrap_or_default().to_owned(),
                request["client_secret"].as_str().unwrap_or_default().to_owned(),
            );
            // As a real identity server: only a validated session is bound.
            if state.sessions.lock().unwrap().contains_key(&key) {
                state.binds.lock().unwrap().push(request);
                ("200 OK", json!({}))
            } else {
                ("400 Bad Request", json!({"errcode": "M_SESSION_NOT_VALIDATED", "error": "Session not validated"}))
            }
        }
        _ => ("404 Not Found", json!({"errcode": "M_UNRECOGNIZED"})),
    };
    let answer = answer.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}
