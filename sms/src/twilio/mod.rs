//! Twilio Messages API (REST API version 2010-04-01): request forms, the Message resource, error
//! bodies and codes, test-credential numbers and webhook signatures.

pub mod errors;
mod form;
mod resource;
pub mod signature;
pub mod status;

pub use form::{CreateMessage, FormError, parse_form};
pub use resource::{ErrorBody, MessageResource, test_number_error};

/// Returns the path of an account's Messages list, where a POST creates a message.
pub fn messages_path(account_sid: &str) -> String {
    format!("/2010-04-01/Accounts/{account_sid}/Messages.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_path_format() {
        assert_eq!(
            messages_path("AC11111111111111111111111111111111"),
            "/2010-04-01/Accounts/AC11111111111111111111111111111111/Messages.json",
            "path for a test account"
        );
    }
}
