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
        self.browser_sized(Viewport::Desktop).await
    }

    /// A browser whose viewport is a desktop window, or a phone's screen (Chrome's mobile emulation:
    /// the viewport meta tag counts, as on a phone).
    async fn browser_sized(&self, viewport: Viewport) -> Client {
        let profile = std::env::temp_dir().join(format!("gatehouse-chromium-{}", uuid::Uuid::new_v4()));
        let mut options = serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if let Viewport::Phone { width, height } = viewport {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 },
            });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

#[derive(Clone, Copy, Debug)]
enum Viewport {
    /// 1280×800.
    Desktop,
    Phone {
        width: u32,
        height: u32,
    },
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
    serve_as(database, "127.0.0.1").await
}

/// `serve`, with the site named by `host` (`localhost`: a secure context and a valid WebAuthn RP id).
async fn serve_as(database: &TestDb, host: &str) -> String {
    serve_with(database, host, &[]).await
}

/// `serve_as` with more settings (`(name, value)`).
async fn serve_with(database: &TestDb, host: &str, extra: &[(&'static str, &str)]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{host}:{}", listener.local_addr().unwrap().port());
    let mut vars = vec![
        ("SESSION_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", database.url.clone()),
        ("PUBLIC_URL", base.clone()),
    ];
    vars.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
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

    // Registration logs in and lands on the dashboard, saying so once.
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

// ---- The person at the screen (issue 13): errors in view, focus, labels, contrast, widths. ----

/// Runs `script` (a function body) and returns its value.
async fn js(browser: &Client, script: &str) -> serde_json::Value {
    browser.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Waits until `script` returns `true`; fails with what `describe` returns when it never does.
async fn wait_until(browser: &Client, script: &str, describe: &str) {
    for _ in 0..50 {
        if js(browser, script).await == serde_json::json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited in vain for `{script}`: {}", js(browser, describe).await);
}

async fn register_in(browser: &Client, base: &str, username: &str) {
    browser.goto(&format!("{base}/register")).await.unwrap();
    fill(browser, "username", username).await;
    fill(browser, "email", &format!("{username}@example.com")).await;
    fill(browser, "password", PASSWORD).await;
    fill(browser, "password_confirm", PASSWORD).await;
    submit(browser, "/register").await;
    wait_for_path(browser, "/dashboard").await;
}

async fn log_in_as(browser: &Client, base: &str, login: &str) {
    browser.goto(&format!("{base}/login")).await.unwrap();
    fill(browser, "login", login).await;
    fill(browser, "password", PASSWORD).await;
    submit(browser, "/login").await;
    wait_for_path(browser, "/dashboard").await;
}

/// Waits for the page after a submit to load and focus its field: `id` is the focused element's.
async fn wait_for_focus(browser: &Client, id: &str) {
    wait_until(
        browser,
        &format!("return document.readyState === 'complete' && document.activeElement.id === '{id}';"),
        "return 'focused: ' + document.activeElement.outerHTML + ' title: ' + document.title;",
    )
    .await;
}

/// True when the element is wholly inside the viewport.
async fn in_view(browser: &Client, id: &str) -> bool {
    let script = format!(
        "const r = document.getElementById('{id}').getBoundingClientRect(); \
         return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;"
    );
    js(browser, &script).await == serde_json::json!(true)
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn a_failed_form_on_the_account_page_puts_focus_and_its_message_in_view() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    for viewport in [Viewport::Desktop, Viewport::Phone { width: 390, height: 844 }] {
        let browser = driver.browser_sized(viewport).await;
        let name = match viewport {
            Viewport::Desktop => "alice",
            Viewport::Phone { .. } => "bob",
        };
        register_in(&browser, &base, name).await;

        // "Delete my account" is at the very bottom: a wrong password must not look like nothing happened.
        browser.goto(&format!("{base}/account")).await.unwrap();
        fill(&browser, "delete-current_password", "this is not my password").await;
        submit(&browser, "/account/delete").await;
        wait_for_focus(&browser, "delete-current_password").await;
        assert!(browser.title().await.unwrap().starts_with("Error: "), "{viewport:?}");
        assert!(in_view(&browser, "delete-current_password").await, "{viewport:?}: the field is on screen");
        assert!(in_view(&browser, "delete-current_password-error").await, "{viewport:?}: and its message");

        // The change-password form is below the fold too.
        browser.goto(&format!("{base}/account")).await.unwrap();
        fill(&browser, "password-current_password", "this is not my password").await;
        fill(&browser, "new_password", "a completely new long passphrase").await;
        fill(&browser, "new_password_confirm", "a completely new long passphrase").await;
        submit(&browser, "/account/password").await;
        wait_for_focus(&browser, "password-current_password").await;
        assert!(in_view(&browser, "password-current_password").await, "{viewport:?}");
        assert!(in_view(&browser, "password-current_password-error").await, "{viewport:?}");

        browser.close().await.unwrap();
    }
}

/// Every duplicated id, every field without a label that targets it, and every label that targets
/// nothing a label can name, on the page the browser is at.
const LABEL_AND_ID_PROBLEMS: &str = r#"
    const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
    const duplicated = ids.filter((id, i) => ids.indexOf(id) !== i);
    const fields = [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !e.hidden);
    const unlabelled = fields.filter(e => e.labels.length === 0).map(e => e.outerHTML);
    const dangling = [...document.querySelectorAll('label')].filter(l => l.control === null).map(l => l.outerHTML);
    return [...duplicated.map(d => 'duplicate id ' + d), ...unlabelled.map(u => 'no label: ' + u),
            ...dangling.map(d => 'label for nothing: ' + d)];
"#;

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn every_page_has_unique_ids_and_a_label_for_every_field() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    let db = gatehouse::db::connect(&database.url, true).await.unwrap();
    let clock = Clock::default();

    let mut visited = Vec::new();
    let mut problems = Vec::new();
    let failed = "return document.querySelector('.field-error, .form-error') !== null;";
    let mut check = async |browser: &Client, what: &str| {
        let found = js(browser, LABEL_AND_ID_PROBLEMS).await;
        for problem in found.as_array().unwrap() {
            problems.push(format!("{what}: {}", problem.as_str().unwrap()));
        }
        visited.push(what.to_owned());
    };

    for path in ["/", "/login", "/register", "/password-reset", "/confirm-email", "/logout", "/nowhere"] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        check(&browser, path).await;
    }
    // Forms shown again with their messages.
    browser.goto(&format!("{base}/login")).await.unwrap();
    submit(&browser, "/login").await;
    wait_until(&browser, failed, "return document.title;").await;
    check(&browser, "/login, failed").await;
    browser.goto(&format!("{base}/register")).await.unwrap();
    submit(&browser, "/register").await;
    wait_until(&browser, failed, "return document.title;").await;
    check(&browser, "/register, failed").await;

    register_in(&browser, &base, "alice").await;
    let alice = gatehouse::db::users::find_by_email(&db, "alice@example.com").await.unwrap().unwrap();
    gatehouse::db::users::set_role(&db, alice.id, "admin", clock.now()).await.unwrap();
    let admin_user = format!("/admin/users/{}", alice.id);
    // A passkey, so its rename and remove forms are on the page.
    let (credential_id, now) = ("cred".to_owned(), clock.now());
    gatehouse::db::passkeys::insert(&db, alice.id, credential_id, "{}".to_owned(), "Key", now).await.unwrap();
    for path in [
        "/dashboard",
        "/account",
        "/account/sessions",
        "/account/passkeys",
        "/logout",
        "/admin/users",
        admin_user.as_str(),
    ] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        check(&browser, path).await;
    }
    for action in ["/account/email", "/account/password", "/account/delete"] {
        browser.goto(&format!("{base}/account")).await.unwrap();
        submit(&browser, action).await;
        wait_until(&browser, failed, "return document.title;").await;
        check(&browser, &format!("/account, {action} failed")).await;
    }
    // The pages behind emailed links.
    let confirm = gatehouse::auth::confirmation::issue(&db, &clock, alice.clone(), "alice@example.com").await;
    browser.goto(&format!("{base}/confirm-email/{}", confirm.unwrap().token)).await.unwrap();
    check(&browser, "/confirm-email/{token}").await;
    let reset = gatehouse::auth::reset::issue(&db, &clock, alice).await.unwrap();
    browser.goto(&format!("{base}/password-reset/{}", reset.token)).await.unwrap();
    wait_for_path(&browser, "/password-reset/set-password").await;
    check(&browser, "/password-reset/set-password").await;

    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(visited.len(), 21, "{visited:?}");
    browser.close().await.unwrap();
}

/// WCAG's contrast ratio of two `rgb(…)`/`rgba(…)` colours as `getComputedStyle` gives them.
fn contrast(a: &str, b: &str) -> f64 {
    fn luminance(color: &str) -> f64 {
        let channels: Vec<f64> = color
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .take(3)
            .map(|c| c.trim().parse::<f64>().unwrap_or_else(|_| panic!("not a colour: {color}")) / 255.0)
            .map(|c| if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
            .collect();
        0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The colours that decide a focused element's contrast: its outline (colour, style, width) and the
/// background behind it (the first ancestor with an opaque one), and its border colour.
const FOCUS_COLOURS: &str = r#"
    const el = document.activeElement;
    const style = getComputedStyle(el);
    let behind = el.parentElement;
    while (behind && getComputedStyle(behind).backgroundColor.replace(/\s/g, '').match(/^(rgba\(.*,0\)|transparent)$/)) {
        behind = behind.parentElement;
    }
    return { id: el.id, tag: el.tagName, outline: style.outlineColor, outlineStyle: style.outlineStyle,
             outlineWidth: parseFloat(style.outlineWidth), border: style.borderTopColor,
             behind: behind ? getComputedStyle(behind).backgroundColor : 'rgb(255, 255, 255)' };
"#;

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn the_first_field_has_focus_and_fields_and_focus_rings_stand_out() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;

    for (path, first) in [("/login", "login"), ("/register", "username"), ("/password-reset", "email")] {
        browser.goto(&format!("{base}{path}")).await.unwrap();
        wait_for_focus(&browser, first).await;
        // The field's border against what is behind it, and the ring around the focused field.
        let colours = js(&browser, FOCUS_COLOURS).await;
        let (border, behind) = (colours["border"].as_str().unwrap(), colours["behind"].as_str().unwrap());
        assert!(contrast(border, behind) >= 3.0, "{path}: border {border} on {behind}");
        assert_ne!(colours["outlineStyle"], "none", "{path}: {colours}");
        assert!(colours["outlineWidth"].as_f64().unwrap() >= 2.0, "{path}: {colours}");
        let outline = colours["outline"].as_str().unwrap();
        assert!(contrast(outline, behind) >= 3.0, "{path}: ring {outline} on {behind}");
    }

    // A failed form focuses the first field to fix.
    browser.goto(&format!("{base}/register")).await.unwrap();
    fill(&browser, "username", "alice").await;
    fill(&browser, "email", "not an address").await;
    submit(&browser, "/register").await;
    wait_for_focus(&browser, "email").await;
    assert_eq!(
        browser.find(Locator::Id("email")).await.unwrap().attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );

    // Tabbing on to a button shows a ring of 3:1 there too.
    browser.goto(&format!("{base}/password-reset")).await.unwrap();
    wait_for_focus(&browser, "email").await;
    browser.active_element().await.unwrap().send_keys("\u{e004}").await.unwrap();
    wait_until(
        &browser,
        "return document.activeElement.tagName === 'BUTTON';",
        "return document.activeElement.outerHTML;",
    )
    .await;
    let colours = js(&browser, FOCUS_COLOURS).await;
    assert_ne!(colours["outlineStyle"], "none", "{colours}");
    let (outline, behind) = (colours["outline"].as_str().unwrap(), colours["behind"].as_str().unwrap());
    assert!(contrast(outline, behind) >= 3.0, "button ring {outline} on {behind}");

    browser.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn flash_messages_are_as_wide_as_their_card_and_announced() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    register_in(&browser, &base, "alice").await;

    let widths = r#"
        const flash = document.querySelector('.flash'), card = document.querySelector('.card');
        return { flash: flash.getBoundingClientRect().width, card: card.getBoundingClientRect().width,
                 left: flash.getBoundingClientRect().left - card.getBoundingClientRect().left,
                 role: flash.getAttribute('role'), live: flash.getAttribute('aria-live') };
    "#;
    // The dashboard's wide card, then the narrow login card after logging out.
    for page in ["/dashboard", "/login"] {
        if page == "/login" {
            submit(&browser, "/logout").await;
            wait_for_path(&browser, "/login").await;
        }
        let measured = js(&browser, widths).await;
        let (flash, card) = (measured["flash"].as_f64().unwrap(), measured["card"].as_f64().unwrap());
        assert!((flash - card).abs() < 1.0, "{page}: flash {flash}px, card {card}px");
        assert!(measured["left"].as_f64().unwrap().abs() < 1.0, "{page}: aligned: {measured}");
        assert_eq!(measured["role"], "status", "{page}");
        assert_eq!(measured["live"], "polite", "{page}");
    }
    browser.close().await.unwrap();
}

/// Logs `login` in over a plain socket with `user_agent`: another device in the sessions list.
async fn log_in_from_another_device(base: &str, login: &str, user_agent: &str) {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let form = helpers::http(addr, "GET", "/login", None, &[("User-Agent", user_agent)], "").await;
    let cookie = form.cookie_header().expect("the form sets its token cookie");
    let token = form.csrf_token().expect("the form has a token");
    let body =
        serde_urlencoded::to_string([("login", login), ("password", PASSWORD), ("csrf_token", &token)])
            .unwrap();
    let headers = [("Origin", base), ("User-Agent", user_agent)];
    let res = helpers::http(addr, "POST", "/login", Some(&cookie), &headers, &body).await;
    assert_eq!(res.status, 303, "the other device's login: {}", res.body_text());
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn on_a_phone_nothing_scrolls_sideways_and_this_device_comes_first() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let name = "a_rather_long_name_of_32_letters"; // 32 characters, the most a username may have
    assert_eq!(name.len(), 32);
    let setup = driver.browser().await;
    register_in(&setup, &base, name).await;
    setup.close().await.unwrap();
    // A device whose user agent the app does not recognise: its first 60 characters are shown, unbroken.
    let long_agent = format!("UnknownCrawler/{}", "0123456789abcdef".repeat(24));
    log_in_from_another_device(&base, name, &long_agent).await;
    log_in_from_another_device(&base, name, &long_agent).await;

    let overflow = "return { scroll: document.documentElement.scrollWidth, width: window.innerWidth };";
    for width in [390, 320] {
        let browser = driver.browser_sized(Viewport::Phone { width, height: 844 }).await;
        log_in_as(&browser, &base, name).await;
        for path in ["/dashboard", "/account", "/account/sessions", "/logout"] {
            browser.goto(&format!("{base}{path}")).await.unwrap();
            // A page wider than the phone scrolls sideways or, on a mobile viewport, is zoomed out to
            // fit, which widens the viewport: either way it is wider than the screen.
            let measured = js(&browser, overflow).await;
            let (scroll, viewport) =
                (measured["scroll"].as_u64().unwrap(), measured["width"].as_u64().unwrap());
            assert!(
                scroll <= u64::from(width) && viewport == u64::from(width),
                "{path} at {width}px is {scroll}px wide (viewport {viewport}px)"
            );
        }
        // The sessions page lists this browser first, marked.
        browser.goto(&format!("{base}/account/sessions")).await.unwrap();
        let first = js(&browser, "return document.querySelector('li.session').outerHTML;").await;
        let first = first.as_str().unwrap();
        assert!(first.contains("current") && first.contains("This device"), "{first}");
        assert!(!first.contains("UnknownCrawler"), "{first}");
        let listed = js(&browser, "return document.querySelectorAll('li.session').length;").await;
        assert!(listed.as_u64().unwrap() >= 3, "{listed}");
        browser.close().await.unwrap();
    }
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn the_header_keeps_one_height_logged_in_and_out() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    let height = "return document.querySelector('.site-header').getBoundingClientRect().height;";
    browser.goto(&format!("{base}/login")).await.unwrap();
    let logged_out = js(&browser, height).await.as_f64().unwrap();
    register_in(&browser, &base, "alice").await;
    let logged_in = js(&browser, height).await.as_f64().unwrap();
    assert!((logged_out - logged_in).abs() < 0.5, "logged out {logged_out}px, logged in {logged_in}px");
    browser.close().await.unwrap();
}

// ---- Two-factor authentication (issue 14, TOTP) ----

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn totp_is_turned_on_from_the_qr_page_and_a_login_then_asks_for_a_code() {
    let database = TestDb::create_shared().await;
    let base = serve(&database).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    register_in(&browser, &base, "alice").await;

    browser.goto(&format!("{base}/account/two-factor")).await.unwrap();
    fill(&browser, "enable-current_password", PASSWORD).await;
    submit(&browser, "/account/two-factor/totp").await;
    wait_until(
        &browser,
        "return document.readyState === 'complete' && document.querySelector('[data-totp-secret]') !== null;",
        "return document.title;",
    )
    .await;
    // The QR code is an image the strict CSP lets load: it has a size once decoded.
    wait_until(
        &browser,
        "const img = document.querySelector('#enrol img'); return img.complete && img.naturalWidth > 0;",
        "return document.querySelector('#enrol img').outerHTML.slice(0, 80);",
    )
    .await;
    let problems = js(&browser, LABEL_AND_ID_PROBLEMS).await;
    assert_eq!(problems, serde_json::json!([]), "the enrolment page");
    let secret =
        js(&browser, "return document.querySelector('[data-totp-secret]').dataset.totpSecret;").await;
    let secret = totp_rs::Secret::try_from_base32(secret.as_str().unwrap()).unwrap().as_bytes().to_vec();
    let totp = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    fill(&browser, "code", &totp.generate(now).to_string()).await;
    submit(&browser, "/account/two-factor/totp/confirm").await;
    wait_until(
        &browser,
        "return document.querySelectorAll('[data-recovery-code]').length === 10;",
        "return document.title + ' ' + (document.querySelector('.field-error') || {}).textContent;",
    )
    .await;
    let recovery =
        js(&browser, "return document.querySelector('[data-recovery-code]').dataset.recoveryCode;").await;
    browser.close().await.unwrap();

    // Another browser: the password leads to the code page, a recovery code to the dashboard.
    let other = driver.browser().await;
    other.goto(&format!("{base}/login")).await.unwrap();
    fill(&other, "login", "alice").await;
    fill(&other, "password", PASSWORD).await;
    submit(&other, "/login").await;
    wait_for_path(&other, "/login/two-factor").await;
    wait_for_focus(&other, "code").await;
    let problems = js(&other, LABEL_AND_ID_PROBLEMS).await;
    assert_eq!(problems, serde_json::json!([]), "the code page");
    fill(&other, "code", recovery.as_str().unwrap()).await;
    submit(&other, "/login/two-factor").await;
    wait_for_path(&other, "/dashboard").await;
    browser_status_page_is_clean(&other, &base).await;
    other.close().await.unwrap();
}

async fn browser_status_page_is_clean(browser: &Client, base: &str) {
    browser.goto(&format!("{base}/account/two-factor")).await.unwrap();
    let problems = js(browser, LABEL_AND_ID_PROBLEMS).await;
    assert_eq!(problems, serde_json::json!([]), "the status page with TOTP on");
    assert!(browser.source().await.unwrap().contains("9 unused recovery code(s)"));
}

// ---- Passkeys (issue 14): Chromium's WebAuthn virtual authenticator. ----

/// Adds a virtual platform authenticator (CTAP2, resident keys, user verification that succeeds) to
/// the browser's session: the WebDriver WebAuthn extension command, which fantoccini lacks, sent to
/// chromedriver directly.
async fn add_virtual_authenticator(driver: &Chromedriver, browser: &Client) {
    let session = browser.session_id().await.unwrap().expect("a WebDriver session id");
    let body = serde_json::json!({
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": true,
        "hasUserVerification": true,
        "isUserVerified": true,
        "automaticPresenceSimulation": true,
    })
    .to_string();
    let addr: std::net::SocketAddr = driver.url.trim_start_matches("http://").parse().unwrap();
    let request = format!(
        "POST /session/{session}/webauthn/authenticator HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read =
            tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer)).await.unwrap().unwrap();
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length || read == 0 {
                assert!(
                    head.starts_with("HTTP/1.1 200"),
                    "chromedriver refused the virtual authenticator: {text}"
                );
                return;
            }
        }
        assert!(read > 0, "chromedriver closed the connection: {text}");
    }
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn a_user_adds_a_passkey_logs_out_signs_in_with_it_and_removes_it() {
    let database = TestDb::create_shared().await;
    let mail = helpers::SmtpCatcher::start().await;
    let base = serve_with(&database, "localhost", &[("SMTP_URL", &mail.url)]).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    add_virtual_authenticator(&driver, &browser).await;

    register_in(&browser, &base, "alice").await;
    browser.goto(&format!("{base}/account/passkeys")).await.unwrap();
    wait_until(
        &browser,
        "return document.getElementById('passkey-add') && !document.getElementById('passkey-add').hidden;",
        "return document.body.innerHTML;",
    )
    .await;
    fill(&browser, "passkey-name", "Virtual key").await;
    fill(&browser, "passkey-current-password", PASSWORD).await;
    browser.find(Locator::Id("passkey-add-button")).await.unwrap().click().await.unwrap();
    wait_until(
        &browser,
        "return document.body.textContent.includes('Passkey “Virtual key” added.');",
        "return document.body.textContent;",
    )
    .await;
    assert!(browser.source().await.unwrap().contains("never used"));
    let notice = mail.message_matching("alice@example.com", "A passkey was added").await;
    assert!(helpers::unfolded(&notice.data).contains("Virtual key"), "the notice names the passkey");

    submit(&browser, "/logout").await;
    // Chromium's virtual authenticator answers the login page's conditional (autofill) request at
    // once, so the sign-in may finish before the button is pressed, even before a poll sees /login:
    // either way is a passkey sign-in. The path is never anything else.
    for _ in 0..50 {
        let path = browser.current_url().await.unwrap().path().to_owned();
        if path == "/dashboard" {
            break;
        }
        assert!(matches!(path.as_str(), "/login" | "/account/passkeys"), "logging out led to {path}");
        if let Ok(button) = browser.find(Locator::Id("passkey-login-button")).await
            && button.is_displayed().await.unwrap_or(false)
        {
            let _ = button.click().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_path(&browser, "/dashboard").await;
    assert!(browser.source().await.unwrap().contains("Welcome, alice"), "the passkey logged alice in");
    let db = gatehouse::db::connect(&database.url, true).await.unwrap();
    let alice = gatehouse::db::users::find_by_email(&db, "alice@example.com").await.unwrap().unwrap();
    let events = gatehouse::db::audit_events::recent_for_user(&db, alice.id, 20).await.unwrap();
    let kinds: Vec<_> = events.iter().map(|e| (e.kind.as_str(), e.detail.as_deref())).collect();
    assert!(kinds.contains(&("login", Some("passkey"))), "{kinds:?}");
    assert!(kinds.iter().any(|(kind, _)| *kind == "passkey_added"), "{kinds:?}");
    let passkey_login = events.iter().find(|e| e.detail.as_deref() == Some("passkey")).unwrap();
    assert_eq!(alice.last_login_at, Some(passkey_login.created_at), "a passkey login is a login too");

    // Remove it: the password again.
    browser.goto(&format!("{base}/account/passkeys")).await.unwrap();
    let page = browser.source().await.unwrap();
    assert!(page.contains("Virtual key") && page.contains("last used"), "its use is recorded");
    browser.find(Locator::Css(".passkey-item summary")).await.unwrap().click().await.unwrap();
    let password = browser.find(Locator::Css("input[id^='remove-password-']")).await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    browser
        .find(Locator::Css("form[action$='/remove'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &browser,
        "return document.body.textContent.includes('Passkey removed.');",
        "return document.body.textContent;",
    )
    .await;
    assert!(browser.source().await.unwrap().contains("You have no passkeys yet."));

    browser.close().await.unwrap();
}

async fn add_passkey_in(browser: &Client, base: &str, name: &str) {
    browser.goto(&format!("{base}/account/passkeys")).await.unwrap();
    wait_until(
        browser,
        "return document.getElementById('passkey-add') && !document.getElementById('passkey-add').hidden;",
        "return document.body.innerHTML;",
    )
    .await;
    fill(browser, "passkey-name", name).await;
    fill(browser, "passkey-current-password", PASSWORD).await;
    browser.find(Locator::Id("passkey-add-button")).await.unwrap().click().await.unwrap();
    wait_until(
        browser,
        &format!("return document.body.textContent.includes('Passkey “{name}” added.');"),
        "return document.body.textContent;",
    )
    .await;
}

/// Opens /login and signs in with the passkey (conditional request or button), until the page
/// leaves for the dashboard or the script shows a refusal; returns that message ("" on success).
async fn try_passkey_sign_in(browser: &Client, base: &str) -> String {
    browser.goto(&format!("{base}/login")).await.unwrap();
    let status = "return (document.getElementById('passkey-login-status') || {}).textContent || '';";
    for _ in 0..50 {
        if browser.current_url().await.unwrap().path() == "/dashboard" {
            return String::new();
        }
        let said = js(browser, status).await.as_str().unwrap_or_default().to_owned();
        if !said.is_empty() && !said.starts_with("Follow") && !said.starts_with("Checking") {
            return said;
        }
        if said.is_empty()
            && let Ok(button) = browser.find(Locator::Id("passkey-login-button")).await
        {
            let _ = button.click().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the passkey sign-in neither succeeded nor failed: {}", js(browser, status).await);
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver; .ci/run runs it with --ignored"]
async fn a_passkey_does_not_let_in_a_deactivated_user_or_an_unconfirmed_address() {
    use sea_orm::{ConnectionTrait as _, Statement};
    let database = TestDb::create_shared().await;
    let base = serve_with(&database, "localhost", &[("REQUIRE_CONFIRMED_EMAIL", "true")]).await;
    let driver = Chromedriver::start().await;
    let browser = driver.browser().await;
    add_virtual_authenticator(&driver, &browser).await;
    let db = gatehouse::db::connect(&database.url, true).await.unwrap();
    let clock = Clock::default();
    let set_confirmed = async |confirmed: bool| {
        let value = if confirmed { "CURRENT_TIMESTAMP" } else { "NULL" };
        let sql = format!("UPDATE users SET email_confirmed_at = {value}");
        db.execute_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    };

    browser.goto(&format!("{base}/register")).await.unwrap();
    fill(&browser, "username", "alice").await;
    fill(&browser, "email", "alice@example.com").await;
    fill(&browser, "password", PASSWORD).await;
    fill(&browser, "password_confirm", PASSWORD).await;
    submit(&browser, "/register").await;
    wait_for_path(&browser, "/login").await;
    set_confirmed(true).await;
    log_in_as(&browser, &base, "alice").await;
    add_passkey_in(&browser, &base, "Key").await;
    // Before logging out: the login page that follows signs in with the passkey at once (autofill).
    set_confirmed(false).await;
    submit(&browser, "/logout").await;
    wait_for_path(&browser, "/login").await;
    let alice = gatehouse::db::users::find_by_email(&db, "alice@example.com").await.unwrap().unwrap();

    let said = try_passkey_sign_in(&browser, &base).await;
    assert!(said.contains("Confirm your email address"), "{said}");

    set_confirmed(true).await;
    gatehouse::db::users::set_active(&db, alice.id, false, clock.now()).await.unwrap();
    let said = try_passkey_sign_in(&browser, &base).await;
    assert!(said.contains("could not be verified"), "{said}");
    // The failure is recorded in the background (its timing must not tell whether the account
    // exists), so the page can show the refusal before the row is written.
    let mut recorded = false;
    for _ in 0..50 {
        let events = gatehouse::db::audit_events::recent_for_user(&db, alice.id, 20).await.unwrap();
        recorded = events.iter().any(|e| e.kind == "passkey_login_failed");
        if recorded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recorded, "no passkey_login_failed event was recorded within 5 s");

    // Reactivated: the button on the same page (its autofill request is spent) asks with a prompt.
    gatehouse::db::users::set_active(&db, alice.id, true, clock.now()).await.unwrap();
    browser.find(Locator::Id("passkey-login-button")).await.unwrap().click().await.unwrap();
    wait_for_path(&browser, "/dashboard").await;
    assert!(browser.source().await.unwrap().contains("Welcome, alice"));

    browser.close().await.unwrap();
}
