//! Password hashing: argon2id on a few dedicated threads, each reusing
//! its memory.
//!
//! One hash costs ~20 ms of CPU and 19 MiB of memory with the OWASP
//! parameters; it is the ceiling of login and registration throughput.
//! Running it on an async worker would stall every other request on that
//! thread, so hashes run on one thread per core, fed by a queue: a burst of
//! logins waits its turn instead of starting dozens of 19 MiB computations
//! that would only share the same cores.
//!
//! Each thread keeps its 19 MiB of argon2 blocks between hashes (allocating
//! them anew costs ~10% of a hash in page faults) and gives them back after
//! a second without work, so a server that hashed once does not carry the
//! memory while it only checks tokens.
//!
//! Checking a password for an account that does not exist (or has none, like
//! a guest) verifies it against a dummy hash made with the same parameters,
//! so the answer takes as long as for a wrong password and timing does not
//! tell which users exist.
//!
//! A job whose caller has gone (its request was cancelled while the job
//! waited in the queue) is skipped: a burst of abandoned requests does not
//! keep the cores busy for nobody.
//!
//! Hashes made elsewhere verify too: argon2 with other parameters (an older
//! configuration), and bcrypt imported from Synapse, which hashed the
//! NFKC-normalised password followed by its `pepper`. Either answers
//! [`Verified::Outdated`], so that the caller can replace it with a current
//! hash while it holds the password. A bcrypt check (12 rounds: ~0.2 s)
//! is slower than an argon2 one; the difference tells a stranger only that
//! an account was imported and has not logged in since.
//!
//! The hasher also keeps a random key, drawn at start-up and never stored,
//! for [`PasswordHasher::digest`]: a keyed digest that lets a UIA follow-up
//! recognise the password its session already hashed, at the cost of an
//! HMAC instead of an argon2 hash, without giving whoever reads the database
//! anything easier to crack than the argon2 hash itself.

#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::oneshot;
use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

use super::secret::Secret;
use crate::config::Passwords;
use crate::error::{Error, Result};

/// How long a hashing thread keeps its memory without work.
const IDLE_RELEASE: Duration = Duration::from_secs(1);

/// Work for a hashing thread: runs with the thread's reusable memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
    /// A wrong password, or no account to check it against.
    No,
    /// The right password, and a hash made the way new ones are.
    Yes,
    /// The right password, and a hash made otherwise (bcrypt, or argon2
    /// with other parameters): to be replaced while the password is known.
    Outdated,
}

#[derive(Clone)]
pub(crate) struct PasswordHasher {
    params: Params,
    /// Synapse's pepper, for imported bcrypt hashes (`[passwords]`).
    bcrypt_pepper: Arc<str>,
    jobs: Sender<Job>,
    /// A hash of a random password, made on first need (not at start-up,
    /// which should take milliseconds).
    dummy: Arc<OnceLock<String>>,
    /// The key of [`PasswordHasher::digest`]: random, in memory only.
    digest_key: Arc<[u8; 32]>,
    /// How many hashes ([`PasswordHasher::hash`]) were computed, and on how
    /// many threads: what tests check the cost of an operation with.
    #[cfg(test)]
    hashes: Arc<AtomicU64>,
    #[cfg(test)]
    threads: usize,
}

impl PasswordHasher {
    pub(crate) fn new(config: &Passwords) -> anyhow::Result<Self> {
        let params =
            config.argon2_params().map_err(|e| anyhow::anyhow!("invalid argon2 parameters in [passwords]: {e}"))?;
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for index in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || work(&queue))
                .map_err(|e| anyhow::anyhow!("starting a password hashing thread: {e}"))?;
        }
        let mut digest_key = [0u8; 32];
        getrandom::fill(&mut digest_key).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
        Ok(PasswordHasher {
            params,
            bcrypt_pepper: config.bcrypt_pepper.as_str().into(),
            jobs,
            dummy: Arc::new(OnceLock::new()),
            digest_key: Arc::new(digest_key),
            #[cfg(test)]
            hashes: Arc::new(AtomicU64::new(0)),
            #[cfg(test)]
            threads: cores,
        })
    }

    /// `HMAC-SHA256(key, context || 0x00 || password)`, with this process's
    /// key: equal for the same context and password until the server stops.
    pub(crate) fn digest(&self, context: &str, password: &str) -> Vec<u8> {
        self.mac(context, password).finalize().into_bytes().to_vec()
    }

    /// Whether `digest` is [`PasswordHasher::digest`] of `context` and
    /// `password`, compared in constant time.
    pub(crate) fn digest_matches(&self, context: &str, password: &str, digest: &[u8]) -> bool {
        self.mac(context, password).verify_slice(digest).is_ok()
    }

    fn mac(&self, context: &str, password: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key[..]).expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac
    }

    /// How many password hashes this hasher has computed (verifications
    /// not included).
    #[cfg(test)]
    pub(crate) fn hashes_made(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    pub(crate) async fn hash(&self, password: Secret) -> Result<String> {
        let params = self.params.clone();
        #[cfg(test)]
        let hashes = Arc::clone(&self.hashes);
        self.run(move |memory| {
            #[cfg(test)]
            hashes.fetch_add(1, Ordering::Relaxed);
            hash_with(&params, password.expose(), memory)
        })
        .await
    }

    /// Whether `password` matches `phc` (an argon2 PHC string or a bcrypt
    /// hash); `None` (no such account, or no password) costs what an
    /// argon2 check costs and answers [`Verified::No`].
    pub(crate) async fn verify(&self, password: Secret, phc: Option<String>) -> Result<Verified> {
        let params = self.params.clone();
        let dummy = Arc::clone(&self.dummy);
        let pepper = Arc::clone(&self.bcrypt_pepper);
        self.run(move |memory| {
            let (phc, real) = match phc {
                Some(phc) => (phc, true),
                None => (dummy_hash(&params, &dummy, memory)?, false),
            };
            // Verify first: `real && verify(..)` would skip the work for a
            // dummy and give the timing away.
            let (matches, current) = if is_bcrypt(&phc) {
                (verify_bcrypt(&phc, password.expose(), &pepper)?, false)
            } else {
                (verify_with(&phc, password.expose(), memory)?, made_with(&phc, &params))
            };
            Ok(match (matches && real, current) {
                (false, _) => Verified::No,
                (true, true) => Verified::Yes,
                (true, false) => Verified::Outdated,
            })
        })
        .await
    }

    /// Queues `work` for a hashing thread and waits for its answer.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce(&mut Memory) -> Result<T> + Send + 'static) -> Result<T> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // The caller has gone (its request was cancelled): nobody wants
            // the answer, so do not spend a core on it.
            if answer.is_closed() {
                return;
            }
            // It may still go while the work runs.
            let _ = answer.send(work(memory));
        });
        self.jobs.send(job).map_err(|_| Error::internal("the password hashing threads are gone"))?;
        answered.await.map_err(|_| Error::internal("a password hashing thread failed"))?
    }
}

/// A hashing thread: takes jobs until the server drops its hasher.
fn work(queue: &Receiver<Job>) {
    let mut memory = Memory::default();
    loop {
        match queue.recv_timeout(IDLE_RELEASE) {
            Ok(job) => job(&mut memory),
            Err(RecvTimeoutError::Timeout) => memory.release(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The argon2 blocks of one thread, grown to the largest parameters seen.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    fn for_params(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks = vec![Block::default(); needed];
        }
        &mut self.blocks[..needed]
    }

    fn release(&mut self) {
        self.blocks = Vec::new();
    }
}

fn hash_with(params: &Params, password: &str, memory: &mut Memory) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| Error::internal(format!("argon2 failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN), |out| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, memory.for_params(params))?;
        Ok(())
    })
    .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` hashes to `phc`, with the parameters `phc` names
/// (they may predate a change of configuration).
fn verify_with(phc: &str, password: &str, memory: &mut Memory) -> Result<bool> {
    let unreadable = |e: &dyn std::fmt::Display| Error::internal(format!("unreadable password hash: {e}"));
    let parsed = PasswordHash::new(phc).map_err(|e| unreadable(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| unreadable(&e))?;
    let version = parsed.version.map(Version::try_from).transpose().map_err(|e| unreadable(&e))?.unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(unreadable(&"no salt or no hash"));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| unreadable(&e))?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = Output::init_with(expected.len(), |out| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, memory.for_params(&params))?;
        Ok(())
    })
    .map_err(|e| Error::internal(format!("argon2 failed: {e}")))?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

/// `$2a$`, `$2b$` or `$2y$`: a bcrypt hash (Synapse writes `$2b$`).
fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| hash.starts_with(prefix))
}

/// Synapse's check: bcrypt over the NFKC form of the password followed by
/// the pepper, of which bcrypt reads the first 72 bytes (as Synapse's
/// library did when it made the hash).
fn verify_bcrypt(hash: &str, password: &str, pepper: &str) -> Result<bool> {
    let mut input: Zeroizing<Vec<u8>> = Zeroizing::new(password.nfkc().collect::<String>().into_bytes());
    input.extend_from_slice(pepper.as_bytes());
    bcrypt::verify(&input[..], hash).map_err(|e| Error::internal(format!("unreadable bcrypt hash: {e}")))
}

/// Whether `phc` is an argon2id hash made with `params`: what a new hash
/// would be made with. Anything else is worth replacing.
fn made_with(phc: &str, params: &Params) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let Ok(theirs) = Params::try_from(&parsed) else { return false };
    parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && (theirs.m_cost(), theirs.t_cost(), theirs.p_cost()) == (params.m_cost(), params.t_cost(), params.p_cost())
}

fn dummy_hash(params: &Params, dummy: &OnceLock<String>, memory: &mut Memory) -> Result<String> {
    if let Some(hash) = dummy.get() {
        return Ok(hash.clone());
    }
    let password = super::ids::uia_session_id()?;
    let hash = hash_with(params, &password, memory)?;
    Ok(dummy.get_or_init(|| hash).clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parameters cheap enough for tests (the defaults take ~20 ms a hash).
    pub(crate) fn fast() -> Passwords {
        Passwords { memory_kib: 64, iterations: 1, parallelism: 1, ..Passwords::default() }
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings() {
        use argon2::PasswordVerifier as _;
        let hasher = PasswordHasher::new(&fast()).unwrap();
        let hash = hasher.hash("hunter2".into()).await.unwrap();
        // Any argon2 implementation reads it: here, the crate's own verifier.
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"hunter2", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"hunter3", &parsed).is_err());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        use argon2::PasswordHasher as _;
        let old = Params::new(128, 2, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, old).hash_password(b"hunter2", &salt).unwrap();
        let hasher = PasswordHasher::new(&fast()).unwrap();
        assert_eq!(hasher.verify("hunter2".into(), Some(phc.to_string())).await.unwrap(), Verified::Outdated);
        assert_eq!(hasher.verify("hunter3".into(), Some(phc.to_string())).await.unwrap(), Verified::No);
    }

    /// Hashes made by Python's `bcrypt` 5.0 the way Synapse makes them:
    /// `bcrypt.hashpw(unicodedata.normalize("NFKC", password).encode("utf8")
    /// + pepper.encode("utf8"), bcrypt.gensalt(4))` (4 rounds: a fast test).
    const SYNAPSE_HASHES: [(&str, &str, &str); 3] = [
        ("correct horse battery staple", "", "$2b$04$p39dkXcWpEwXTgB.eVV.puRxNUjqYuGiRs76NtzSnTbpzeHuuy9tO"),
        (
            "correct horse battery staple",
            "pepper-of-synapse",
            "$2b$04$Nk.LtYzZbTaWFma3yL1fyuBg4Pnp4n/FisFWm6.tL51MKsB4z0lwO",
        ),
        ("\u{fb01}sh A\u{30a}", "", "$2b$04$dCAIbyNe2hQtUw.iGQuXz.Tl0JxIQhkJbzQmA7pQRPua6aeUBQ4eS"),
    ];

    #[tokio::test]
    async fn synapse_bcrypt_hashes_verify_with_their_pepper_and_are_outdated() {
        for (password, pepper, hash) in SYNAPSE_HASHES {
            let hasher = PasswordHasher::new(&Passwords { bcrypt_pepper: pepper.into(), ..fast() }).unwrap();
            let verified = hasher.verify(password.into(), Some(hash.into())).await.unwrap();
            assert_eq!(verified, Verified::Outdated, "{password:?} with pepper {pepper:?}");
            let wrong = hasher.verify(format!("{password}!").into(), Some(hash.into())).await.unwrap();
            assert_eq!(wrong, Verified::No, "{password:?}");
        }
        // Without the pepper Synapse used, the right password fails.
        let hasher = PasswordHasher::new(&fast()).unwrap();
        let (password, _, hash) = SYNAPSE_HASHES[1];
        assert_eq!(hasher.verify(password.into(), Some(hash.into())).await.unwrap(), Verified::No);
        // NFKC: the ligature "ﬁ" and "fi", a composed and a decomposed "Å",
        // are one password, as they were for Synapse.
        let (_, _, hash) = SYNAPSE_HASHES[2];
        assert_eq!(hasher.verify("fish \u{c5}".into(), Some(hash.into())).await.unwrap(), Verified::Outdated);
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(&fast()).unwrap();
        let hash = hasher.hash("hunter2".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_eq!(hasher.verify("hunter2".into(), Some(hash.clone())).await.unwrap(), Verified::Yes);
        assert_eq!(hasher.verify("hunter3".into(), Some(hash)).await.unwrap(), Verified::No);
        assert_eq!(hasher.verify("hunter2".into(), None).await.unwrap(), Verified::No);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_job_whose_caller_has_gone_is_skipped() {
        let hasher = PasswordHasher::new(&fast()).unwrap();
        // Occupy every hashing thread until released.
        let (started, all_started) = std::sync::mpsc::channel();
        let (release, released) = crossbeam_channel::unbounded::<()>();
        let blockers: Vec<_> = (0..hasher.threads)
            .map(|_| {
                let (hasher, started, released) = (hasher.clone(), started.clone(), released.clone());
                tokio::spawn(async move {
                    hasher
                        .run(move |_| {
                            started.send(()).unwrap();
                            // Err once `release` is dropped: the signal.
                            let _ = released.recv();
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for _ in 0..hasher.threads {
            all_started.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // Queued behind them, then abandoned by its caller.
        let abandoned = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("abandoned".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());
        drop(release);
        for blocker in blockers {
            blocker.await.unwrap().unwrap();
        }
        hasher.hash("wanted".into()).await.unwrap();
        assert_eq!(hasher.hashes_made(), 1, "the abandoned hash was computed");
    }

    #[test]
    fn digests_are_keyed_and_bound_to_their_context() {
        let hasher = PasswordHasher::new(&fast()).unwrap();
        let digest = hasher.digest("session", "hunter2");
        assert_eq!(digest.len(), 32);
        assert!(hasher.digest_matches("session", "hunter2", &digest));
        assert!(!hasher.digest_matches("session", "hunter3", &digest));
        assert!(!hasher.digest_matches("other", "hunter2", &digest));
        // The separator: ("ab", "c") is not ("a", "bc").
        assert!(!hasher.digest_matches("sessio", "nhunter2", &digest));
        assert!(!hasher.digest_matches("session", "hunter2", &digest[..31]));
        // Another process (a restart) has another key.
        let restarted = PasswordHasher::new(&fast()).unwrap();
        assert!(!restarted.digest_matches("session", "hunter2", &digest));
    }

    #[test]
    fn the_defaults_are_owasp() {
        let defaults = Passwords::default();
        assert_eq!((defaults.memory_kib, defaults.iterations, defaults.parallelism), (19 * 1024, 2, 1));
        assert!(PasswordHasher::new(&Passwords { memory_kib: 1, ..defaults }).is_err());
    }
}
