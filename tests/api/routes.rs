use actix_web::{App, HttpRequest, http::StatusCode, test, web};

use crate::helpers::TestApp;

/// Resolves every redirect target through the real route table, then asks the real app for the
/// path: a mistyped or removed route name fails here, not in a user's browser.
#[actix_web::test]
async fn every_redirect_target_is_a_named_route_that_answers() {
    let resolver = test::init_service(App::new().configure(gatehouse::routes::configure).route(
        "/__resolve/{name}",
        web::get().to(|req: HttpRequest, name: web::Path<String>| async move {
            gatehouse::routes::path_for(&req, &name)
                .map_err(|_| actix_web::error::ErrorNotFound("no such route"))
        }),
    ))
    .await;
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;

    for name in gatehouse::routes::REDIRECT_TARGETS {
        let req = test::TestRequest::get().uri(&format!("/__resolve/{name}")).to_request();
        let res = test::call_service(&resolver, req).await;
        assert_eq!(res.status(), StatusCode::OK, "route name {name} does not resolve");
        let path = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();

        let page = client.get(&path).await;
        assert!(
            page.status.is_success() || page.status.is_redirection(),
            "{name} → {path} answered {}",
            page.status
        );
    }
}

#[actix_web::test]
async fn every_link_and_form_on_the_pages_leads_to_a_route() {
    let app = TestApp::spawn().await;
    let anonymous = app.client();
    let member = app.logged_in_client("alice").await;
    let mut targets = std::collections::BTreeSet::new();
    for (client, page) in [
        (&anonymous, "/"),
        (&anonymous, "/login"),
        (&anonymous, "/register"),
        (&anonymous, "/password-reset"),
        (&member, "/"),
        (&member, "/dashboard"),
        (&member, "/account"),
        (&member, "/account/sessions"),
    ] {
        let body = client.get(page).await.body;
        for attribute in ["href=\"", "action=\""] {
            for piece in body.split(attribute).skip(1) {
                let target = &piece[..piece.find('"').unwrap()];
                if target.starts_with('/') {
                    targets.insert(target.to_owned());
                }
            }
        }
    }
    for expected in ["/logout", "/dashboard", "/account", "/account/sessions", "/password-reset"] {
        assert!(targets.contains(expected), "{expected} is not linked: {targets:?}");
    }
    for target in targets {
        let res = member.get(&target).await;
        // /logout is POST-only: 405 to GET proves it exists.
        assert!(res.status != StatusCode::NOT_FOUND, "{target} is linked but does not exist");
    }
}
