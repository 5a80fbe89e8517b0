//! E.164 phone number check for the `To` and `From` of a message.
//!
//! Accepted form: `+`, then the country code and subscriber number as 7 to 15 ASCII digits in
//! all, the first digit 1-9, with no spaces or other separators.

use thiserror::Error;

/// Minimum digit count accepted. E.164 itself sets no minimum, so this bound is a choice: shorter
/// input is more likely a short code, an extension or a typo than a full international number.
const MIN_DIGITS: usize = 7;
/// Maximum digit count that E.164 allows.
const MAX_DIGITS: usize = 15;

const FIX: &str =
    "Write it as + then the country code and number, 7 to 15 digits in all, e.g. +14155550100";

/// Reason a phone number is not in E.164 form. Each message names the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum E164Error {
    #[error("the phone number is empty. {FIX}")]
    Empty,

    #[error("`{value}` is not an E.164 number because it does not start with `+`. {FIX}")]
    MissingPlus { value: String },

    #[error(
        "`{value}` is not an E.164 number because it contains `{character}`, and only digits may follow the `+`. {FIX}"
    )]
    InvalidCharacter { value: String, character: char },

    #[error("`{value}` is not an E.164 number because country codes never start with 0. {FIX}")]
    LeadingZero { value: String },

    #[error("`{value}` is not an E.164 number because it has {digits} digits. {FIX}")]
    InvalidLength { value: String, digits: usize },
}

/// Checks that `number` is an E.164 phone number such as `+14155550100`.
///
/// # Errors
///
/// Returns the first rule that `number` breaks, checked in the order of the variants.
pub fn validate(number: &str) -> Result<(), E164Error> {
    if number.is_empty() {
        return Err(E164Error::Empty);
    }

    let Some(digits) = number.strip_prefix('+') else {
        return Err(E164Error::MissingPlus {
            value: number.to_string(),
        });
    };

    if let Some(character) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(E164Error::InvalidCharacter {
            value: number.to_string(),
            character,
        });
    }

    if digits.starts_with('0') {
        return Err(E164Error::LeadingZero {
            value: number.to_string(),
        });
    }

    // Every char is an ASCII digit here, so the byte length is the digit count.
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(E164Error::InvalidLength {
            value: number.to_string(),
            digits: digits.len(),
        });
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_accepted() {
        for number in [
            "+14155550100",
            "+15005550006",
            "+442071838750",
            "+1234567",
            "+123456789012345",
        ] {
            assert_eq!(validate(number), Ok(()), "{number} is valid");
        }
    }

    #[test]
    fn invalid_numbers_rejected() {
        let cases = [
            ("", E164Error::Empty),
            (
                "14155550100",
                E164Error::MissingPlus {
                    value: "14155550100".into(),
                },
            ),
            (
                "555-1234",
                E164Error::MissingPlus {
                    value: "555-1234".into(),
                },
            ),
            (
                "+1 415 555 0100",
                E164Error::InvalidCharacter {
                    value: "+1 415 555 0100".into(),
                    character: ' ',
                },
            ),
            (
                "+1-415-555-0100",
                E164Error::InvalidCharacter {
                    value: "+1-415-555-0100".into(),
                    character: '-',
                },
            ),
            (
                "++14155550100",
                E164Error::InvalidCharacter {
                    value: "++14155550100".into(),
                    character: '+',
                },
            ),
            (
                "+1415555010٠",
                E164Error::InvalidCharacter {
                    value: "+1415555010٠".into(),
                    character: '٠',
                },
            ),
            (
                "+04155550100",
                E164Error::LeadingZero {
                    value: "+04155550100".into(),
                },
            ),
            (
                "+",
                E164Error::InvalidLength {
                    value: "+".into(),
                    digits: 0,
                },
            ),
            (
                "+123456",
                E164Error::InvalidLength {
                    value: "+123456".into(),
                    digits: 6,
                },
            ),
            (
                "+1234567890123456",
                E164Error::InvalidLength {
                    value: "+1234567890123456".into(),
                    digits: 16,
                },
            ),
        ];
        for (number, expected) in cases {
            assert_eq!(validate(number), Err(expected), "{number:?} is invalid");
        }
    }

    #[test]
    fn message_names_value_and_fix() {
        let message = validate("555-1234").unwrap_err().to_string();
        assert_eq!(
            message,
            "`555-1234` is not an E.164 number because it does not start with `+`. Write it as + then the country code and number, 7 to 15 digits in all, e.g. +14155550100",
            "message for a local number"
        );

        let message = validate("+123").unwrap_err().to_string();
        assert!(
            message.contains("`+123`"),
            "length message names the value: {message}"
        );
        assert!(
            message.contains("has 3 digits"),
            "length message names the count: {message}"
        );
    }
}
