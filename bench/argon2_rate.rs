//! How many argon2id verifications per second this machine does with Gatehouse's parameters, on all
//! cores at once: the ceiling for logins per second. Also how long one password policy check takes
//! (the common-password list and zxcvbn's estimate), which runs at every password choice. Run by
//! `bench/run.sh`.
//!
//! With `textbook` after the seconds it also measures the same verification the way the argon2
//! crate's own API does it (`PasswordVerifier::verify_password`, 19 MiB allocated and freed per
//! call; what the app did before its hashing threads kept their blocks, and what an idiomatic peer
//! does): the rate that the peer figures were measured against. Reported, not a target.
//!
//! `cargo run --release --bin argon2-rate -- [seconds] [textbook]`

use std::time::{Duration, Instant};

use gatehouse::auth::{
    password::{Password, PasswordHasher, Verification},
    policy,
};

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let textbook = std::env::args().nth(2).is_some_and(|arg| arg == "textbook");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let hash = runtime
        .block_on(PasswordHasher::new(1, 0).hash(Password::new("a benchmark passphrase")))
        .expect("hash");

    let (total, elapsed) = on_every_thread(threads, seconds, || {
        let hash = hash.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let hasher = PasswordHasher::new(1, 0);
        move || {
            let result = runtime
                .block_on(hasher.verify(Password::new("a benchmark passphrase"), Some(hash.clone())))
                .expect("verify");
            assert!(matches!(result, Verification::Valid { .. }));
        }
    });
    println!(
        "threads={threads} verifications={total} seconds={elapsed:.2} per_second={:.1}",
        total as f64 / elapsed
    );

    if textbook {
        let rate = textbook_rate(&hash, threads, seconds);
        println!("textbook_per_second={rate:.1}");
    }

    // One thread, after the list is loaded once: a strong passphrase (the full estimate), a common
    // password (refused early), and the longest password accepted (estimated on its head only).
    let candidates = [
        Password::new("copper violin marsh tundra 84"),
        Password::new("iloveyouiloveyou"),
        Password::new(&"glacier ribbon oxide pelican ".repeat(40).chars().take(1024).collect::<String>()),
    ];
    let _ = policy::check(&candidates[0], 15, "someone", "someone@example.com");
    let rounds = 300u32;
    let started = Instant::now();
    for _ in 0..rounds {
        for candidate in &candidates {
            let _ = std::hint::black_box(policy::check(candidate, 15, "someone", "someone@example.com"));
        }
    }
    let per_check_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds * 3);
    // The slowest kind alone: the longest password accepted.
    let started = Instant::now();
    for _ in 0..rounds {
        let _ = std::hint::black_box(policy::check(&candidates[2], 15, "someone", "someone@example.com"));
    }
    let longest_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "policy_checks={} policy_check_us={per_check_us:.1} policy_check_longest_us={longest_us:.1}",
        rounds * 3
    );
}

/// Verifications per second on `threads` threads through the argon2 crate's own API, which
/// allocates its working memory on every call.
fn textbook_rate(stored: &str, threads: usize, seconds: u64) -> f64 {
    use argon2::{Argon2, PasswordHash, PasswordVerifier as _};

    let (total, elapsed) = on_every_thread(threads, seconds, || {
        let stored = stored.to_owned();
        move || {
            let parsed = PasswordHash::new(&stored).expect("a PHC string");
            Argon2::default().verify_password(b"a benchmark passphrase", &parsed).expect("verify");
        }
    });
    total as f64 / elapsed
}

/// Runs one verification after another on each of `threads` threads (each gets its own from
/// `make_verifier`) for `seconds`: how many ran in all, and the seconds they took.
fn on_every_thread<M, V>(threads: usize, seconds: u64, make_verifier: M) -> (u64, f64)
where
    M: Fn() -> V,
    V: FnMut() + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let mut verify = make_verifier();
            std::thread::spawn(move || {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    verify();
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    (total, started.elapsed().as_secs_f64())
}
