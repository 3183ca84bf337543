//! The Tera templates, embedded in the binary so it runs from any working directory. Pages render
//! through `web::views`; emails through `mail`.

use std::sync::Arc;

use tera::{Context, Tera};

/// The compiled templates, embedded in the binary so it runs from any working directory.
#[derive(Clone)]
pub struct Templates(Arc<Tera>);

/// Every template, by name; a test renders each one.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("login_two_factor.html", include_str!("../templates/login_two_factor.html")),
    ("two_factor.html", include_str!("../templates/two_factor.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("sessions.html", include_str!("../templates/sessions.html")),
    ("passkeys.html", include_str!("../templates/passkeys.html")),
    ("password_reset_request.html", include_str!("../templates/password_reset_request.html")),
    ("password_reset_form.html", include_str!("../templates/password_reset_form.html")),
    ("password_reset_invalid.html", include_str!("../templates/password_reset_invalid.html")),
    ("confirm_email.html", include_str!("../templates/confirm_email.html")),
    ("confirm_email_invalid.html", include_str!("../templates/confirm_email_invalid.html")),
    ("confirm_email_taken.html", include_str!("../templates/confirm_email_taken.html")),
    ("confirm_email_request.html", include_str!("../templates/confirm_email_request.html")),
    ("confirm_email_first.html", include_str!("../templates/confirm_email_first.html")),
    ("too_many_attempts.html", include_str!("../templates/too_many_attempts.html")),
    ("admin_users.html", include_str!("../templates/admin_users.html")),
    ("admin_user.html", include_str!("../templates/admin_user.html")),
    ("emails/password_reset.txt", include_str!("../templates/emails/password_reset.txt")),
    ("emails/password_reset.html", include_str!("../templates/emails/password_reset.html")),
    ("emails/email_changed.txt", include_str!("../templates/emails/email_changed.txt")),
    ("emails/email_changed.html", include_str!("../templates/emails/email_changed.html")),
    ("emails/confirm_email.txt", include_str!("../templates/emails/confirm_email.txt")),
    ("emails/confirm_email.html", include_str!("../templates/emails/confirm_email.html")),
    ("emails/email_change_requested.txt", include_str!("../templates/emails/email_change_requested.txt")),
    ("emails/email_change_requested.html", include_str!("../templates/emails/email_change_requested.html")),
    ("emails/two_factor_changed.txt", include_str!("../templates/emails/two_factor_changed.txt")),
    ("emails/two_factor_changed.html", include_str!("../templates/emails/two_factor_changed.html")),
    ("emails/passkey_added.txt", include_str!("../templates/emails/passkey_added.txt")),
    ("emails/passkey_added.html", include_str!("../templates/emails/passkey_added.html")),
    ("errors/error.html", include_str!("../templates/errors/error.html")),
    ("macros/forms.html", include_str!("../templates/macros/forms.html")),
    ("macros/sessions.html", include_str!("../templates/macros/sessions.html")),
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
