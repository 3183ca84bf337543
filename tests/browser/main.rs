//! The login flow in a real browser: headless Chromium driven through chromedriver against the app
//! served on a real socket. Ignored by a plain `cargo test` (it needs Debian's `chromium` and
//! `chromium-driver`); `.ci/run` installs them and runs `cargo test --test browser -- --ignored`.

// The shared harness: this target uses only its database helper.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use gatehouse::{clock::Clock, config::Settings, startup, web::AppState};
use helpers::{PASSWORD, SECRET, TestDb};

/// chromedriver on a free port, stopped when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }

    async fn browser(&self) -> Client {
        let profile = std::env::temp_dir().join(format!("gatehouse-chromium-{}", uuid::Uuid::new_v4()));
        let options = serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real server on a real socket, on its own database; returns its base URL.
async fn serve(database: &TestDb) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let vars = [
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", database.url.clone()),
        ("PUBLIC_URL", base.clone()),
    ];
    let settings =
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
    let db = startup::connect_and_migrate(&settings).await.unwrap();
    let state = AppState::new(settings, db, Clock::default()).unwrap();
    let server = actix_web::HttpServer::new(move || startup::app(state.clone()))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);
    base
}

async fn fill(browser: &Client, id: &str, value: &str) {
    browser.find(Locator::Id(id)).await.unwrap().send_keys(value).await.unwrap();
}

async fn submit(browser: &Client, form_action: &str) {
    let button = format!("form[action='{form_action}'] button[type=submit]");
    browser.find(Locator::Css(&button)).await.unwrap().click().await.unwrap();
}

async fn wait_for_path(browser: &Client, path: &str) {
    for _ in 0..50 {
        if browser.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser did not reach {path}: it is at {}", browser.current_url().await.unwrap());
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn a_visitor_registers_logs_out_and_logs_back_in_to_the_page_they_asked_for() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;

    // Registration logs in and lands on the dashboard.
    browser.goto(&format!("{base}/register")).await.unwrap();
    fill(&browser, "username", "alice").await;
    fill(&browser, "email", "alice@example.com").await;
    fill(&browser, "password", PASSWORD).await;
    fill(&browser, "password_confirm", PASSWORD).await;
    submit(&browser, "/register").await;
    wait_for_path(&browser, "/dashboard").await;
    let page = browser.source().await.unwrap();
    assert!(page.contains("Welcome, alice") && page.contains("Your account is ready."));

    // The stylesheet is applied under the strict CSP.
    let background =
        browser.execute("return getComputedStyle(document.body).backgroundColor;", vec![]).await.unwrap();
    assert_eq!(background, serde_json::json!("rgb(245, 247, 250)"));

    // Logout is a POST from the layout's button, and says so on the login page.
    submit(&browser, "/logout").await;
    wait_for_path(&browser, "/login").await;
    assert!(browser.source().await.unwrap().contains("You have been logged out."));

    // A protected page sends the visitor to log in, then back to that page.
    browser.goto(&format!("{base}/account")).await.unwrap();
    wait_for_path(&browser, "/login").await;
    assert!(browser.source().await.unwrap().contains("Please log in to access this page."));
    fill(&browser, "login", "ALICE@example.com").await;
    fill(&browser, "password", PASSWORD).await;
    browser.find(Locator::Id("remember")).await.unwrap().click().await.unwrap();
    submit(&browser, "/login").await;
    wait_for_path(&browser, "/account").await;
    let account = browser.source().await.unwrap();
    assert!(account.contains("This device") && account.contains("Remembered"));

    // The session cookie is HttpOnly (invisible to scripts) and, remembered, outlives the browser.
    let visible_to_scripts = browser.execute("return document.cookie;", vec![]).await.unwrap();
    assert!(!visible_to_scripts.as_str().unwrap_or_default().contains("gatehouse_session"));
    let cookie = browser.get_named_cookie("gatehouse_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert!(cookie.expires().is_some(), "a remember-me cookie has an expiry");

    browser.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn a_wrong_password_in_a_real_browser_keeps_the_login_and_shows_one_message() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;

    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(&browser, "login", "nobody").await;
    fill(&browser, "password", "not the password at all").await;
    submit(&browser, "/login").await;
    for _ in 0..50 {
        if browser.source().await.unwrap().contains("Invalid username, email or password.") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = browser.source().await.unwrap();
    assert!(page.contains("Invalid username, email or password."));
    let kept = browser.find(Locator::Id("login")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("nobody"));
    let password = browser.find(Locator::Id("password")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(password.as_deref(), Some(""), "the password is never sent back");

    browser.close().await.unwrap();
}
