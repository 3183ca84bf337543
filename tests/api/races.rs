//! A credential change or a revocation racing another request of the same user must never leave a
//! session alive. Each race runs many times; on Postgres the two requests really overlap.

use actix_web::http::StatusCode;

use crate::helpers::{PASSWORD, SAFARI_ON_IPHONE, TestApp, TestClient};

const NEW_PASSWORD: &str = "an entirely different passphrase";
const ROUNDS: usize = 20;

async fn logged_in(client: &TestClient) -> bool {
    let page = client.get("/dashboard").await;
    page.status == StatusCode::OK && page.body.contains("Welcome,")
}

async fn change_password(client: &TestClient) -> StatusCode {
    client
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password_confirm", NEW_PASSWORD),
            ],
        )
        .await
        .status
}

#[actix_web::test]
async fn a_login_with_the_old_password_racing_a_password_change_never_stays_logged_in() {
    let app = TestApp::spawn().await;
    for round in 0..ROUNDS {
        let name = format!("user{round}");
        let owner = app.logged_in_client(&name).await;
        let intruder = app.client();
        let token = intruder.csrf_token("/login").await;

        let fields = [("login", name.as_str()), ("password", PASSWORD), ("csrf_token", token.as_str())];
        // The change hashes twice, the login once: starting the login a little later in each round
        // sweeps its read of the user row across the moment the change commits.
        let login = async {
            tokio::time::sleep(std::time::Duration::from_millis(8 * round as u64)).await;
            intruder.post_form("/login", &fields).await
        };
        let (login, changed) = tokio::join!(login, change_password(&owner));

        assert_eq!(changed, StatusCode::SEE_OTHER, "round {round}: the change went through");
        if login.status == StatusCode::SEE_OTHER {
            assert!(
                !logged_in(&intruder).await,
                "round {round}: a login with the old password outlived the change"
            );
        }
        assert!(logged_in(&owner).await, "round {round}: the owner's own session stays");
    }
}

#[actix_web::test]
async fn a_key_renewal_racing_a_revocation_never_revives_the_session() {
    let app = TestApp::spawn().await;
    for round in 0..ROUNDS {
        let name = format!("user{round}");
        let laptop = app.logged_in_client(&name).await;
        let phone = TestClient::logged_in_as(&app, &name, SAFARI_ON_IPHONE).await;
        let laptops_id = {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let rows = entity::sessions::Entity::find()
                .filter(entity::sessions::Column::UserId.eq(app.user_id(&name).await))
                .all(&app.db)
                .await
                .unwrap();
            rows.into_iter()
                .find(|row| row.user_agent.as_deref().is_some_and(|ua| ua.contains("Firefox")))
                .unwrap()
                .public_id
        };
        let token = phone.csrf_token("/account/sessions").await;

        // The laptop changes its password (renewing its key at the end of the request) while the
        // phone ends the laptop's session; a later start each round sweeps the revocation across the
        // change's hashing, between the laptop's session check and its save.
        let laptops_token = laptop.csrf_token("/account").await;
        let change_fields = [
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("new_password_confirm", NEW_PASSWORD),
            ("csrf_token", laptops_token.as_str()),
        ];
        let change = laptop.post_form("/account/password", &change_fields);
        let action = format!("/account/sessions/{laptops_id}/revoke");
        let fields = [("csrf_token", token.as_str())];
        let revoke = async {
            tokio::time::sleep(std::time::Duration::from_millis(5 * round as u64)).await;
            phone.post_form(&action, &fields).await
        };
        let (_, revoked) = tokio::join!(change, revoke);

        let laptop_alive = logged_in(&laptop).await;
        let phone_alive = logged_in(&phone).await;
        assert!(!(laptop_alive && phone_alive), "round {round}: a password change leaves only one device");
        if revoked.status == StatusCode::SEE_OTHER && revoked.location().starts_with("/account/sessions") {
            assert!(!laptop_alive, "round {round}: the revoked laptop came back through its key renewal");
        }
    }
}
