use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, TestApp, assert_redirects_to};

#[actix_web::test]
async fn registering_creates_the_account_logs_it_in_and_lands_on_the_dashboard() {
    let app = TestApp::spawn().await;
    let client = app.client();

    let res = client.register("alice", "Alice@Example.com", PASSWORD).await;

    assert_redirects_to(&res, "/dashboard");
    let dashboard = client.get("/dashboard").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("Welcome, alice"), "{}", dashboard.body);
    assert!(dashboard.body.contains("alice@example.com"), "email is stored lower-case");
    assert!(dashboard.body.contains("Your account is ready."), "the flash says what happened");
    assert_eq!(dashboard.body.matches("Welcome").count(), 1, "one welcome, not two");
}

#[actix_web::test]
async fn the_stored_password_is_an_argon2id_hash_not_the_password() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;
    use sea_orm::EntityTrait;
    let user = entity::users::Entity::find().one(&app.db).await.unwrap().unwrap();
    assert!(user.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(!user.password_hash.contains(PASSWORD));
    assert_eq!(user.role, "user");
    assert!(user.is_active);
}

struct Case {
    username: &'static str,
    email: &'static str,
    password: &'static str,
    confirm: &'static str,
    field: &'static str,
    message: &'static str,
}

#[actix_web::test]
async fn each_invalid_field_is_a_422_with_its_message_and_the_input_kept_but_not_the_password() {
    let app = TestApp::spawn().await;
    let cases = [
        Case {
            username: "al",
            email: "al@example.com",
            password: PASSWORD,
            confirm: PASSWORD,
            field: "username",
            message: "Use 3 to 32 characters.",
        },
        Case {
            username: "al ice",
            email: "al@example.com",
            password: PASSWORD,
            confirm: PASSWORD,
            field: "username",
            message: "Use only the letters a–z and A–Z, digits, and _ - . characters.",
        },
        Case {
            // No look-alike letters from other scripts: the message says which letters.
            username: "bób",
            email: "bob@example.com",
            password: PASSWORD,
            confirm: PASSWORD,
            field: "username",
            message: "Use only the letters a–z and A–Z, digits, and _ - . characters.",
        },
        Case {
            username: "alice",
            email: "not-an-address",
            password: PASSWORD,
            confirm: PASSWORD,
            field: "email",
            message: "Enter a valid email address",
        },
        Case {
            username: "alice",
            email: "alice@example.com",
            password: "short one",
            confirm: "short one",
            field: "password",
            message: "Use at least 15 characters.",
        },
        Case {
            username: "alice",
            email: "alice@example.com",
            password: "qwertyuiopasdfgh",
            confirm: "qwertyuiopasdfgh",
            field: "password",
            message: "attackers try first",
        },
        Case {
            username: "alice",
            email: "someone@example.com",
            password: "my name is alice, hello",
            confirm: "my name is alice, hello",
            field: "password",
            message: "must not contain your username",
        },
        Case {
            username: "alice",
            email: "alice@example.com",
            password: PASSWORD,
            confirm: "a different passphrase",
            field: "password_confirm",
            message: "do not match",
        },
    ];
    for case in cases {
        let client = app.client();
        let res = client
            .submit(
                "/register",
                "/register",
                &[
                    ("username", case.username),
                    ("email", case.email),
                    ("password", case.password),
                    ("password_confirm", case.confirm),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}: {}", case.field, res.body);
        assert!(
            res.body.contains(case.message),
            "{} should say {:?}: {}",
            case.field,
            case.message,
            res.body
        );
        assert!(
            res.body.contains(&format!("id=\"{}-error\"", case.field)),
            "the message sits by {}",
            case.field
        );
        assert!(res.body.contains(&format!("value=\"{}\"", case.username)), "username kept");
        assert!(res.body.contains(&format!("value=\"{}\"", case.email)), "email kept");
        assert!(!res.body.contains(case.password), "the password is never echoed");
    }
    assert_eq!(app.count_rows("users").await, 0, "nothing was created");
}

#[actix_web::test]
async fn missing_fields_are_a_422_not_a_400() {
    let app = TestApp::spawn().await;
    let res = app.client().submit("/register", "/register", &[]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("id=\"username-error\""));
    assert!(res.body.contains("id=\"email-error\""));
    assert!(res.body.contains("id=\"password-error\""));
}

#[actix_web::test]
async fn a_username_taken_in_another_case_is_refused() {
    let app = TestApp::spawn().await;
    app.logged_in_client("Alice").await;

    let res = app.client().register("aLICE", "other@example.com", PASSWORD).await;

    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("This username is already taken."));
    assert_eq!(app.count_rows("users").await, 1);
}

#[actix_web::test]
async fn an_email_taken_in_another_case_is_refused() {
    let app = TestApp::spawn().await;
    app.logged_in_client("alice").await;

    let res = app.client().register("bob", "ALICE@example.COM", PASSWORD).await;

    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("An account with this email address already exists."));
    assert_eq!(app.count_rows("users").await, 1);
}

#[actix_web::test]
async fn two_registrations_racing_for_one_name_give_one_account_and_one_422() {
    let app = TestApp::spawn().await;
    // A race can be lost early (the second request still opening its pool connection when the first
    // inserts), which the friendly pre-check answers. Race again, on fresh names, until both requests
    // pass the pre-check and the unique index decides; every round must end in one account and a 422.
    let mut decided_by_the_index = false;
    for round in 0..5 {
        let username = format!("racer{round}");
        let first = app.client();
        let second = app.client();
        let first_token = first.csrf_token("/register").await;
        let second_token = second.csrf_token("/register").await;
        let form = |email: String, token: &str| {
            vec![
                ("username".to_owned(), username.clone()),
                ("email".to_owned(), email),
                ("password".to_owned(), PASSWORD.to_owned()),
                ("password_confirm".to_owned(), PASSWORD.to_owned()),
                ("csrf_token".to_owned(), token.to_owned()),
            ]
        };
        let first_form = form(format!("one{round}@example.com"), &first_token);
        let second_form = form(format!("two{round}@example.com"), &second_token);
        let first_fields: Vec<(&str, &str)> =
            first_form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let second_fields: Vec<(&str, &str)> =
            second_form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

        app.statements.reset();
        let (a, b) = tokio::join!(
            first.post_form("/register", &first_fields),
            second.post_form("/register", &second_fields)
        );

        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [303, 422], "first: {}\nsecond: {}", a.body, b.body);
        let loser = if a.status == StatusCode::UNPROCESSABLE_ENTITY { &a } else { &b };
        assert!(loser.body.contains("This username is already taken."));
        assert_eq!(app.count_rows("users").await, round + 1);
        if app.statements.failed() == 1 {
            decided_by_the_index = true;
            break;
        }
    }
    assert!(decided_by_the_index, "in five rounds the unique index never had to decide");
}

#[actix_web::test]
async fn a_script_tag_typed_as_a_username_comes_back_escaped() {
    let app = TestApp::spawn().await;
    let res = app.client().register("<script>alert(1)</script>", "x@example.com", PASSWORD).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!res.body.contains("<script>alert(1)</script>"), "{}", res.body);
    assert!(res.body.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"), "{}", res.body);
}

#[actix_web::test]
async fn a_logged_in_user_opening_register_is_sent_to_the_dashboard() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    assert_redirects_to(&client.get("/register").await, "/dashboard");
}

#[actix_web::test]
async fn a_lower_password_min_length_setting_is_honoured() {
    let app = TestApp::spawn_with(|vars| {
        vars.insert("PASSWORD_MIN_LENGTH", "8".to_owned());
    })
    .await;
    let res = app.client().register("alice", "alice@example.com", "zebra-kite").await;
    assert_redirects_to(&res, "/dashboard");
}

#[actix_web::test]
async fn the_register_form_helps_password_managers() {
    let app = TestApp::spawn().await;
    let page = app.client().get("/register").await;
    assert_eq!(page.status, StatusCode::OK);
    for needle in [
        "autocomplete=\"username\"",
        "autocomplete=\"email\"",
        "autocomplete=\"new-password\"",
        "<label for=\"username\">",
        "<label for=\"email\">",
        "<label for=\"password\">",
        "<label for=\"password_confirm\">",
        "name=\"csrf_token\"",
    ] {
        assert!(page.body.contains(needle), "missing {needle}");
    }
}
