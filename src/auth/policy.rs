//! The password policy of NIST SP 800-63B-4 for a password that is the only factor: length counted
//! in code points after NFC, no composition rules, refused when common or built from the user's name.

use std::{collections::HashSet, sync::OnceLock};

use super::password::Password;

/// The longest password accepted: long enough for any passphrase, short enough to bound hashing work.
pub const MAX_LENGTH: usize = 1024;

/// Why a password was refused; `Display` is the message shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("Use at least {min} characters.")]
    TooShort { min: usize },
    #[error("Use at most {max} characters.")]
    TooLong { max: usize },
    #[error("This password is too common: it appears on lists of breached passwords.")]
    Common,
    #[error("The password must not contain your username.")]
    ContainsUsername,
    #[error("The password must not contain the first part of your email address.")]
    ContainsEmail,
}

/// Checks a candidate password for an account with this username and email.
pub fn check(
    password: &Password,
    min_length: usize,
    username: &str,
    email: &str,
) -> Result<(), PolicyViolation> {
    let candidate = password.expose();
    let length = candidate.chars().count();
    if length < min_length {
        return Err(PolicyViolation::TooShort { min: min_length });
    }
    if length > MAX_LENGTH {
        return Err(PolicyViolation::TooLong { max: MAX_LENGTH });
    }
    let folded = candidate.to_lowercase();
    if common_passwords().contains(folded.as_str()) {
        return Err(PolicyViolation::Common);
    }
    let username = username.trim().to_lowercase();
    if username.chars().count() >= 3 && folded.contains(&username) {
        return Err(PolicyViolation::ContainsUsername);
    }
    let local_part = email.trim().split('@').next().unwrap_or_default().to_lowercase();
    if local_part.chars().count() >= 3 && folded.contains(&local_part) {
        return Err(PolicyViolation::ContainsEmail);
    }
    Ok(())
}

/// The names of a form's two new-password fields.
#[derive(Clone, Copy, Debug)]
pub struct NewPasswordFields {
    pub password: &'static str,
    pub confirm: &'static str,
}

/// Registration and reset forms.
pub const PASSWORD_FIELDS: NewPasswordFields =
    NewPasswordFields { password: "password", confirm: "password_confirm" };
/// The change-password form, which also carries the current password.
pub const NEW_PASSWORD_FIELDS: NewPasswordFields =
    NewPasswordFields { password: "new_password", confirm: "new_password_confirm" };

/// The one check of a new password, wherever it is chosen (register, change, reset): the policy,
/// then the confirmation. The refusal names the field to show it beside.
pub fn check_new_password(
    password: &Password,
    confirm: &Password,
    min_length: usize,
    username: &str,
    email: &str,
    fields: NewPasswordFields,
) -> Result<(), (&'static str, String)> {
    if let Err(violation) = check(password, min_length, username, email) {
        return Err((fields.password, violation.to_string()));
    }
    if password.expose() != confirm.expose() {
        return Err((fields.confirm, "The two passwords do not match.".to_owned()));
    }
    Ok(())
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt")
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check15(password: &str) -> Result<(), PolicyViolation> {
        check(&Password::new(password), 15, "alice", "alice.smith@example.com")
    }

    #[test]
    fn length_is_counted_in_code_points_not_bytes() {
        // 15 code points, 30 bytes in UTF-8.
        assert_eq!(check15("ééééééééééééééé"), Ok(()));
        assert_eq!(check15("éééééééééééééé"), Err(PolicyViolation::TooShort { min: 15 }));
    }

    #[test]
    fn length_is_counted_after_nfc_normalisation() {
        // 15 decomposed "e + combining acute" pairs are 30 code points, but 15 after NFC.
        let decomposed = "e\u{301}".repeat(14);
        assert_eq!(check15(&decomposed), Err(PolicyViolation::TooShort { min: 15 }));
    }

    #[test]
    fn the_upper_bound_is_1024_code_points() {
        assert_eq!(check15(&"x1".repeat(512)), Ok(()));
        assert_eq!(check15(&"x1".repeat(512 + 1)), Err(PolicyViolation::TooLong { max: 1024 }));
    }

    #[test]
    fn any_characters_are_allowed_and_no_composition_rule_applies() {
        assert_eq!(check15("all lower case words here"), Ok(()));
        assert_eq!(check15("🦀🦀🦀 rust crabs 🦀🦀🦀"), Ok(()));
    }

    #[test]
    fn a_common_password_is_refused_whatever_its_case() {
        assert_eq!(check15("QwertyuiopASDFGH"), Err(PolicyViolation::Common));
        let lower_min = check(&Password::new("Password123"), 8, "bob", "bob@example.com");
        assert_eq!(lower_min, Err(PolicyViolation::Common));
    }

    #[test]
    fn a_password_containing_the_username_or_email_local_part_is_refused() {
        assert_eq!(check15("my name is ALICE and I rule"), Err(PolicyViolation::ContainsUsername));
        assert_eq!(check15("xx alice.smith forever xx"), Err(PolicyViolation::ContainsUsername));
        let by_email = check(&Password::new("robert-the-builder-99"), 15, "bob", "builder@example.com");
        assert_eq!(by_email, Err(PolicyViolation::ContainsEmail));
    }
}
