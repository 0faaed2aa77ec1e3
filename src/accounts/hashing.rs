//! Password hashing: argon2id, off the async runtime, a bounded number at once.
//!
//! One hash costs ~20 ms of CPU and 19 MiB of memory with the OWASP
//! parameters; it is the ceiling of login and registration throughput.
//! Running it on an async worker would stall every other request on that
//! thread, so each hash runs on a blocking thread; a semaphore sized to the
//! number of cores keeps a burst of logins from spawning dozens of 19 MiB
//! computations that would only queue for the same cores.
//!
//! Checking a password for an account that does not exist (or has none, like
//! a guest) verifies it against a dummy hash made with the same parameters,
//! so the answer takes as long as for a wrong password and timing does not
//! tell which users exist.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Passwords;
use crate::error::{Error, Result};

#[derive(Clone)]
pub(crate) struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// A hash of a random password, made on first need (not at start-up,
    /// which should take milliseconds).
    dummy: Arc<OnceLock<String>>,
}

impl PasswordHasher {
    pub(crate) fn new(config: &Passwords) -> anyhow::Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters in [passwords]: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(OnceLock::new()),
        })
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    pub(crate) async fn hash(&self, password: String) -> Result<String> {
        let argon2 = self.argon2.clone();
        self.run(move || hash_with(&argon2, &password)).await
    }

    /// Whether `password` matches `phc`; `None` (no such account, or no
    /// password) costs the same and answers `false`.
    pub(crate) async fn verify(&self, password: String, phc: Option<String>) -> Result<bool> {
        let argon2 = self.argon2.clone();
        let dummy = Arc::clone(&self.dummy);
        self.run(move || {
            let (phc, real) = match phc {
                Some(phc) => (phc, true),
                None => (dummy_hash(&argon2, &dummy)?, false),
            };
            let parsed =
                PasswordHash::new(&phc).map_err(|e| Error::internal(format!("unreadable password hash: {e}")))?;
            // Verify first: `real && verify(..)` would skip the work for a
            // dummy and give the timing away.
            let matches = argon2.verify_password(password.as_bytes(), &parsed).is_ok();
            Ok(matches && real)
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(Error::internal)?
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("argon2 failed: {e}")))
}

fn dummy_hash(argon2: &Argon2<'_>, dummy: &OnceLock<String>) -> Result<String> {
    if let Some(hash) = dummy.get() {
        return Ok(hash.clone());
    }
    let password = super::ids::uia_session_id()?;
    let hash = hash_with(argon2, &password)?;
    Ok(dummy.get_or_init(|| hash).clone())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parameters cheap enough for tests (the defaults take ~20 ms a hash).
    pub(crate) fn fast() -> Passwords {
        Passwords { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::new(&fast()).unwrap();
        let hash = hasher.hash("hunter2".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(hasher.verify("hunter2".into(), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify("hunter3".into(), Some(hash)).await.unwrap());
        assert!(!hasher.verify("hunter2".into(), None).await.unwrap());
    }

    #[test]
    fn the_defaults_are_owasp() {
        let defaults = Passwords::default();
        assert_eq!((defaults.memory_kib, defaults.iterations, defaults.parallelism), (19 * 1024, 2, 1));
        assert!(PasswordHasher::new(&Passwords { memory_kib: 1, ..defaults }).is_err());
    }
}
