//! argon2id hashing on blocking threads, with a bound on how many run at once.

use std::{
    fmt,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use argon2::{
    Argon2, Params,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};

/// A password as typed, NFC-normalised. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Normalises to NFC, so that the same password typed on two keyboards hashes alike.
    pub fn new(raw: &str) -> Self {
        use unicode_normalization::UnicodeNormalization;
        Self(raw.nfc().collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the password hashing pool is gone, or a hashing job panicked")]
    PoolUnavailable,
    /// More hashes are waiting than the queue allows: answer "busy" now rather than in seconds.
    #[error("too many password hashes are waiting")]
    Busy,
}

/// The result of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Valid {
        /// The stored hash uses older parameters than today's: store a fresh hash.
        needs_rehash: bool,
    },
    Invalid,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Hashes and verifies passwords on a small pool of dedicated threads, one per core by default:
/// a burst of logins queues there instead of starving page views. The threads run at a lower CPU
/// priority, so when page views and hashing compete for a core, page views win; when nothing else
/// runs, hashing still uses every core. Cloning shares the pool; it stops when the last clone drops.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Jobs sent but not yet started.
    waiting: Arc<AtomicUsize>,
    /// The most that may wait; `0` for no bound.
    queue_limit: usize,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(cores(), 0)
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl PasswordHasher {
    pub fn new(threads: usize, queue_limit: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || {
                lower_this_threads_priority();
                loop {
                    // The lock is held only while waiting for the next job, not while hashing.
                    let next = queue.lock().map(|queue| queue.recv());
                    let Ok(Ok(job)) = next else { break };
                    // A panicking job loses its answer (the caller sees PoolUnavailable), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            if let Err(error) = spawned {
                log::error!("could not start a password hashing thread: {error}");
            }
        }
        Self { jobs, waiting: Arc::new(AtomicUsize::new(0)), queue_limit }
    }

    /// argon2id with the crate's defaults (m=19456 KiB, t=2, p=1: the OWASP minimum) and a random salt.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run(move || hash_now(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no user, so that
    /// an unknown name and a wrong password cost the same time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<Verification, PasswordError> {
        self.run(move || {
            let known_user = stored.is_some();
            let hash = match stored {
                Some(hash) => hash,
                None => dummy_hash()?.to_owned(),
            };
            let verification = verify_now(&password, &hash);
            Ok(if known_user { verification } else { Verification::Invalid })
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let waiting_before = self.waiting.fetch_add(1, Ordering::SeqCst);
        if self.queue_limit > 0 && waiting_before >= self.queue_limit {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(PasswordError::Busy);
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let waiting = Arc::clone(&self.waiting);
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::SeqCst);
            let _ = answer.send(work());
        });
        if self.jobs.send(job).is_err() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(PasswordError::PoolUnavailable);
        }
        answered.await.map_err(|_| PasswordError::PoolUnavailable)
    }
}

/// Nice 10 for the calling thread (on Linux the nice value is per thread), so hashing yields the CPU
/// to request handling. Best effort: elsewhere, or if refused, hashing just runs at normal priority.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who = 0` names the calling thread.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if result != 0 {
            log::debug!("could not lower the priority of a hashing thread");
        }
    }
}

fn hash_now(password: &Password) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Argon2(e.to_string()))
}

fn verify_now(password: &Password, stored: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(stored) else {
        log::error!("a stored password hash is not a valid PHC string");
        return Verification::Invalid;
    };
    match Argon2::default().verify_password(password.expose().as_bytes(), &parsed) {
        Ok(()) => Verification::Valid { needs_rehash: needs_rehash(&parsed) },
        Err(_) => Verification::Invalid,
    }
}

fn needs_rehash(parsed: &PasswordHash) -> bool {
    let current = Params::default();
    let algorithm_is_current = parsed.algorithm.as_str() == "argon2id";
    match Params::try_from(parsed) {
        Ok(params) => {
            !algorithm_is_current
                || params.m_cost() < current.m_cost()
                || params.t_cost() < current.t_cost()
                || params.p_cost() < current.p_cost()
        }
        Err(_) => true,
    }
}

/// A hash of a random string, made once per process, for users who do not exist.
fn dummy_hash() -> Result<&'static str, PasswordError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| PasswordError::Argon2(e.to_string()))?;
    let hash = hash_now(&Password(hex::encode(random)))?;
    Ok(DUMMY.get_or_init(|| hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once_and_frees_up_as_jobs_start() {
        let hasher = PasswordHasher::new(1, 1);
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let running = {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let _ = started.send(());
                        blocked.recv().is_ok()
                    })
                    .await
            })
        };
        // The blocking job is running (it no longer counts as waiting).
        has_started.await.unwrap();
        let queued = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.run(|| 2).await })
        };
        while hasher.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(hasher.run(|| 3).await, Err(PasswordError::Busy)), "one waits already: full");
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        assert_eq!(hasher.run(|| 4).await.unwrap(), 4, "room again once the queue drained");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hasher = PasswordHasher::new(2, 0);
        let hash = hasher.hash(Password::new("correct horse battery staple")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        let ok = hasher.verify(Password::new("correct horse battery staple"), Some(hash.clone())).await;
        assert_eq!(ok.unwrap(), Verification::Valid { needs_rehash: false });
        let wrong = hasher.verify(Password::new("correct horse battery stapler"), Some(hash)).await;
        assert_eq!(wrong.unwrap(), Verification::Invalid);
    }

    #[tokio::test]
    async fn an_unknown_user_is_checked_against_a_dummy_hash_and_fails() {
        let hasher = PasswordHasher::new(1, 0);
        let result = hasher.verify(Password::new("whatever it is here"), None).await.unwrap();
        assert_eq!(result, Verification::Invalid);
    }

    #[tokio::test]
    async fn nfc_and_nfd_spellings_of_one_password_match() {
        let hasher = PasswordHasher::new(1, 0);
        let composed = "caf\u{e9} au lait tous les jours";
        let decomposed = "cafe\u{301} au lait tous les jours";
        let hash = hasher.hash(Password::new(composed)).await.unwrap();
        let result = hasher.verify(Password::new(decomposed), Some(hash)).await.unwrap();
        assert!(matches!(result, Verification::Valid { .. }));
    }

    #[tokio::test]
    async fn a_hash_with_weaker_parameters_asks_to_be_rehashed() {
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"an old password of mine")
        .unwrap()
        .to_string();
        let result = PasswordHasher::new(1, 0)
            .verify(Password::new("an old password of mine"), Some(weak))
            .await
            .unwrap();
        assert_eq!(result, Verification::Valid { needs_rehash: true });
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert_eq!(format!("{:?}", Password::new("hunter2hunter2")), "Password([redacted])");
    }
}
