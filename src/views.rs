//! What templates see: view structs (never an entity model) and the one render function that adds
//! the layout's common values (current user, flash messages, CSRF token).

use std::sync::Arc;

use actix_session::SessionExt;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, http::StatusCode};
use serde::Serialize;
use tera::{Context, Tera};

use crate::{auth::CurrentUser, auth::csrf, error::AppError, flash};

/// The compiled templates, embedded in the binary so it runs from any working directory.
#[derive(Clone)]
pub struct Templates(Arc<Tera>);

/// Every template, by name; a test renders each one.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("errors/error.html", include_str!("../templates/errors/error.html")),
    ("macros/forms.html", include_str!("../templates/macros/forms.html")),
];

impl Templates {
    pub fn load() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        // `.html` autoescapes by default; say so explicitly so a rename cannot turn it off.
        tera.autoescape_on(vec![".html"]);
        Ok(Self(Arc::new(tera)))
    }

    pub fn render(&self, name: &str, context: &Context) -> Result<String, tera::Error> {
        self.0.render(name, context)
    }
}

/// The logged-in user as pages see it: no password hash, ever.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_admin: bool,
}

impl From<&CurrentUser> for UserView {
    fn from(user: &CurrentUser) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role.clone(),
            is_admin: user.is_admin(),
        }
    }
}

/// The values the layout needs, for pages and error pages alike.
pub fn base_context(req: &HttpRequest) -> Context {
    let mut context = Context::new();
    let user = req.extensions().get::<CurrentUser>().map(UserView::from);
    context.insert("current_user", &user);
    context.insert("flashes", &flash::incoming(req));
    context.insert("csrf_token", &csrf::current_token(&req.get_session()).unwrap_or_default());
    context
}

/// Renders `template` with the layout's values added to `context`.
pub fn render(
    req: &HttpRequest,
    status: StatusCode,
    template: &str,
    context: Context,
) -> Result<HttpResponse, AppError> {
    let templates = req
        .app_data::<actix_web::web::Data<Templates>>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("templates are not registered")))?;
    let mut full = base_context(req);
    full.extend(context);
    let body = templates.render(template, &full)?;
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body))
}
