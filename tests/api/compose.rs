//! `docker-compose.yml` is for users, and no Docker engine runs here: this starts the binary with
//! exactly the environment the compose file gives the app (only the addresses of its sibling
//! services, which exist inside compose's network alone, are pointed at this machine), runs the
//! compose healthcheck's command against it, and registers from the host browser's origin.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{PASSWORD, TestDb, http};

const COMPOSE_FILE: &str = include_str!("../../docker-compose.yml");

/// The app service's environment as compose resolves it on a machine that sets none of the
/// variables: `${NAME:-default}` becomes `default`.
fn compose_app_environment() -> HashMap<String, String> {
    let compose: serde_norway::Value =
        serde_norway::from_str(COMPOSE_FILE).expect("docker-compose.yml parses");
    let environment =
        compose["services"]["app"]["environment"].as_mapping().expect("app.environment is a map");
    environment
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().unwrap().to_owned();
            let raw = match value {
                serde_norway::Value::String(s) => s.clone(),
                serde_norway::Value::Null => String::new(),
                other => serde_norway::to_string(other).unwrap().trim().to_owned(),
            };
            (name, resolve_defaults(&raw))
        })
        .collect()
}

fn resolve_defaults(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        let expression = &rest[start + 2..end];
        out.push_str(expression.split_once(":-").map_or("", |(_, default)| default));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn gatehouse(environment: &HashMap<String, String>, dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command.env_clear().envs(environment).current_dir(dir);
    command
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_compose_healthcheck_runs_the_binarys_own_command() {
    let compose: serde_norway::Value = serde_norway::from_str(COMPOSE_FILE).unwrap();
    let test = &compose["services"]["app"]["healthcheck"]["test"];
    let words: Vec<&str> = test.as_sequence().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(words, ["CMD", "gatehouse", "healthcheck"], "no shell: the image's dash has no /dev/tcp");
    let dockerfile = include_str!("../../Dockerfile");
    assert!(dockerfile.contains("/usr/local/bin/gatehouse"), "the binary is on the image's PATH");
}

#[actix_web::test]
async fn the_app_serves_with_the_compose_environment_and_passes_its_healthcheck() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|url| url.starts_with("postgres")) {
        eprintln!(
            "the compose file runs the app on Postgres: this test runs with TEST_DATABASE_URL=postgres://…"
        );
        return;
    }
    let mut environment = compose_app_environment();
    assert_eq!(environment.get("BIND_ADDR").map(String::as_str), Some("0.0.0.0:8080"));
    assert!(environment["DATABASE_URL"].contains("@db:5432/"), "the compose database service");
    let database = TestDb::create_shared().await;
    environment.insert("DATABASE_URL".to_owned(), database.url.clone());
    // Another port than compose's 8080, which this machine may be using; the host stays 0.0.0.0.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    environment.insert("BIND_ADDR".to_owned(), format!("0.0.0.0:{port}"));
    let dir = std::env::temp_dir().join(format!("gatehouse-compose-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    let healthcheck = || gatehouse(&environment, &dir).arg("healthcheck").output().unwrap();
    assert!(!healthcheck().status.success(), "nothing listens yet: unhealthy");

    let server = gatehouse(&environment, &dir).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut server = KillOnDrop(server);
    let started = Instant::now();
    loop {
        let output = healthcheck();
        if output.status.success() {
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
            break;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("the app exited with {status} under the compose environment:\n{stderr}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not healthy within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The host's browser opens http://localhost:8080 (here: this port) and registers.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let origin = format!("http://localhost:{port}");
    let host = [("Host", format!("localhost:{port}"))];
    let host: Vec<(&str, &str)> = host.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let form = http(addr, "GET", "/register", None, &host, "").await;
    assert_eq!(form.status, 200);
    let cookie = form.cookie_header().unwrap();
    let token = form.csrf_token().unwrap();
    let body = serde_urlencoded::to_string([
        ("username", "composer"),
        ("email", "composer@example.com"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
        ("csrf_token", token.as_str()),
    ])
    .unwrap();
    let mut headers = host.clone();
    headers.push(("Origin", &origin));
    let res = http(addr, "POST", "/register", Some(&cookie), &headers, &body).await;
    assert_eq!(res.status, 303, "{}", res.body_text());
    assert_eq!(res.header("location"), Some("/dashboard"));

    drop(server);
    std::fs::remove_dir_all(dir).ok();
}
