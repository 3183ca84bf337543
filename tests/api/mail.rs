//! Email through a real SMTP conversation: a minimal SMTP server on localhost, started by the test,
//! receives what the app sends.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

use crate::helpers::{PASSWORD, TestApp, TestClient, assert_redirects_to};

/// One received message: its recipients and raw DATA.
#[derive(Clone, Debug)]
struct Received {
    to: Vec<String>,
    data: String,
}

struct SmtpCatcher {
    url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpCatcher {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let shared = inbox.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let inbox = shared.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 catcher ESMTP\r\n").await.ok();
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                            b"250 catcher\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            write.write_all(b"354 go ahead\r\n").await.ok();
                            let mut data = String::new();
                            while let Ok(Some(body_line)) = lines.next_line().await {
                                if body_line == "." {
                                    break;
                                }
                                data.push_str(&body_line);
                                data.push('\n');
                            }
                            inbox.lock().unwrap().push(Received { to: std::mem::take(&mut to), data });
                            b"250 queued\r\n"
                        } else if upper.starts_with("QUIT") {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { url, inbox }
    }

    /// Waits (briefly) for a message to `address`: the app sends in the background.
    async fn message_to(&self, address: &str) -> Received {
        for _ in 0..100 {
            if let Some(found) = self.inbox.lock().unwrap().iter().find(|m| m.to.iter().any(|t| t == address))
            {
                return found.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email to {address} arrived; inbox: {:?}", self.inbox.lock().unwrap());
    }
}

/// The plain-text body with quoted-printable soft line breaks and `=3D` undone.
fn unfolded(data: &str) -> String {
    data.replace("=\n", "").replace("=3D", "=")
}

#[actix_web::test]
async fn a_reset_email_goes_through_smtp_and_its_link_resets_the_password() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    let other_device = app.logged_in_client("alice").await;

    let res =
        app.client().submit("/password-reset", "/password-reset", &[("email", "ALICE@example.com")]).await;
    assert_redirects_to(&res, "/login");

    let message = smtp.message_to("alice@example.com").await;
    let body = unfolded(&message.data);
    assert!(body.contains("Subject: Reset your Gatehouse password"), "{body}");
    assert!(body.contains("text/plain") && body.contains("text/html"), "plain text and HTML parts");
    let start = body.find("http://localhost:8080/password-reset/").expect("a link built from PUBLIC_URL");
    let link: String =
        body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_:/.".contains(*c)).collect();
    let path = link.trim_start_matches("http://localhost:8080");

    let browser = app.client();
    assert_redirects_to(&browser.get(path).await, "/password-reset/set-password");
    let new_password = "mail delivered this long passphrase";
    let done = browser
        .submit(
            "/password-reset/set-password",
            "/password-reset/set-password",
            &[("password", new_password), ("password_confirm", new_password)],
        )
        .await;
    assert_redirects_to(&done, "/login");
    assert_redirects_to(&app.client().log_in("alice", new_password).await, "/dashboard");
    assert_redirects_to(&other_device.get("/dashboard").await, "/login?next=/dashboard");
}

#[actix_web::test]
async fn no_email_is_sent_for_an_unknown_address() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    app.logged_in_client("alice").await;
    app.client().submit("/password-reset", "/password-reset", &[("email", "nobody@example.com")]).await;
    app.client().submit("/password-reset", "/password-reset", &[("email", "alice@example.com")]).await;
    smtp.message_to("alice@example.com").await;
    let inbox = smtp.inbox.lock().unwrap();
    assert_eq!(inbox.len(), 1, "only the real account got mail: {inbox:?}");
}

#[actix_web::test]
async fn the_old_address_is_told_when_the_email_changes() {
    let smtp = SmtpCatcher::start().await;
    let app = TestApp::spawn_with(|vars| {
        vars.insert("SMTP_URL", smtp.url.clone());
    })
    .await;
    let client: TestClient = app.logged_in_client("alice").await;

    let res = client
        .submit(
            "/account",
            "/account/email",
            &[("email", "alice2@example.com"), ("current_password", PASSWORD)],
        )
        .await;

    assert_redirects_to(&res, "/account");
    let notice = unfolded(&smtp.message_to("alice@example.com").await.data);
    assert!(notice.contains("alice2@example.com"), "{notice}");
    assert!(notice.contains("Subject: Your Gatehouse email address was changed"));
}
