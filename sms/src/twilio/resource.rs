//! JSON bodies of the Messages API: the Message resource, the error body, and the errors that
//! Twilio's test credentials return for their magic phone numbers.

use serde::{Deserialize, Deserializer, Serialize};

use super::errors;

/// A Message resource as Twilio's JSON returns it, with Twilio's field names.
///
/// Twilio's schema marks every field nullable. Fields that are null in normal responses are
/// `Option`. The others are `String`, where a null or missing value reads as an empty string
/// instead of failing the parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageResource {
    /// `SM...` for SMS, `MM...` for MMS, 34 characters.
    #[serde(deserialize_with = "null_as_empty")]
    pub sid: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub account_sid: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub to: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub from: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub body: String,
    /// One of `queued`, `sending`, `sent`, `failed`, `delivered`, `undelivered`, `receiving`,
    /// `received`, `accepted`, `scheduled`, `read`, `partially_delivered`, `canceled`.
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
    /// Segment count, as a decimal string.
    #[serde(deserialize_with = "null_as_empty")]
    pub num_segments: String,
    /// Media count, as a decimal string.
    #[serde(deserialize_with = "null_as_empty")]
    pub num_media: String,
    /// One of `inbound`, `outbound-api`, `outbound-call`, `outbound-reply`.
    #[serde(deserialize_with = "null_as_empty")]
    pub direction: String,
    /// RFC 2822 timestamp in GMT, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`.
    #[serde(deserialize_with = "null_as_empty")]
    pub date_created: String,
    /// RFC 2822 timestamp in GMT.
    #[serde(deserialize_with = "null_as_empty")]
    pub date_updated: String,
    /// RFC 2822 timestamp in GMT, null until the message is sent.
    pub date_sent: Option<String>,
    /// Amount billed as a decimal string, null until known.
    pub price: Option<String>,
    /// Twilio error code when the status is failed or undelivered.
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    /// Path of this resource relative to `https://api.twilio.com`.
    #[serde(deserialize_with = "null_as_empty")]
    pub uri: String,
    /// `2010-04-01`.
    #[serde(deserialize_with = "null_as_empty")]
    pub api_version: String,
    pub messaging_service_sid: Option<String>,
    /// Paths of related resources, e.g. `{"media": ".../Media.json"}`.
    pub subresource_uris: serde_json::Value,
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// The JSON body of a Twilio API error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Twilio error code, e.g. 21211.
    pub code: u32,
    pub message: String,
    /// Link to the error's page in Twilio's error dictionary.
    pub more_info: String,
    /// HTTP status of the response.
    pub status: u16,
}

impl ErrorBody {
    /// Creates an error body whose `more_info` links to the code's page in Twilio's docs.
    pub fn new(code: u32, message: impl Into<String>, status: u16) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            more_info: format!("https://www.twilio.com/docs/errors/{code}"),
            status,
        }
    }
}

/// Magic `From` numbers of Twilio's test credentials and the error code each returns.
const TEST_FROM_ERRORS: [(&str, u32); 3] = [
    ("+15005550001", 21212),
    ("+15005550007", 21606),
    ("+15005550008", 21611),
];

/// Magic `To` numbers of Twilio's test credentials and the error code each returns.
const TEST_TO_ERRORS: [(&str, u32); 5] = [
    ("+15005550001", 21211),
    ("+15005550002", 21612),
    ("+15005550003", 21408),
    ("+15005550004", 21610),
    ("+15005550009", 21614),
];

/// Returns the error that Twilio's test credentials return for a magic `from` or `to` number,
/// or `None` when neither is one. `From` is checked first. Every such error has HTTP status 400
/// and the error dictionary's message for its code.
pub fn test_number_error(from: &str, to: &str) -> Option<ErrorBody> {
    let lookup = |table: &[(&str, u32)], number: &str| {
        table
            .iter()
            .find(|(magic, _)| *magic == number)
            .map(|&(_, code)| code)
    };
    let code = lookup(&TEST_FROM_ERRORS, from).or_else(|| lookup(&TEST_TO_ERRORS, to))?;

    // Every code in the magic-number tables is in the error table, which a test checks.
    let message = errors::describe(code).map_or("", |info| info.message);
    Some(ErrorBody::new(code, message, 400))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openapi() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/twilio-api-v2010-messages.openapi.json"
        );
        let json = std::fs::read_to_string(path).expect("the reference OpenAPI file is readable");
        serde_json::from_str(&json).expect("the reference OpenAPI file parses")
    }

    /// Collects every example Message resource in the OpenAPI file: single resources and the
    /// items of list responses.
    fn example_messages(spec: &serde_json::Value) -> Vec<(String, serde_json::Value)> {
        let mut found = Vec::new();
        for path in [
            "/2010-04-01/Accounts/{AccountSid}/Messages.json",
            "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
        ] {
            let Some(operations) = spec["paths"][path].as_object() else {
                continue;
            };
            for (method, operation) in operations {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                for response in responses.values() {
                    let Some(examples) =
                        response["content"]["application/json"]["examples"].as_object()
                    else {
                        continue;
                    };
                    for (name, example) in examples {
                        let value = &example["value"];
                        if let Some(messages) = value["messages"].as_array() {
                            for message in messages {
                                found.push((
                                    format!("{method} {path} {name} (list item)"),
                                    message.clone(),
                                ));
                            }
                        } else if value.get("sid").is_some() {
                            found.push((format!("{method} {path} {name}"), value.clone()));
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn openapi_examples_parse() {
        let spec = openapi();
        let examples = example_messages(&spec);
        assert!(
            examples.len() >= 3,
            "the OpenAPI file has Message examples, found {}",
            examples.len()
        );

        for (name, example) in examples {
            let parsed: MessageResource = serde_json::from_value(example.clone())
                .unwrap_or_else(|error| panic!("{name} parses: {error}"));
            assert_eq!(
                parsed.sid,
                example["sid"].as_str().unwrap_or(""),
                "sid of {name}"
            );
            assert_eq!(
                parsed.num_segments,
                example["num_segments"].as_str().unwrap_or(""),
                "num_segments of {name}"
            );
            assert_eq!(
                parsed.error_code,
                example["error_code"].as_i64(),
                "error_code of {name}"
            );
            assert_eq!(
                parsed.subresource_uris, example["subresource_uris"],
                "subresource_uris of {name}"
            );
        }
    }

    #[test]
    fn fields_match_openapi_schema() {
        let spec = openapi();
        let schema = &spec["components"]["schemas"]["api.v2010.account.message"]["properties"];
        let serialized = serde_json::to_value(MessageResource::default()).unwrap();
        for field in serialized.as_object().unwrap().keys() {
            assert!(
                schema[field].is_object(),
                "field {field} is in Twilio's Message schema"
            );
        }
    }

    #[test]
    fn nulls_and_missing_fields_parse() {
        let parsed: MessageResource = serde_json::from_str(
            r#"{"sid": "SM1", "from": null, "body": null, "date_sent": null, "error_code": 30003}"#,
        )
        .expect("a sparse message parses");
        assert_eq!(parsed.sid, "SM1", "sid kept");
        assert_eq!(parsed.from, "", "null from reads as empty");
        assert_eq!(parsed.body, "", "null body reads as empty");
        assert_eq!(parsed.status, "", "missing status reads as empty");
        assert_eq!(parsed.date_sent, None, "null date_sent");
        assert_eq!(parsed.error_code, Some(30003), "error_code kept");
        assert_eq!(
            parsed.subresource_uris,
            serde_json::Value::Null,
            "missing subresource_uris"
        );

        let empty: MessageResource = serde_json::from_str("{}").expect("an empty object parses");
        assert_eq!(
            empty,
            MessageResource::default(),
            "empty object gives the default"
        );
    }

    #[test]
    fn serializes_twilio_field_names() {
        let message = MessageResource {
            sid: "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
            num_segments: "2".into(),
            ..MessageResource::default()
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["sid"], "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sid");
        assert_eq!(json["num_segments"], "2", "num_segments is a string");
        assert_eq!(
            json["price"],
            serde_json::Value::Null,
            "unknown price is null"
        );
        assert_eq!(
            json["error_code"],
            serde_json::Value::Null,
            "no error code is null"
        );
        assert_eq!(json.as_object().unwrap().len(), 19, "number of fields");
    }

    #[test]
    fn error_body_shape() {
        let body = ErrorBody::new(21211, "Invalid 'To' Phone Number", 400);
        let json = serde_json::to_value(&body).unwrap();
        let expected = serde_json::json!({
            "code": 21211,
            "message": "Invalid 'To' Phone Number",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        });
        assert_eq!(json, expected, "error body JSON");
        let parsed: ErrorBody = serde_json::from_value(expected).expect("the error body parses");
        assert_eq!(parsed, body, "error body parses back");
    }

    #[test]
    fn test_numbers_map_to_errors() {
        let valid = "+15005550006";
        let from_cases = [
            ("+15005550001", 21212),
            ("+15005550007", 21606),
            ("+15005550008", 21611),
        ];
        for (from, code) in from_cases {
            let error = test_number_error(from, valid);
            assert_eq!(error.as_ref().map(|e| e.code), Some(code), "From {from}");
            assert_eq!(
                error.as_ref().map(|e| e.status),
                Some(400),
                "status for From {from}"
            );
        }

        let to_cases = [
            ("+15005550001", 21211),
            ("+15005550002", 21612),
            ("+15005550003", 21408),
            ("+15005550004", 21610),
            ("+15005550009", 21614),
        ];
        for (to, code) in to_cases {
            let error = test_number_error(valid, to);
            assert_eq!(error.as_ref().map(|e| e.code), Some(code), "To {to}");
            assert_eq!(
                error.as_ref().map(|e| e.status),
                Some(400),
                "status for To {to}"
            );
        }
    }

    #[test]
    fn test_number_messages_from_dictionary() {
        for (number, code) in TEST_FROM_ERRORS.iter().chain(TEST_TO_ERRORS.iter()) {
            let info = errors::describe(*code);
            assert!(
                info.is_some(),
                "code {code} for {number} is in the error table"
            );
            let message = info.map(|info| info.message).unwrap_or_default();
            assert!(!message.is_empty(), "code {code} has a message");
        }

        let error = test_number_error("+15005550006", "+15005550001").unwrap();
        assert_eq!(
            error.message, "Invalid 'To' Phone Number",
            "message for To +15005550001"
        );
        assert_eq!(
            error.more_info, "https://www.twilio.com/docs/errors/21211",
            "link for To +15005550001"
        );
    }

    #[test]
    fn from_error_checked_first() {
        let error = test_number_error("+15005550001", "+15005550001");
        assert_eq!(error.map(|e| e.code), Some(21212), "From and To both magic");
    }

    #[test]
    fn ordinary_numbers_no_error() {
        assert_eq!(
            test_number_error("+15005550006", "+14155550100"),
            None,
            "valid From, ordinary To"
        );
        assert_eq!(
            test_number_error("+14155550100", "+15005550006"),
            None,
            "ordinary From, valid To"
        );
    }
}
