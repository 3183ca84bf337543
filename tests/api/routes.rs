use actix_web::{App, HttpRequest, http::StatusCode, test, web};
use gatehouse::web::Route;

use crate::helpers::TestApp;

/// Every `Route` is registered under its name with its pattern: `url_for` in the real route table
/// gives back the route's own pattern (parameters filled with `x`).
#[actix_web::test]
async fn every_route_is_registered_under_its_name_and_pattern() {
    let resolver = test::init_service(App::new().configure(gatehouse::routes::configure).route(
        "/__resolve/{name}/{parameters}",
        web::get().to(|req: HttpRequest, path: web::Path<(String, usize)>| async move {
            let (name, parameters) = path.into_inner();
            req.url_for(&name, vec!["x"; parameters])
                .map(|url| url.path().to_owned())
                .map_err(|_| actix_web::error::ErrorNotFound("no such route"))
        }),
    ))
    .await;
    for route in Route::ALL {
        let parameters = route.pattern().matches('{').count();
        let uri = format!("/__resolve/{}/{parameters}", route.name());
        let res = test::call_service(&resolver, test::TestRequest::get().uri(&uri).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{route:?} is not registered as {}", route.name());
        let path = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        let expected: String = route
            .pattern()
            .split('/')
            .map(|segment| if segment.starts_with('{') { "x" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(path, expected, "{route:?}");
    }
}

/// Every route a redirect may name answers a logged-in browser: a route the enum lists but the app
/// does not serve fails here, not in a user's browser.
#[actix_web::test]
async fn every_redirect_target_answers() {
    let app = TestApp::spawn().await;
    let client = app.logged_in_client("alice").await;
    let targets: Vec<Route> = Route::ALL.into_iter().filter(|r| r.is_redirect_target()).collect();
    assert!(targets.contains(&Route::Login) && targets.contains(&Route::Dashboard));
    for route in targets {
        let page = client.get(route.path()).await;
        assert!(
            page.status.is_success() || page.status.is_redirection(),
            "{route:?} → {} answered {}",
            route.path(),
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
