//! How many argon2id verifications per second this machine does with Gatehouse's parameters, on all
//! cores at once: the ceiling for logins per second. Also how long one password policy check takes
//! (the common-password list and zxcvbn's estimate), which runs at every password choice. Run by
//! `bench/run.sh`.
//!
//! `cargo run --release --bin argon2-rate -- [seconds]`

use std::time::{Duration, Instant};

use gatehouse::auth::{
    password::{Password, PasswordHasher, Verification},
    policy,
};

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let hash = runtime
        .block_on(PasswordHasher::new(1, 0).hash(Password::new("a benchmark passphrase")))
        .expect("hash");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                let hasher = PasswordHasher::new(1, 0);
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let result = runtime
                        .block_on(hasher.verify(Password::new("a benchmark passphrase"), Some(hash.clone())))
                        .expect("verify");
                    assert!(matches!(result, Verification::Valid { .. }));
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "threads={threads} verifications={total} seconds={elapsed:.2} per_second={:.1}",
        total as f64 / elapsed
    );

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
