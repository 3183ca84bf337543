use actix_web::http::StatusCode;

use crate::helpers::{ORIGIN, PASSWORD, TestApp, assert_redirects_to};

fn registration(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("username", "mallory".to_owned()),
        ("email", "mallory@example.com".to_owned()),
        ("password", PASSWORD.to_owned()),
        ("password_confirm", PASSWORD.to_owned()),
        ("csrf_token", token.to_owned()),
    ]
}

fn refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[actix_web::test]
async fn a_post_without_a_token_is_refused_with_403_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/register").await;
    let mut fields = registration("");
    fields.pop();

    let res = client.post_form("/register", &refs(&fields)).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("nothing was changed"), "{}", res.body);
    // Reloading would send the refused POST again: the page links back to the form instead.
    assert!(!res.body.contains("Reload"), "{}", res.body);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn the_refusal_page_links_back_to_the_form_it_came_from_and_only_to_ours() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/register").await;
    let fields = [("username", "alice"), ("csrf_token", "forged")];
    let ours = format!("{ORIGIN}/register");
    for (referer, back) in [
        (ours.as_str(), "/register"),
        ("https://evil.example/register", "/"),
        ("http://localhost:8080//evil.example/x", "/"),
    ] {
        let res =
            client.post_form_with("/register", &fields, &[("Origin", ORIGIN), ("Referer", referer)]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        // Tera escapes `/` in attribute values as `&#x2F;`, which browsers read back as `/`.
        let link =
            format!("<a class=\"button\" href=\"{}\">Back to the form</a>", back.replace('/', "&#x2F;"));
        assert!(res.body.contains(&link), "{referer}: {}", res.body);
    }
}

#[actix_web::test]
async fn a_token_from_another_session_is_refused() {
    let app = TestApp::spawn().await;
    let attacker = app.client();
    let attackers_token = attacker.csrf_token("/register").await;
    let victim = app.client();
    victim.get("/register").await;

    let res = victim.post_form("/register", &refs(&registration(&attackers_token))).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_token_without_a_session_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.client().csrf_token("/login").await;
    let cookieless = app.client();
    let res =
        cookieless.post_form("/login", &[("login", "a"), ("password", "b"), ("csrf_token", &token)]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_post_from_another_origin_is_refused_even_with_a_valid_token() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;

    let res = client
        .post_form_with("/register", &refs(&registration(&token)), &[("Origin", "https://evil.example")])
        .await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count_rows("users").await, 0);
}

#[actix_web::test]
async fn a_post_whose_referer_is_another_site_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Referer", "http://localhost:8080.evil.example/")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_same_origin_post_with_the_sessions_token_is_accepted() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Origin", ORIGIN), ("Referer", "http://localhost:8080/register")],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn logging_in_and_out_need_the_token_too() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let logout = client.post_form("/logout", &[]).await;
    assert_eq!(logout.status, StatusCode::FORBIDDEN);
    assert_eq!(client.get("/dashboard").await.status, StatusCode::OK, "still logged in");

    let other = app.client();
    other.get("/login").await;
    let login = other.post_form("/login", &[("login", "alice"), ("password", PASSWORD)]).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_token_seen_before_login_is_worthless_after_it() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    let client = app.client();
    let old_token = client.csrf_token("/login").await;
    assert_redirects_to(&client.log_in("alice", PASSWORD).await, "/dashboard");

    let res = client.post_form("/logout", &[("csrf_token", &old_token)]).await;

    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_same_origin_referer_without_origin_is_accepted() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client
        .post_form_with(
            "/register",
            &refs(&registration(&token)),
            &[("Referer", "http://localhost:8080/register")],
        )
        .await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn an_opaque_null_origin_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let res = client.post_form_with("/register", &refs(&registration(&token)), &[("Origin", "null")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_refusal_is_json_for_a_json_only_client() {
    let app = TestApp::spawn().await;
    let client = app.client();
    client.get("/login").await;
    let res = client
        .post_form_with("/login", &[("login", "a")], &[("Origin", ORIGIN), ("Accept", "application/json")])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["status"], 403);
}

#[actix_web::test]
async fn a_post_to_a_path_that_does_not_exist_is_checked_like_any_other() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let refused = client.post_form("/no/such/form", &[("x", "1")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "no token: refused before routing");

    let token = client.csrf_token("/login").await;
    let res = client.post_form("/no/such/form", &[("csrf_token", &token)]).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "with a token the router answers");
}

fn without_public_url(
    bind: &'static str,
) -> impl FnOnce(&mut std::collections::HashMap<&'static str, String>) {
    move |vars| {
        vars.remove("PUBLIC_URL");
        vars.insert("BIND_ADDR", bind.to_owned());
    }
}

#[actix_web::test]
async fn without_public_url_every_loopback_name_of_the_bound_port_can_post() {
    for origin in ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"] {
        let app = TestApp::spawn_with(without_public_url("127.0.0.1:8080")).await;
        let client = app.client();
        let token = client.csrf_token("/register").await;
        let res =
            client.post_form_with("/register", &refs(&registration(&token)), &[("Origin", origin)]).await;
        assert_redirects_to(&res, "/dashboard");
    }
}

#[actix_web::test]
async fn without_public_url_other_ports_and_hosts_are_still_refused() {
    for origin in
        ["http://localhost:9090", "http://0.0.0.0:8080", "https://localhost:8080", "http://evil.example"]
    {
        let app = TestApp::spawn_with(without_public_url("0.0.0.0:8080")).await;
        let client = app.client();
        let token = client.csrf_token("/register").await;
        let res =
            client.post_form_with("/register", &refs(&registration(&token)), &[("Origin", origin)]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(app.count_rows("users").await, 0);
    }
}

#[actix_web::test]
async fn with_public_url_set_only_it_may_post() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("PUBLIC_URL", "http://gate.example:8080".to_owned());
        vars.insert("BIND_ADDR", "127.0.0.1:8080".to_owned());
    })
    .await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let fields = registration(&token);
    let refused =
        client.post_form_with("/register", &refs(&fields), &[("Origin", "http://localhost:8080")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let accepted =
        client.post_form_with("/register", &refs(&fields), &[("Origin", "http://gate.example:8080")]).await;
    assert_redirects_to(&accepted, "/dashboard");
}

#[actix_web::test]
async fn a_form_body_that_is_not_urlencoded_utf8_is_a_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let valid = format!(
        "username=mallory&email=m%40example.com&password=a+long+and+unusual+passphrase\
         &password_confirm=a+long+and+unusual+passphrase&csrf_token={token}"
    );
    for broken in [
        valid.replace("username=mallory", "username=mall%ffory"),
        valid.replace("username=mallory", "username=mall%zzory"),
        valid.replace("username=mallory", "username=mallory%"),
        valid.replace("username=mallory", "username=mall%C3ory"),
    ] {
        let res = client
            .post_raw(
                "/register",
                "application/x-www-form-urlencoded",
                broken.into_bytes(),
                &[("Origin", ORIGIN)],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert!(res.body.contains("Bad request"));
    }
    let mut raw_bytes = valid.clone().into_bytes();
    raw_bytes.splice(9..9, [0xff, 0xfe]);
    let res = client
        .post_raw("/register", "application/x-www-form-urlencoded", raw_bytes, &[("Origin", ORIGIN)])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count_rows("users").await, 0);

    let res = client
        .post_raw("/register", "application/x-www-form-urlencoded", valid.into_bytes(), &[("Origin", ORIGIN)])
        .await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn the_form_content_type_is_recognised_in_any_case() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let token = client.csrf_token("/register").await;
    let body = serde_urlencoded::to_string(refs(&registration(&token))).unwrap();
    let res = client
        .post_raw("/register", "Application/X-WWW-Form-Urlencoded", body.into_bytes(), &[("Origin", ORIGIN)])
        .await;
    assert_redirects_to(&res, "/dashboard");
}
