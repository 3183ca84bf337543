//! argon2id hashing on blocking threads, with a bound on how many run at once.

use std::{
    cell::RefCell,
    fmt,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
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

/// A hashing thread keeps its working memory (`WORKING_MEMORY`) between jobs, and gives it back to
/// the system once no job has come for this long: busy, logins skip the page faults; idle, the
/// process shrinks by a block per hashing thread.
const KEEP_MEMORY_WHILE_IDLE: Duration = Duration::from_secs(10);

/// Hashes and verifies passwords on a small pool of dedicated threads, one per core by default:
/// a burst of logins queues there instead of starving page views. The threads run at a lower CPU
/// priority, so when page views and hashing compete for a core, page views win; when nothing else
/// runs, hashing still uses every core. Cloning shares the pool; it stops when the last clone drops.
#[derive(Clone)]
pub struct PasswordHasher {
    jobs: flume::Sender<Job>,
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
        Self::keeping_memory_for(threads, queue_limit, KEEP_MEMORY_WHILE_IDLE)
    }

    fn keeping_memory_for(threads: usize, queue_limit: usize, keep_while_idle: Duration) -> Self {
        // flume, not std's mpsc: every thread waits on the queue with its own timeout (no lock around
        // one receiver), so each idle thread notices its own idleness.
        let (jobs, queue) = flume::unbounded::<Job>();
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{index}")).spawn(move || {
                lower_this_threads_priority();
                loop {
                    match queue.recv_timeout(keep_while_idle) {
                        // A panicking job loses its answer (the caller sees PoolUnavailable), not the thread.
                        Ok(job) => drop(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))),
                        Err(flume::RecvTimeoutError::Timeout) => release_working_memory(),
                        Err(flume::RecvTimeoutError::Disconnected) => break,
                    }
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

    /// Runs `work` on the hashing threads, under the same bound as the hashes.
    pub(super) async fn run<T: Send + 'static>(
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

/// The calling thread (on Linux scheduling is per thread) to `SCHED_IDLE`, so hashing runs only on
/// CPU that request handling and Postgres leave over: a woken request thread preempts a hash at once.
/// Nice 10, tried first and kept if `SCHED_IDLE` is refused, still lets a hash hold a core for its
/// time slice against each wake-up; during a login storm that doubled the page view's p99, where
/// `SCHED_IDLE` kept it within 1.2–1.35× (ARCHITECTURE.md, "Under a login storm"). The cost: while
/// page views keep every core busy, logins wait (the queue bound answers "busy" past
/// `HASH_QUEUE_LIMIT`). Best effort: elsewhere, or if both are refused, hashing runs at normal priority.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who = 0` names the calling thread.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) } != 0 {
            log::debug!("could not lower the priority of a hashing thread");
        }
        let idle = libc::sched_param { sched_priority: 0 };
        // SAFETY: `pid = 0` names the calling thread; the kernel only reads `idle`, which outlives the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) } != 0 {
            log::debug!("SCHED_IDLE refused for a hashing thread; it stays at nice 10");
        }
    }
}

thread_local! {
    /// This thread's argon2 working memory (19 MiB with today's parameters), kept from one hash to
    /// the next. Allocated per hash (as `Argon2::hash_password` does), it was mapped fresh each time:
    /// about 4,900 page faults and an unmap per hash, a third of a verification's CPU spent in the
    /// kernel, and TLB shootdowns interrupting the core that serves page views. Only hashing-pool
    /// threads hash, so at most one block per hashing thread (`HASH_THREADS`) is held: the peak is
    /// what it was, but while logins keep coming every thread keeps its block between them.
    static WORKING_MEMORY: RefCell<WorkingMemory> = const { RefCell::new(WorkingMemory::Empty) };
}

fn release_working_memory() {
    WORKING_MEMORY.with_borrow_mut(|memory| *memory = WorkingMemory::Empty);
}

/// Runs argon2 with `params` on this thread's working memory. Stored hashes with a larger memory
/// cost than today's (made by a future, stronger setting) get memory of their own, so one such
/// login cannot make every hashing thread hold more from then on.
fn hash_into(
    params: Params,
    algorithm: Algorithm,
    version: Version,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let argon2 = Argon2::new(algorithm, version, params);
    let blocks = argon2.params().block_count();
    if blocks > Params::DEFAULT.block_count() {
        return argon2.hash_password_into(password, salt, out);
    }
    WORKING_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            *memory = WorkingMemory::Empty; // the old block goes before the new one comes
            *memory = WorkingMemory::new(blocks);
        }
        // No zeroing in between: argon2 writes every block before it reads it.
        argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Zeroed argon2 blocks, backed by huge pages where the kernel has them. argon2 reads its 19 MiB in
/// an order that defeats the TLB: on 4 KiB pages a verification beside a login's other work
/// (Postgres, the HTTP stack, a core shared with them) took 18.3 ms instead of 15.5 ms on 2 MiB
/// pages, and logins/s were 5–18% lower (ARCHITECTURE.md, "Where the time goes"). Only a page not
/// yet touched is made huge at once, so the blocks are a mapping of their own, asked for huge pages
/// before the first write: from malloc they could be pages already touched, since once glibc has
/// seen a block this large freed (a stronger stored hash verified on memory of its own) it serves
/// the next one from its heap.
enum WorkingMemory {
    /// None yet, or given back.
    Empty,
    /// `blocks` blocks at `start`, a private anonymous mapping unmapped on drop.
    Mapped { start: std::ptr::NonNull<Block>, blocks: usize },
    /// Where no mapping could be made: from the allocator, advised all the same.
    Heap(Vec<Block>),
}

impl WorkingMemory {
    fn new(blocks: usize) -> Self {
        if let Some(start) = map_zeroed(blocks) {
            return Self::Mapped { start, blocks };
        }
        let mut memory: Vec<Block> = Vec::with_capacity(blocks);
        advise_huge_pages(memory.as_mut_ptr().cast(), blocks * std::mem::size_of::<Block>());
        memory.resize(blocks, Block::new());
        Self::Heap(memory)
    }
}

impl std::ops::Deref for WorkingMemory {
    type Target = [Block];

    fn deref(&self) -> &[Block] {
        match self {
            Self::Empty => &[],
            // SAFETY: `map_zeroed` made this mapping of `blocks` blocks, readable and writable,
            // page-aligned (more than a block's alignment) and zeroed (an all-zero block is a valid
            // one); it stays mapped until `drop`, and `&self` keeps it from being changed meanwhile.
            Self::Mapped { start, blocks } => unsafe { std::slice::from_raw_parts(start.as_ptr(), *blocks) },
            Self::Heap(memory) => memory,
        }
    }
}

impl std::ops::DerefMut for WorkingMemory {
    fn deref_mut(&mut self) -> &mut [Block] {
        match self {
            Self::Empty => &mut [],
            // SAFETY: as in `deref`; `&mut self` makes this the only reference into the mapping.
            Self::Mapped { start, blocks } => unsafe {
                std::slice::from_raw_parts_mut(start.as_ptr(), *blocks)
            },
            Self::Heap(memory) => memory,
        }
    }
}

impl Drop for WorkingMemory {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Self::Mapped { start, blocks } = self {
            // SAFETY: the mapping `map_zeroed` made, of this length, unmapped once: no slice into it
            // outlives the borrow of `self` it came from.
            unsafe { libc::munmap(start.as_ptr().cast(), *blocks * std::mem::size_of::<Block>()) };
        }
    }
}

/// A new private anonymous mapping for `blocks` blocks (the kernel zeroes it), advised huge pages
/// before anything touches it; `None` where none can be made.
fn map_zeroed(blocks: usize) -> Option<std::ptr::NonNull<Block>> {
    #[cfg(unix)]
    {
        let len = blocks.checked_mul(std::mem::size_of::<Block>()).filter(|len| *len > 0)?;
        // SAFETY: no address or file is given, so the kernel picks a range that overlaps nothing;
        // the result is checked for failure before use.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        advise_huge_pages(start.cast(), len);
        std::ptr::NonNull::new(start.cast())
    }
    #[cfg(not(unix))]
    {
        let _ = blocks;
        None
    }
}

/// `madvise(MADV_HUGEPAGE)` on the whole pages inside `len` bytes from `start`. Best effort: with
/// transparent huge pages off (or on another system) the memory just stays on small pages.
fn advise_huge_pages(start: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads its argument.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
        let first = (start as usize).div_ceil(page) * page;
        let end = (start as usize + len) / page * page;
        if end > first {
            // SAFETY: the range lies inside the caller's own allocation, which outlives the call;
            // MADV_HUGEPAGE only changes how its pages are backed, never their contents.
            let result =
                unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
            if result != 0 {
                log::debug!("the kernel refused huge pages for argon2's working memory");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a random 16-byte salt.
/// Blocking: only for jobs already on the hashing threads.
pub(super) fn hash_now(password: &Password) -> Result<String, PasswordError> {
    let failed = |e: &dyn fmt::Display| PasswordError::Argon2(e.to_string());
    let params = Params::DEFAULT;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(
        params.clone(),
        Algorithm::Argon2id,
        Version::V0x13,
        password.expose().as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| failed(&e))?;
    phc_string(&params, &salt, &out).map_err(|e| failed(&e))
}

/// The PHC string of an argon2id v=19 hash, laid out as argon2's own `hash_password` lays it out.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, argon2::password_hash::Error> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(Salt::new(salt)?),
        hash: Some(Output::new(out)?),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash with the stored algorithm, version, parameters and salt, and compares the
/// outputs in constant time (`Output`'s `==`), as `PasswordVerifier::verify_password` does.
fn verify_now(password: &Password, stored: &str) -> Verification {
    let Ok(parsed) = PasswordHash::new(stored) else {
        log::error!("a stored password hash is not a valid PHC string");
        return Verification::Invalid;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        log::error!("a stored password hash has no salt or no output");
        return Verification::Invalid;
    };
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str());
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, Params::try_from(&parsed)) else {
        log::error!("a stored password hash names an algorithm, version or parameters argon2 does not take");
        return Verification::Invalid;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else { return Verification::Invalid };
    let computed = hash_into(params, algorithm, version, password.expose().as_bytes(), salt.as_ref(), out)
        .ok()
        .and_then(|()| Output::new(out).ok());
    match computed {
        Some(computed) if computed == *expected => {
            Verification::Valid { needs_rehash: needs_rehash(&parsed) }
        }
        _ => Verification::Invalid,
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
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

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

    #[tokio::test]
    async fn hashing_threads_keep_their_memory_while_busy_and_give_it_back_when_idle() {
        let hasher = PasswordHasher::keeping_memory_for(1, 0, Duration::from_secs(2));
        let held = || hasher.run(|| WORKING_MEMORY.with_borrow(|memory| memory.len()));
        let hash = hasher.hash(Password::new("fills the working memory")).await.unwrap();
        assert_eq!(held().await.unwrap(), Params::DEFAULT.block_count(), "kept after a hash");
        let verified = hasher.verify(Password::new("fills the working memory"), Some(hash)).await.unwrap();
        assert_eq!(
            verified,
            Verification::Valid { needs_rehash: false },
            "and hashes right on reused memory"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(held().await.unwrap(), 0, "handed back after the idle time");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_only_on_cpu_that_nothing_else_wants() {
        let hasher = PasswordHasher::new(1, 0);
        // SAFETY: both only read the calling thread's scheduling state.
        let (policy, nice) = hasher
            .run(|| unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, 0)) })
            .await
            .unwrap();
        assert_eq!(policy, libc::SCHED_IDLE, "a hashing thread's scheduling policy");
        assert_eq!(nice, 10, "and its nice value, for a kernel that refuses SCHED_IDLE");
        // SAFETY: as above, on the test's own thread.
        assert_ne!(
            unsafe { libc::sched_getscheduler(0) },
            libc::SCHED_IDLE,
            "the caller's thread is untouched"
        );
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crates_own_api() {
        let theirs = Argon2::default().hash_password(b"shared between two apis").unwrap().to_string();
        assert_eq!(
            verify_now(&Password::new("shared between two apis"), &theirs),
            Verification::Valid { needs_rehash: false }
        );
        assert_eq!(verify_now(&Password::new("shared between two APIs"), &theirs), Verification::Invalid);
        let ours = hash_now(&Password::new("shared between two apis")).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"shared between two apis", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"shared between two apis!", &parsed).is_err());
    }

    #[test]
    fn a_stronger_stored_hash_verifies_on_memory_of_its_own() {
        let _ = hash_now(&Password::new("sizes the working memory")).unwrap();
        let held = WORKING_MEMORY.with_borrow(|memory| memory.len());
        assert_eq!(held, Params::DEFAULT.block_count());
        let stronger =
            Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(32 * 1024, 2, 1, None).unwrap())
                .hash_password(b"a future, stronger setting")
                .unwrap()
                .to_string();
        assert_eq!(
            verify_now(&Password::new("a future, stronger setting"), &stronger),
            Verification::Valid { needs_rehash: false }
        );
        assert_eq!(WORKING_MEMORY.with_borrow(|memory| memory.len()), held, "the reused memory did not grow");
    }

    #[test]
    fn hashes_of_other_parameters_verify_on_memory_another_hash_left_dirty() {
        let _ = hash_now(&Password::new("leaves the working memory dirty")).unwrap();
        for (params, version) in [
            (Params::new(8192, 1, 1, None).unwrap(), Version::V0x13),
            (Params::new(8192, 2, 2, None).unwrap(), Version::V0x13),
            (Params::new(4096, 3, 1, Some(24)).unwrap(), Version::V0x10),
        ] {
            let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
            let stored = argon2.hash_password(b"an older hash").unwrap().to_string();
            let verified = verify_now(&Password::new("an older hash"), &stored);
            assert!(matches!(verified, Verification::Valid { .. }), "{stored}: {verified:?}");
            assert_eq!(
                verify_now(&Password::new("an older hash!"), &stored),
                Verification::Invalid,
                "{stored}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_working_memory_is_zeroed_and_on_huge_pages_where_the_kernel_offers_them() {
        // What malloc hands back after blocks this large were used and freed: glibc serves the
        // second from its heap (a larger one freed taught it to), and keeps it there once freed, on
        // pages already touched, so a third of this size would be those pages again.
        drop(std::hint::black_box(vec![1u8; 20 << 20]));
        drop(std::hint::black_box(vec![1u8; 19 << 20]));
        let mut memory = WorkingMemory::new(Params::DEFAULT.block_count());
        assert_eq!(memory.len(), Params::DEFAULT.block_count());
        assert!(memory.iter().all(|block| block.as_ref().iter().all(|word| *word == 0)));
        // Written, as argon2 writes every block before reading it (until then reads see the zero page).
        memory.iter_mut().for_each(|block| *block = Block::new());
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if thp.contains("[never]") || thp.is_empty() {
            return; // Nothing to ask for: the memory stays on small pages, and hashes as well.
        }
        // /proc/self/smaps: the mappings over the memory (the advice splits its mapping in three),
        // and how much of them is on huge pages.
        let memory_range =
            memory.as_ptr() as usize..memory.as_ptr() as usize + memory.len() * size_of::<Block>();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut huge_kib = 0;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) =
                    (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16))
            {
                inside = start < memory_range.end && memory_range.start < end;
            } else if inside && let Some(value) = line.strip_prefix("AnonHugePages:") {
                huge_kib += value.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap();
            }
        }
        assert!(huge_kib >= 2048, "transparent huge pages are `{}` but none backs the memory", thp.trim());
    }

    #[test]
    fn the_phc_string_is_the_one_argon2_makes_for_the_same_salt() {
        let salt = [7u8; 16];
        let theirs = Argon2::default().hash_password_with_salt(b"known answer", &salt).unwrap().to_string();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        hash_into(Params::DEFAULT, Algorithm::Argon2id, Version::V0x13, b"known answer", &salt, &mut out)
            .unwrap();
        assert_eq!(phc_string(&Params::DEFAULT, &salt, &out).unwrap(), theirs);
    }

    #[test]
    fn malformed_stored_hashes_never_verify() {
        let good = hash_now(&Password::new("correct")).unwrap();
        let no_output = good.rsplit_once('$').unwrap().0.to_owned();
        for stored in [
            String::new(),
            "not a hash".to_owned(),
            no_output,
            good.replace("$argon2id$", "$scrypt$"),
            good.replace("v=19", "v=7"),
            good.replace("m=19456", "m=1"),
            good.replace("t=2", "t=0"),
            good.replace("p=1", "p=0"),
            format!("{good}$x"),
            {
                let (head, output) = good.rsplit_once('$').unwrap();
                format!("{head}${}", &output[..14])
            },
            {
                let mut parts: Vec<&str> = good.split('$').collect();
                parts[4] = "c2FsdA";
                parts.join("$")
            },
        ] {
            assert_eq!(verify_now(&Password::new("correct"), &stored), Verification::Invalid, "{stored}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        assert_eq!(format!("{:?}", Password::new("hunter2hunter2")), "Password([redacted])");
    }
}
