//! How many argon2id verifications per second this machine does with Gatehouse's parameters, on all
//! cores at once: the ceiling for logins per second. Run by `bench/run.sh`.
//!
//! `cargo run --release --bin argon2-rate -- [seconds]`

use std::time::{Duration, Instant};

use gatehouse::auth::password::{Password, PasswordHasher, Verification};

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
}
