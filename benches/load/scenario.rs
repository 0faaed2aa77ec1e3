//! What each scenario sends, and how every answer is checked.
//!
//! A check looks at the status and the body: whoami must name the user the
//! token belongs to, login must return a token for the right user, register
//! must return the user it was asked to create, account/3pid must be
//! `{"threepids": [...]}`, and the static scenario must get the exact fixed
//! body. Anything else is an error, counted by kind with one example.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::ValueEnum;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::client::{Answer, Connection, bearer};

pub const WHOAMI_PATH: &str = "/_matrix/client/v3/account/whoami";
const THREEPID_PATH: &str = "/_matrix/client/v3/account/3pid";
const LOGIN_PATH: &str = "/_matrix/client/v3/login";
const REGISTER_PATH: &str = "/_matrix/client/v3/register";

/// The fixed body of the limit servers, and what `static` expects.
pub const STATIC_BODY: &str = r#"{"user_id":"@bench:localhost","device_id":"BENCH","is_guest":false}"#;

/// The default blend of `mixed`, in parts per 10,000 requests: a client
/// that is logged in checks its token and reads its account far more often
/// than it logs in, and registers once in its life. Login and register are
/// weighted so that at ~70k req/s they would ask for ~100 argon2 hashes a
/// second, the hash rate of this machine: the blend stresses both limits.
pub const DEFAULT_MIX: &str = "whoami=7500,threepid_list=2486,login=10,register=4";

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Scenario {
    /// Two-step UIA registration of new, unique users (one "request" = both steps).
    Register,
    /// Password login of the pre-registered users.
    Login,
    /// GET account/whoami, rotating over the pre-registered tokens.
    Whoami,
    /// GET account/3pid, rotating over the pre-registered tokens.
    ThreepidList,
    /// A blend of the four (see --mix).
    Mixed,
    /// GET a fixed path expecting the limit servers' fixed body.
    Static,
    /// Only register --users accounts (write them with --accounts-out); measures nothing.
    Prepare,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Register => "register",
            Scenario::Login => "login",
            Scenario::Whoami => "whoami",
            Scenario::ThreepidList => "threepid_list",
            Scenario::Mixed => "mixed",
            Scenario::Static => "static",
            Scenario::Prepare => "prepare",
        }
    }

    /// Whether the scenario needs existing accounts.
    pub fn needs_accounts(self) -> bool {
        matches!(self, Scenario::Login | Scenario::Whoami | Scenario::ThreepidList | Scenario::Mixed)
    }
}

/// One kind of operation; a scenario is a choice among them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    Register,
    Login,
    Whoami,
    ThreepidList,
    Static,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Register, Op::Login, Op::Whoami, Op::ThreepidList, Op::Static];

    pub fn name(self) -> &'static str {
        match self {
            Op::Register => "register",
            Op::Login => "login",
            Op::Whoami => "whoami",
            Op::ThreepidList => "threepid_list",
            Op::Static => "static",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// HTTP requests one operation sends.
    pub fn http_requests(self) -> u64 {
        if self == Op::Register { 2 } else { 1 }
    }
}

/// Weights of the operations, in `Op` order.
#[derive(Clone, Debug)]
pub struct Mix {
    weights: [u32; 5],
    total: u32,
}

impl Mix {
    pub fn for_scenario(scenario: Scenario, mix: &str) -> anyhow::Result<Mix> {
        let mut weights = [0u32; 5];
        match scenario {
            Scenario::Register | Scenario::Prepare => weights[Op::Register.index()] = 1,
            Scenario::Login => weights[Op::Login.index()] = 1,
            Scenario::Whoami => weights[Op::Whoami.index()] = 1,
            Scenario::ThreepidList => weights[Op::ThreepidList.index()] = 1,
            Scenario::Static => weights[Op::Static.index()] = 1,
            Scenario::Mixed => {
                for part in mix.split(',').map(str::trim).filter(|part| !part.is_empty()) {
                    let (name, weight) =
                        part.split_once('=').with_context(|| format!("--mix part {part:?}: NAME=WEIGHT"))?;
                    let op = Op::ALL
                        .into_iter()
                        .find(|op| op.name() == name && *op != Op::Static)
                        .with_context(|| format!("--mix: unknown operation {name:?}"))?;
                    weights[op.index()] = weight.parse().with_context(|| format!("--mix weight {weight:?}"))?;
                }
            }
        }
        let total = weights.iter().sum();
        if total == 0 {
            bail!("--mix gives every operation weight 0");
        }
        Ok(Mix { weights, total })
    }

    pub fn pick(&self, rng: &mut Rng) -> Op {
        if let Some(only) = self.only() {
            return only;
        }
        let mut roll = (rng.next() % u64::from(self.total)) as u32;
        for op in Op::ALL {
            let weight = self.weights[op.index()];
            if roll < weight {
                return op;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total weight")
    }

    fn only(&self) -> Option<Op> {
        let mut nonzero = Op::ALL.into_iter().filter(|op| self.weights[op.index()] > 0);
        let first = nonzero.next()?;
        nonzero.next().is_none().then_some(first)
    }

    pub fn describe(&self) -> String {
        Op::ALL
            .into_iter()
            .filter(|op| self.weights[op.index()] > 0)
            .map(|op| {
                format!("{} {:.2}%", op.name(), 100.0 * f64::from(self.weights[op.index()]) / f64::from(self.total))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn uses(&self, op: Op) -> bool {
        self.weights[op.index()] > 0
    }
}

/// SplitMix64: enough randomness to pick operations, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A short random tag that keeps this run's usernames apart from earlier runs'.
pub fn run_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(nanos ^ u64::from(std::process::id()).rotate_left(32));
    format!("{:08x}", rng.next() as u32)
}

/// A registered account the load uses.
#[derive(Clone)]
pub struct Account {
    pub user_id: String,
    pub localpart: String,
    pub token: String,
    pub auth: HeaderValue,
}

impl Account {
    pub fn new(user_id: String, token: String) -> anyhow::Result<Account> {
        let localpart = user_id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
            .map(|(localpart, _)| localpart.to_owned())
            .with_context(|| format!("{user_id:?} is not a user ID"))?;
        let auth = bearer(&token);
        Ok(Account { user_id, localpart, token, auth })
    }
}

/// Reads `USER_ID TOKEN` lines (what `--accounts-out` and `seed` write).
pub fn read_accounts(path: &Path) -> anyhow::Result<Vec<Account>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (user_id, token) = line
                .split_once(char::is_whitespace)
                .with_context(|| format!("{}: bad line {line:?}", path.display()))?;
            Account::new(user_id.to_owned(), token.trim().to_owned())
        })
        .collect()
}

pub fn write_accounts(path: &Path, accounts: &[Account]) -> anyhow::Result<()> {
    let mut text = String::new();
    for account in accounts {
        text.push_str(&account.user_id);
        text.push(' ');
        text.push_str(&account.token);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What every worker shares.
pub struct Shared {
    pub accounts: Vec<Account>,
    pub password: String,
    pub run_id: String,
    pub mix: Mix,
    pub static_path: &'static str,
    pub static_body: Bytes,
    pub static_auth: HeaderValue,
}

/// Why an answer did not pass.
#[derive(Debug)]
pub struct Failure {
    /// `"whoami: status 401"`, `"login: body"`, `"register: transport"`…
    pub kind: String,
    /// One example (the body, or the error), cut short.
    pub detail: String,
    /// The connection is unusable: the worker reconnects.
    pub broken: bool,
}

impl Failure {
    pub fn transport(op: Op, error: &anyhow::Error) -> Failure {
        Failure { kind: format!("{}: transport", op.name()), detail: format!("{error:#}"), broken: true }
    }

    pub fn timeout(op: Op) -> Failure {
        Failure { kind: format!("{}: timeout", op.name()), detail: "no answer within --timeout".into(), broken: true }
    }

    fn answer(op: Op, what: &str, answer: &Answer) -> Failure {
        let body = String::from_utf8_lossy(&answer.body);
        let mut detail = format!("HTTP {} {}", answer.status.as_u16(), body);
        if detail.len() > 300 {
            let mut cut = 300;
            while !detail.is_char_boundary(cut) {
                cut -= 1;
            }
            detail.truncate(cut);
            detail.push('…');
        }
        Failure { kind: format!("{}: {what}", op.name()), detail, broken: false }
    }
}

fn expect_status(op: Op, answer: &Answer, status: StatusCode) -> Result<(), Failure> {
    if answer.status == status {
        Ok(())
    } else {
        Err(Failure::answer(op, &format!("status {} (expected {})", answer.status.as_u16(), status.as_u16()), answer))
    }
}

fn parse<'a, T: Deserialize<'a>>(op: Op, answer: &'a Answer) -> Result<T, Failure> {
    serde_json::from_slice(&answer.body).map_err(|_| Failure::answer(op, "body does not parse", answer))
}

#[derive(Deserialize)]
struct UserIdOnly<'a> {
    #[serde(borrow)]
    user_id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Credentials<'a> {
    #[serde(borrow)]
    user_id: Cow<'a, str>,
    #[serde(borrow)]
    access_token: Cow<'a, str>,
    #[serde(borrow)]
    device_id: Cow<'a, str>,
}

/// Only the shape is checked: an object whose `threepids` is an array.
#[derive(Deserialize)]
struct Threepids {
    #[serde(rename = "threepids")]
    _threepids: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct UiaChallenge {
    session: String,
    flows: Vec<UiaFlow>,
}

#[derive(Deserialize)]
struct UiaFlow {
    stages: Vec<String>,
}

/// Per-worker state an operation may need.
pub struct WorkerState {
    pub worker: usize,
    pub next_account: usize,
    pub registered: u64,
}

impl WorkerState {
    pub fn new(worker: usize, workers: usize, accounts: usize) -> WorkerState {
        // Start each worker at its own place in the rotation.
        let next_account = if accounts == 0 { 0 } else { worker * accounts / workers.max(1) };
        WorkerState { worker, next_account, registered: 0 }
    }

    fn account<'a>(&mut self, shared: &'a Shared) -> &'a Account {
        let account = &shared.accounts[self.next_account % shared.accounts.len()];
        self.next_account = self.next_account.wrapping_add(1);
        account
    }
}

/// Sends one operation and checks its answers. Returns the account a
/// registration created.
pub async fn execute(
    op: Op,
    conn: &mut Connection,
    shared: &Shared,
    state: &mut WorkerState,
) -> Result<Option<Account>, Failure> {
    let transport = |error: anyhow::Error| Failure::transport(op, &error);
    match op {
        Op::Whoami => {
            let account = state.account(shared);
            let answer = conn.get(WHOAMI_PATH, Some(&account.auth)).await.map_err(transport)?;
            expect_status(op, &answer, StatusCode::OK)?;
            let body: UserIdOnly<'_> = parse(op, &answer)?;
            if body.user_id != account.user_id {
                return Err(Failure::answer(op, "wrong user_id", &answer));
            }
            Ok(None)
        }
        Op::ThreepidList => {
            let account = state.account(shared);
            let answer = conn.get(THREEPID_PATH, Some(&account.auth)).await.map_err(transport)?;
            expect_status(op, &answer, StatusCode::OK)?;
            let _: Threepids = parse(op, &answer)?;
            Ok(None)
        }
        Op::Static => {
            let answer = conn.get(shared.static_path, Some(&shared.static_auth)).await.map_err(transport)?;
            expect_status(op, &answer, StatusCode::OK)?;
            if answer.body != shared.static_body {
                return Err(Failure::answer(op, "body differs from the fixed body", &answer));
            }
            Ok(None)
        }
        Op::Login => {
            let account = state.account(shared);
            let request = json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": account.localpart},
                "password": shared.password,
            });
            let answer = conn.post(LOGIN_PATH, serde_json::to_vec(&request).expect("JSON")).await.map_err(transport)?;
            expect_status(op, &answer, StatusCode::OK)?;
            let body: Credentials<'_> = parse(op, &answer)?;
            if body.user_id != account.user_id {
                return Err(Failure::answer(op, "wrong user_id", &answer));
            }
            if body.access_token.is_empty() || body.device_id.is_empty() {
                return Err(Failure::answer(op, "empty access_token or device_id", &answer));
            }
            Ok(None)
        }
        Op::Register => {
            let username = format!("b{}w{}n{}", shared.run_id, state.worker, state.registered);
            state.registered += 1;
            register(conn, &username, &shared.password).await.map(Some)
        }
    }
}

/// The two steps of a v3 registration with `m.login.dummy`.
pub async fn register(conn: &mut Connection, username: &str, password: &str) -> Result<Account, Failure> {
    let op = Op::Register;
    let transport = |error: anyhow::Error| Failure::transport(op, &error);
    let first = json!({"username": username, "password": password});
    let answer = conn.post(REGISTER_PATH, serde_json::to_vec(&first).expect("JSON")).await.map_err(transport)?;
    expect_status(op, &answer, StatusCode::UNAUTHORIZED)?;
    let challenge: UiaChallenge = parse(op, &answer)?;
    if !challenge.flows.iter().any(|flow| flow.stages == ["m.login.dummy"]) {
        return Err(Failure::answer(op, "no m.login.dummy flow (registration tokens configured?)", &answer));
    }
    let second = json!({
        "username": username,
        "password": password,
        "auth": {"type": "m.login.dummy", "session": challenge.session},
    });
    let answer = conn.post(REGISTER_PATH, serde_json::to_vec(&second).expect("JSON")).await.map_err(transport)?;
    expect_status(op, &answer, StatusCode::OK)?;
    let body: Credentials<'_> = parse(op, &answer)?;
    let expected = format!("@{username}:");
    if !body.user_id.starts_with(&expected) {
        return Err(Failure::answer(op, "wrong user_id", &answer));
    }
    if body.access_token.is_empty() {
        return Err(Failure::answer(op, "empty access_token", &answer));
    }
    Account::new(body.user_id.into_owned(), body.access_token.into_owned()).map_err(|error| Failure {
        kind: "register: user_id".into(),
        detail: format!("{error:#}"),
        broken: false,
    })
}

/// Registers `count` accounts through the API, a few at a time (each costs
/// two password hashes on the server). Not measured.
pub async fn prepare_accounts(
    target: &crate::client::Target,
    count: usize,
    password: &str,
    run_id: &str,
    parallel: usize,
) -> anyhow::Result<Vec<Account>> {
    let parallel = parallel.clamp(1, count.max(1));
    let password: Arc<str> = password.into();
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let target = target.clone();
        let password = Arc::clone(&password);
        let run_id = run_id.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(&target).await?;
            let mut accounts = Vec::new();
            for index in (worker..count).step_by(parallel) {
                let username = format!("p{run_id}n{index}");
                match register(&mut conn, &username, &password).await {
                    Ok(account) => accounts.push((index, account)),
                    Err(failure) => bail!("preparing account {username}: {} — {}", failure.kind, failure.detail),
                }
            }
            anyhow::Ok(accounts)
        }));
    }
    let mut accounts = Vec::with_capacity(count);
    for task in tasks {
        accounts.extend(task.await??);
    }
    accounts.sort_by_key(|(index, _)| *index);
    Ok(accounts.into_iter().map(|(_, account)| account).collect())
}
