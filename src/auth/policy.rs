//! The password policy of NIST SP 800-63B-4 for a password that is the only factor: length counted
//! in code points after NFC, no composition rules, refused when common or built from the user's name.

use std::sync::OnceLock;

use super::password::{Password, PasswordError, PasswordHasher, hash_now};

/// The longest password accepted: long enough for any passphrase, short enough to bound hashing work.
pub const MAX_LENGTH: usize = 1024;

/// Why a password was refused; `Display` is the message shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("Use at least {min} characters.")]
    TooShort { min: usize },
    #[error("Use at most {max} characters.")]
    TooLong { max: usize },
    #[error(
        "This password is on a list of passwords that attackers try first. Try a longer phrase of unrelated words."
    )]
    Common,
    #[error(
        "This password is easy to guess: it is built from common words, names or patterns. Try a longer phrase \
         of unrelated words."
    )]
    Guessable,
    /// Guessable for its length alone: no word or pattern in it, just too few characters.
    #[error(
        "This password is short enough to be found by trying every combination. Add a few more characters, or \
         try a phrase of unrelated words."
    )]
    TooFewCharacters,
    #[error("The password must not contain your username.")]
    ContainsUsername,
    #[error("The password must not contain the first part of your email address.")]
    ContainsEmail,
}

/// Checks a candidate password for an account with this username and email.
/// Builds the common-password set and zxcvbn's dictionaries now rather than at the first password
/// someone chooses (which would wait for them), so that the start-up can hand the memory that built
/// them back to the system.
pub fn load_lists() {
    let _ =
        check(&Password::new("a passphrase only for loading the lists"), 8, "loader", "loader@example.com");
}

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
    if common_passwords().contains(folded.trim()) {
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
    match guessable(candidate, &[&username, &local_part]) {
        Some(violation) => Err(violation),
        None => Ok(()),
    }
}

/// zxcvbn's estimate below "safely unguessable" (score 3: about 10^8 guesses, against a slow hash
/// offline), and why: words or patterns it found, or (none found) only the length, which is
/// what a short random password needs to hear. Only the first characters are estimated: its
/// matching grows faster than the length, and a longer password only gets harder to guess.
fn guessable(password: &str, user_inputs: &[&str]) -> Option<PolicyViolation> {
    const ESTIMATED_CHARS: usize = 40;
    let head: String = password.chars().take(ESTIMATED_CHARS).collect();
    let estimate = zxcvbn::zxcvbn(&head, user_inputs);
    if estimate.score() >= zxcvbn::Score::Three {
        return None;
    }
    let only_length = estimate
        .sequence()
        .iter()
        .all(|found| found.pattern == zxcvbn::matching::patterns::MatchPattern::BruteForce);
    Some(if only_length { PolicyViolation::TooFewCharacters } else { PolicyViolation::Guessable })
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

/// Why a new password was refused: the field to show the message beside, and the message.
pub type Refusal = (&'static str, String);

/// The one check of a new password (`hash_new_password_on` runs it too): the policy, then the
/// confirmation, on the hashing threads: zxcvbn's estimate takes milliseconds, which on an
/// async worker would hold up every other request on it. The outer error is the pool's (busy,
/// gone); the refusal inside names the field to show it beside.
pub async fn check_new_password_on(
    hasher: &PasswordHasher,
    password: &Password,
    confirm: &Password,
    min_length: usize,
    username: &str,
    email: &str,
    fields: NewPasswordFields,
) -> Result<Result<(), Refusal>, PasswordError> {
    let (password, confirm) = (password.clone(), confirm.clone());
    let (username, email) = (username.to_owned(), email.to_owned());
    hasher
        .run(move || check_with_confirmation(&password, &confirm, min_length, &username, &email, fields))
        .await
}

/// `check_new_password_on`, and the hash of the password when it passes, as one job on the hashing
/// threads (a change or a reset, where the password is the last thing checked): a refused password
/// costs no hash, and an accepted one cannot pass the check and then find the queue full.
pub async fn hash_new_password_on(
    hasher: &PasswordHasher,
    password: Password,
    confirm: &Password,
    min_length: usize,
    username: &str,
    email: &str,
    fields: NewPasswordFields,
) -> Result<Result<String, Refusal>, PasswordError> {
    let confirm = confirm.clone();
    let (username, email) = (username.to_owned(), email.to_owned());
    hasher
        .run(move || {
            if let Err(refusal) =
                check_with_confirmation(&password, &confirm, min_length, &username, &email, fields)
            {
                return Ok(Err(refusal));
            }
            hash_now(&password).map(Ok)
        })
        .await?
}

fn check_with_confirmation(
    password: &Password,
    confirm: &Password,
    min_length: usize,
    username: &str,
    email: &str,
    fields: NewPasswordFields,
) -> Result<(), Refusal> {
    if let Err(violation) = check(password, min_length, username, email) {
        return Err((fields.password, violation.to_string()));
    }
    if password.expose() != confirm.expose() {
        return Err((fields.confirm, "The two passwords do not match.".to_owned()));
    }
    Ok(())
}

/// Django's 20,000 common passwords (`django/contrib/auth/common-passwords.txt.gz` of the Django
/// package on PyPI, BSD-3-Clause) and our own list of long ones, compared case-folded: no password
/// Django refuses as common gets in here.
/// Each entry is kept as its offset in the list compiled into the binary, sorted by the entry and
/// searched by halves: 4 bytes an entry, against 40 in a hash set of borrowed strings (and a copy of
/// each would add a MiB). An entry with capitals (none today) is kept folded beside them.
fn common_passwords() -> &'static CommonPasswords {
    static LIST: OnceLock<CommonPasswords> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut offsets = Vec::new();
        let mut folded = Vec::new();
        for (index, list) in COMMON_LISTS.iter().enumerate() {
            let mut start = 0usize;
            for line in list.split_inclusive('\n') {
                let entry = line.trim();
                if !entry.is_empty() && !entry.starts_with('#') {
                    if entry.chars().any(char::is_uppercase) {
                        folded.push(entry.to_lowercase());
                    } else {
                        let leading = line.len() - line.trim_start().len();
                        offsets.push(CommonPasswords::encode(index, start + leading));
                    }
                }
                start += line.len();
            }
        }
        offsets.sort_unstable_by(|a, b| CommonPasswords::entry(*a).cmp(CommonPasswords::entry(*b)));
        offsets.dedup_by(|a, b| CommonPasswords::entry(*a) == CommonPasswords::entry(*b));
        folded.sort_unstable();
        CommonPasswords { offsets: offsets.into_boxed_slice(), folded }
    })
}

const COMMON_LISTS: [&str; 2] =
    [include_str!("django-common-passwords.txt"), include_str!("common-passwords.txt")];

struct CommonPasswords {
    /// Which list (the top bit) and where in it each entry starts, sorted by the entry.
    offsets: Box<[u32]>,
    folded: Vec<String>,
}

impl CommonPasswords {
    const LIST_BIT: u32 = 1 << 31;

    fn encode(list: usize, offset: usize) -> u32 {
        let offset = u32::try_from(offset).unwrap_or(u32::MAX) & !Self::LIST_BIT;
        if list == 0 { offset } else { offset | Self::LIST_BIT }
    }

    fn entry(encoded: u32) -> &'static str {
        let list = COMMON_LISTS[usize::from(encoded & Self::LIST_BIT != 0)];
        let rest = list.get((encoded & !Self::LIST_BIT) as usize..).unwrap_or("");
        rest.lines().next().unwrap_or("").trim_end()
    }

    fn contains(&self, folded: &str) -> bool {
        self.offsets.binary_search_by(|encoded| Self::entry(*encoded).cmp(folded)).is_ok()
            || self.folded.binary_search_by(|entry| entry.as_str().cmp(folded)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::password::Verification;

    #[tokio::test]
    async fn a_new_password_is_hashed_only_when_it_passes_the_policy_and_its_confirmation() {
        let hasher = PasswordHasher::new(1, 0);
        let hash = |password: &str, confirm: &str| {
            let (password, confirm) = (Password::new(password), Password::new(confirm));
            let hasher = hasher.clone();
            async move {
                hash_new_password_on(
                    &hasher,
                    password,
                    &confirm,
                    8,
                    "someone",
                    "someone@example.com",
                    PASSWORD_FIELDS,
                )
                .await
                .expect("the pool answers")
            }
        };
        let refused = hash("password123", "password123").await.expect_err("common");
        assert_eq!(refused, ("password", PolicyViolation::Common.to_string()));
        let refused =
            hash("copper violin marsh tundra", "copper violin marsh tundrx").await.expect_err("mismatch");
        assert_eq!(refused.0, "password_confirm");

        let stored =
            hash("copper violin marsh tundra", "copper violin marsh tundra").await.expect("accepted");
        let verified =
            hasher.verify(Password::new("copper violin marsh tundra"), Some(stored)).await.unwrap();
        assert!(matches!(verified, Verification::Valid { .. }), "{verified:?}");
    }

    #[test]
    fn no_password_django_refuses_as_common_gets_in_even_at_the_lowest_minimum() {
        let django = include_str!("django-common-passwords.txt");
        let mut accepted = Vec::new();
        for common in django.lines().map(str::trim).filter(|l| !l.is_empty()) {
            for spelling in [common.to_owned(), common.to_uppercase()] {
                if check(&Password::new(&spelling), 8, "someone", "someone@example.com").is_ok() {
                    accepted.push(spelling);
                }
            }
        }
        assert!(
            accepted.is_empty(),
            "accepted {} common passwords: {:?}",
            accepted.len(),
            &accepted[..accepted.len().min(10)]
        );
    }

    #[test]
    fn every_entry_of_both_lists_is_found_and_nothing_else() {
        let list = common_passwords();
        let entries: Vec<&str> = COMMON_LISTS
            .iter()
            .flat_map(|l| l.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(entries.len() > 19_000);
        for entry in &entries {
            assert!(list.contains(&entry.to_lowercase()), "{entry}");
        }
        for absent in ["", "#", "a passphrase nobody lists 7q", "password ", "zzzzzzzzzzzzzzzzzzzz"] {
            assert!(!list.contains(absent), "{absent:?}");
        }
    }

    #[test]
    fn famous_long_and_decorated_common_passwords_are_refused() {
        for weak in [
            "passwordpassword",
            "qwertyuiopasdfgh",
            "123456789012345",
            "iloveyouiloveyou",
            "P@ssw0rdP@ssw0rd!",
            "sunshine12345678",
            "1q2w3e4r5t6y7u8i",
            "aaaaaaaaaaaaaaaa",
            "abcdefghijklmnop",
            "letmeinletmein2024",
        ] {
            assert!(check15(weak).is_err(), "{weak} was accepted");
        }
    }

    #[test]
    fn a_short_random_password_is_told_its_length_is_the_trouble_not_words_or_patterns() {
        // At the lowest minimum, eight random characters are within a slow-hash offline budget.
        for short in ["kq7#vLp2", "Zx9!mQ4$"] {
            assert_eq!(
                check(&Password::new(short), 8, "alice", "alice@example.com"),
                Err(PolicyViolation::TooFewCharacters)
            );
        }
        let longer = check(&Password::new("kq7#vLp2w"), 8, "alice", "alice@example.com");
        assert_eq!(longer, Ok(()), "one more random character is enough");
        // Words and patterns still get their own reason.
        let worded = check(&Password::new("Summer2024!"), 8, "alice", "alice@example.com");
        assert_eq!(worded, Err(PolicyViolation::Guessable));
    }

    #[test]
    fn random_passphrases_are_accepted() {
        for strong in
            ["copper violin marsh tundra", "a long and unusual passphrase", "glacier ribbon oxide 84 pelican"]
        {
            assert_eq!(check15(strong), Ok(()), "{strong}");
        }
    }

    fn check15(password: &str) -> Result<(), PolicyViolation> {
        check(&Password::new(password), 15, "alice", "alice.smith@example.com")
    }

    #[test]
    fn length_is_counted_in_code_points_not_bytes() {
        // 15 code points, 30 bytes in UTF-8 (varied, so that only the length is tested).
        assert_eq!(check15("éàüöîçñøåæœßþðł"), Ok(()));
        assert_eq!(check15("éàüöîçñøåæœßþð"), Err(PolicyViolation::TooShort { min: 15 }));
    }

    #[test]
    fn length_is_counted_after_nfc_normalisation() {
        // 15 decomposed "e + combining acute" pairs are 30 code points, but 15 after NFC.
        let decomposed = "e\u{301}".repeat(14);
        assert_eq!(check15(&decomposed), Err(PolicyViolation::TooShort { min: 15 }));
    }

    #[test]
    fn the_upper_bound_is_1024_code_points() {
        let phrase = "copper violin marsh tundra ";
        let longest: String = phrase.repeat(40).chars().take(1024).collect();
        assert_eq!(check15(&longest), Ok(()));
        let too_long: String = phrase.repeat(40).chars().take(1025).collect();
        assert_eq!(check15(&too_long), Err(PolicyViolation::TooLong { max: 1024 }));
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
