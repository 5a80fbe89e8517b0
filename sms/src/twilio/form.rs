//! The form body of a Create Message request (`POST .../Messages.json`), built by the plugin and
//! parsed by the sandbox provider.

use thiserror::Error;

use super::resource::ErrorBody;

/// The parameters of a Create Message request that smsnode uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateMessage {
    /// Recipient, `To`.
    pub to: String,
    /// Sender, `From`.
    pub from: String,
    /// Message text, `Body`.
    pub body: String,
    /// Media to attach, one `MediaUrl` parameter each.
    pub media_urls: Vec<String>,
    /// URL that receives status callbacks, `StatusCallback`.
    pub status_callback: Option<String>,
}

/// Reason a Create Message form is rejected, with the Twilio error code for it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormError {
    #[error(
        "the `To` parameter is missing or empty. Pass the recipient's phone number in E.164 format, e.g. +14155550100"
    )]
    MissingTo,

    #[error(
        "the `From` parameter is missing or empty. Pass the sender's phone number in E.164 format, e.g. +15005550006"
    )]
    MissingFrom,

    #[error(
        "`MessagingServiceSid` is not supported here. Pass the sender's phone number in the `From` parameter instead"
    )]
    MessagingServiceSidUnsupported,

    #[error(
        "the message has no `Body` and no `MediaUrl`. Pass the text in `Body`, a media URL in `MediaUrl`, or both"
    )]
    MissingContent,
}

impl FormError {
    /// Returns the Twilio error code for this failure: 21604 for a missing `To`, 21603 for a
    /// missing sender, 21602 for a missing body.
    pub fn code(&self) -> u32 {
        match self {
            FormError::MissingTo => 21604,
            FormError::MissingFrom | FormError::MessagingServiceSidUnsupported => 21603,
            FormError::MissingContent => 21602,
        }
    }

    /// Builds an HTTP 400 error body in Twilio's shape, with this error's code and message.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(self.code(), self.to_string(), 400)
    }
}

impl CreateMessage {
    /// Encodes the request as `application/x-www-form-urlencoded`, in the order `To`, `From`,
    /// `Body`, `MediaUrl` (once per URL), `StatusCallback`.
    ///
    /// `Body` is left out when it is empty and media is attached, so the message is media only.
    /// An empty `Body` without media is still sent, so that Twilio rejects it with error 21602.
    pub fn to_form(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", &self.to);
        form.append_pair("From", &self.from);
        if !self.body.is_empty() || self.media_urls.is_empty() {
            form.append_pair("Body", &self.body);
        }
        for url in &self.media_urls {
            form.append_pair("MediaUrl", url);
        }
        if let Some(callback) = &self.status_callback {
            form.append_pair("StatusCallback", callback);
        }
        form.finish()
    }

    /// Parses a Create Message form body, as the sandbox provider receives it.
    ///
    /// `To` and `From` must be present and non-empty, and so must `Body` or a `MediaUrl`. When a
    /// single-valued parameter is repeated, the last value wins. Parameters this type does not
    /// hold are ignored. Phone numbers are not checked here, see [`crate::e164::validate`].
    ///
    /// # Errors
    ///
    /// Returns the [`FormError`] for the first missing parameter, in the order `To`, `From`,
    /// then `Body` or `MediaUrl`.
    pub fn from_form(body: &[u8]) -> Result<CreateMessage, FormError> {
        let mut message = CreateMessage::default();
        let mut to = None;
        let mut from = None;
        let mut has_messaging_service = false;

        for (name, value) in parse_form(body) {
            match name.as_str() {
                "To" => to = Some(value),
                "From" => from = Some(value),
                "Body" => message.body = value,
                "MediaUrl" => message.media_urls.push(value),
                "StatusCallback" => message.status_callback = Some(value),
                "MessagingServiceSid" => has_messaging_service = !value.is_empty(),
                _ => {}
            }
        }

        message.to = to.filter(|to| !to.is_empty()).ok_or(FormError::MissingTo)?;
        message.from = match from.filter(|from| !from.is_empty()) {
            Some(from) => from,
            None if has_messaging_service => return Err(FormError::MessagingServiceSidUnsupported),
            None => return Err(FormError::MissingFrom),
        };
        if message.body.is_empty() && message.media_urls.iter().all(String::is_empty) {
            return Err(FormError::MissingContent);
        }

        Ok(message)
    }
}

/// Parses an `application/x-www-form-urlencoded` body into its name-value pairs, in order.
/// Invalid UTF-8 is replaced with U+FFFD.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> CreateMessage {
        CreateMessage {
            to: "+14155550100".into(),
            from: "+15005550006".into(),
            body: "Hi Ana, 1+1=2 & ça va?".into(),
            media_urls: vec![],
            status_callback: None,
        }
    }

    #[test]
    fn to_form_encodes_fields() {
        assert_eq!(
            message().to_form(),
            "To=%2B14155550100&From=%2B15005550006&Body=Hi+Ana%2C+1%2B1%3D2+%26+%C3%A7a+va%3F",
            "body with plus, space, ampersand and non-ASCII"
        );
    }

    #[test]
    fn to_form_repeats_media_url() {
        let mut request = message();
        request.body = "see attached".into();
        request.media_urls = vec![
            "https://example.com/a.jpg".into(),
            "https://example.com/b.png?x=1&y=2".into(),
        ];
        request.status_callback = Some("https://hooks.example.test/status".into());
        assert_eq!(
            request.to_form(),
            "To=%2B14155550100&From=%2B15005550006&Body=see+attached\
             &MediaUrl=https%3A%2F%2Fexample.com%2Fa.jpg\
             &MediaUrl=https%3A%2F%2Fexample.com%2Fb.png%3Fx%3D1%26y%3D2\
             &StatusCallback=https%3A%2F%2Fhooks.example.test%2Fstatus",
            "two media URLs and a status callback"
        );
    }

    #[test]
    fn to_form_media_only_omits_body() {
        let mut request = message();
        request.body = String::new();
        request.media_urls = vec!["https://example.com/a.jpg".into()];
        assert_eq!(
            request.to_form(),
            "To=%2B14155550100&From=%2B15005550006&MediaUrl=https%3A%2F%2Fexample.com%2Fa.jpg",
            "empty body with media"
        );

        request.media_urls.clear();
        assert_eq!(
            request.to_form(),
            "To=%2B14155550100&From=%2B15005550006&Body=",
            "empty body without media"
        );
    }

    #[test]
    fn form_round_trips() {
        let mut request = message();
        request.media_urls = vec![
            "https://example.com/a.jpg".into(),
            "https://example.com/b.jpg".into(),
        ];
        request.status_callback = Some("https://hooks.example.test/status?id=1".into());
        let parsed = CreateMessage::from_form(request.to_form().as_bytes());
        assert_eq!(
            parsed,
            Ok(request),
            "every field survives to_form then from_form"
        );
    }

    #[test]
    fn from_form_ignores_unknown_fields() {
        let parsed = CreateMessage::from_form(
            b"ValidityPeriod=60&To=%2B14155550100&From=%2B15005550006&Body=hi&SmartEncoded=true",
        );
        let expected = CreateMessage {
            to: "+14155550100".into(),
            from: "+15005550006".into(),
            body: "hi".into(),
            ..CreateMessage::default()
        };
        assert_eq!(
            parsed,
            Ok(expected),
            "ValidityPeriod and SmartEncoded ignored"
        );
    }

    #[test]
    fn from_form_decodes_raw_plus() {
        // A client that forgets to encode `+` sends it raw, and form decoding turns it into a space.
        let parsed =
            CreateMessage::from_form(b"To=+14155550100&From=%2B15005550006&Body=a+b").unwrap();
        assert_eq!(parsed.to, " 14155550100", "raw plus decodes as space");
        assert_eq!(parsed.body, "a b", "plus in body decodes as space");
    }

    #[test]
    fn from_form_required_fields() {
        let cases: [(&[u8], FormError); 7] = [
            (b"From=%2B15005550006&Body=hi", FormError::MissingTo),
            (b"To=&From=%2B15005550006&Body=hi", FormError::MissingTo),
            (b"To=%2B14155550100&Body=hi", FormError::MissingFrom),
            (b"To=%2B14155550100&From=&Body=hi", FormError::MissingFrom),
            (
                b"To=%2B14155550100&MessagingServiceSid=MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&Body=hi",
                FormError::MessagingServiceSidUnsupported,
            ),
            (
                b"To=%2B14155550100&From=%2B15005550006",
                FormError::MissingContent,
            ),
            (
                b"To=%2B14155550100&From=%2B15005550006&Body=&MediaUrl=",
                FormError::MissingContent,
            ),
        ];
        for (body, expected) in cases {
            let case = String::from_utf8_lossy(body);
            assert_eq!(CreateMessage::from_form(body), Err(expected), "form {case}");
        }
    }

    #[test]
    fn from_form_media_without_body() {
        let parsed = CreateMessage::from_form(
            b"To=%2B14155550100&From=%2B15005550006&MediaUrl=https%3A%2F%2Fexample.com%2Fa.jpg",
        );
        let media_urls = parsed.map(|message| message.media_urls);
        assert_eq!(
            media_urls,
            Ok(vec!["https://example.com/a.jpg".to_string()]),
            "media-only message"
        );
    }

    #[test]
    fn from_form_with_messaging_service_and_from() {
        let parsed = CreateMessage::from_form(b"To=%2B14155550100&From=%2B15005550006&MessagingServiceSid=MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&Body=hi");
        assert_eq!(
            parsed.map(|message| message.from),
            Ok("+15005550006".to_string()),
            "From used, service SID ignored"
        );
    }

    #[test]
    fn form_error_codes_and_bodies() {
        assert_eq!(FormError::MissingTo.code(), 21604, "missing To");
        assert_eq!(FormError::MissingFrom.code(), 21603, "missing From");
        assert_eq!(
            FormError::MessagingServiceSidUnsupported.code(),
            21603,
            "messaging service"
        );
        assert_eq!(FormError::MissingContent.code(), 21602, "missing body");

        let body = FormError::MissingContent.to_error_body();
        assert_eq!(body.code, 21602, "error body code");
        assert_eq!(body.status, 400, "error body status");
        assert_eq!(
            body.message,
            FormError::MissingContent.to_string(),
            "error body message"
        );
        assert_eq!(
            body.more_info, "https://www.twilio.com/docs/errors/21602",
            "error body link"
        );
    }

    #[test]
    fn parse_form_keeps_order() {
        let pairs = parse_form(b"b=2&a=1&b=3&empty=&flag&sp=a+b%20c");
        let expected: Vec<(String, String)> = [
            ("b", "2"),
            ("a", "1"),
            ("b", "3"),
            ("empty", ""),
            ("flag", ""),
            ("sp", "a b c"),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        assert_eq!(pairs, expected, "pairs in received order");
    }

    #[test]
    fn form_fields_in_openapi() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/twilio-api-v2010-messages.openapi.json"
        );
        let json = std::fs::read_to_string(path).expect("the reference OpenAPI file is readable");
        let spec: serde_json::Value =
            serde_json::from_str(&json).expect("the reference OpenAPI file parses");
        let schema = &spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]["requestBody"]
            ["content"]["application/x-www-form-urlencoded"]["schema"];

        for field in [
            "To",
            "From",
            "Body",
            "MediaUrl",
            "StatusCallback",
            "MessagingServiceSid",
        ] {
            assert!(
                schema["properties"][field].is_object(),
                "{field} is a Create Message parameter"
            );
        }
        assert_eq!(
            schema["properties"]["MediaUrl"]["type"], "array",
            "MediaUrl is repeatable"
        );
    }
}
