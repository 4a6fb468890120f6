//! The one email-address rule of the platform: the customer CLI's (contract §3.1), applied wherever an
//! email enters (first-use customer creation, `token mint`, provider logins).
//!
//! The CLI (revision H) panics when `/auth/me` carries an address outside its rule, so an address we
//! store must satisfy it; this check is at least as strict as the CLI's: exactly one `@`, non-empty local
//! part and domain, a domain containing `.`, no leading, trailing or doubled dots (in either part), a
//! top-level label of two characters or more; plus no whitespace or control characters and at most 320
//! bytes (RFC 5321's limit), which the CLI does not check but no real address breaks.

/// The longest address accepted, in bytes (RFC 5321: 64 for the local part + `@` + 255 for the domain).
pub const EMAIL_LENGTH_MAX: usize = 320;

/// Whether `email` is an address the customer CLI accepts (see the module documentation).
pub fn is_valid_email(email: &str) -> bool {
    if email.is_empty() || email.len() > EMAIL_LENGTH_MAX {
        return false;
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let mut parts = email.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if !dots_well_placed(local) || !dots_well_placed(domain) || !domain.contains('.') {
        return false;
    }
    let tld = domain.rsplit('.').next().unwrap_or_default();
    tld.chars().count() >= 2
}

/// Non-empty, and no dot at the start, at the end or next to another dot.
fn dots_well_placed(part: &str) -> bool {
    !part.is_empty() && !part.starts_with('.') && !part.ends_with('.') && !part.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "jane.doe@example.com",
            "jane+cli@mail.example.org",
            "x_y-z@sub.domain.io",
            "12345+octo@users.noreply.github.com",
        ] {
            assert!(is_valid_email(ok), "{ok} should be valid");
        }
    }

    #[test]
    fn refuses_what_the_cli_refuses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "jane@",
            "jane@@example.com",
            "a@b@example.com",
            "jane@localhost",
            "jane@example.c",
            "jane@.example.com",
            "jane@example.com.",
            "jane@example..com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "jane doe@example.com",
            "jane@exa mple.com",
            "jane@example.com\n",
        ] {
            assert!(!is_valid_email(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn refuses_overlong_addresses() {
        let long = format!("{}@example.com", "a".repeat(EMAIL_LENGTH_MAX));
        assert!(!is_valid_email(&long));
    }

    proptest! {
        #[test]
        fn generated_valid_addresses_pass(
            local in "[a-z0-9_+-]{1,20}(\\.[a-z0-9_+-]{1,10}){0,2}",
            labels in proptest::collection::vec("[a-z0-9-]{1,15}", 1..4),
            tld in "[a-z]{2,10}",
        ) {
            let email = format!("{local}@{}.{tld}", labels.join("."));
            prop_assert!(is_valid_email(&email));
        }

        #[test]
        fn whatever_passes_satisfies_every_cli_rule(s in "\\PC{0,40}") {
            if is_valid_email(&s) {
                prop_assert_eq!(s.matches('@').count(), 1);
                let (local, domain) = s.split_once('@').unwrap();
                prop_assert!(!local.is_empty() && !domain.is_empty());
                prop_assert!(domain.contains('.'));
                prop_assert!(!domain.starts_with('.') && !domain.ends_with('.') && !domain.contains(".."));
                prop_assert!(domain.rsplit('.').next().unwrap().chars().count() >= 2);
            }
        }

        #[test]
        fn a_second_at_sign_is_always_refused(a in "[a-z]{1,8}", b in "[a-z]{1,8}", c in "[a-z]{1,8}") {
            let email = format!("{a}@{b}@{c}.com");
            prop_assert!(!is_valid_email(&email));
        }
    }
}
