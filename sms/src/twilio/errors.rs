//! Twilio error codes that sending, receiving and A2P 10DLC registration produce, with Twilio's
//! short message for each and whether a later retry of the same request can succeed.

/// A Twilio error code with its short message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    pub code: u32,
    /// Twilio's title for the code, as its error dictionary words it.
    pub message: &'static str,
    /// Whether the cause is transient, so the same request sent again after a backoff of
    /// seconds can succeed.
    pub retryable: bool,
}

/// Returns the message and retry advice for a Twilio error code, or `None` for a code outside
/// this table.
pub fn describe(code: u32) -> Option<ErrorInfo> {
    TABLE
        .binary_search_by_key(&code, |info| info.code)
        .ok()
        .map(|index| TABLE[index])
}

const fn info(code: u32, message: &'static str, retryable: bool) -> ErrorInfo {
    ErrorInfo {
        code,
        message,
        retryable,
    }
}

/// Codes and messages from Twilio's public error dictionary (www.twilio.com/docs/api/errors),
/// as of May 2023 (the newest entry used was updated on 2023-05-11), sorted by code.
///
/// A code is marked retryable only when Twilio's description names a temporary condition
/// (rate, queue or network load) that clears by itself. Codes for invalid input, account or
/// number configuration, carrier filtering, and daily caps are not, because the same request
/// fails again until someone changes something.
const TABLE: [ErrorInfo; 45] = [
    // Twilio could not fetch our own webhook. The retry is Twilio's to make, not the sender's.
    info(11200, "HTTP retrieval failure", false),
    info(11750, "TwiML response body too large", false),
    info(12300, "Invalid Content-Type", false),
    // More than 15 replies between two numbers in 30 seconds blocks that pair for 30 seconds.
    // A loop is the usual cause, and a retry within seconds is blocked again.
    info(14107, "SMS send rate limit exceeded", false),
    info(20003, "Permission Denied", false),
    // Twilio rejected the request before processing it, and its error dictionary (2023 snapshot)
    // calls a retry safe.
    info(20429, "Too Many Requests", true),
    info(21211, "Invalid 'To' Phone Number", false),
    info(21212, "Invalid From Number (caller ID)", false),
    info(
        21408,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
        false,
    ),
    info(21602, "Message body is required", false),
    info(
        21606,
        "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination.",
        false,
    ),
    info(
        21608,
        "The 'to' phone number provided is not yet verified for this account.",
        false,
    ),
    info(21610, "Attempt to send to unsubscribed recipient", false),
    // The sender's queue is full. It drains at the sender's send rate, so a later request fits.
    info(
        21611,
        "This 'From' number has exceeded the maximum number of queued messages",
        true,
    ),
    info(
        21612,
        "The 'To' phone number is not currently reachable via SMS",
        false,
    ),
    info(21614, "'To' number is not a valid mobile number", false),
    info(
        21617,
        "The concatenated message body exceeds the 1600 character limit",
        false,
    ),
    info(21620, "Invalid media URL(s)", false),
    info(
        21621,
        "The 'From' number has not been enabled for MMS",
        false,
    ),
    info(21623, "Number of media files exceeds allowed limit", false),
    info(21654, "ContentSid Required", false),
    info(21701, "The Messaging Service does not exist", false),
    info(
        21703,
        "The Messaging Service does not have a phone number available to send a message",
        false,
    ),
    info(21705, "The Messaging Service is invalid", false),
    // Same cause as 21611, reported on the message after it was queued.
    info(30001, "Queue overflow", true),
    info(30002, "Account suspended", false),
    // A handset that is off or out of signal stays so for longer than a backoff of seconds.
    info(30003, "Unreachable destination handset", false),
    info(30004, "Message blocked", false),
    info(30005, "Unknown destination handset", false),
    info(30006, "Landline or unreachable carrier", false),
    info(30007, "Message filtered", false),
    // The dictionary gives no description, so nothing marks the cause as temporary.
    info(30008, "Unknown error", false),
    info(30009, "Missing inbound segment", false),
    // The carrier is congested. Twilio advises spreading the sending over a longer period.
    info(30017, "Carrier network congestion", true),
    info(30019, "Content size exceeds carrier limit", false),
    // The campaign's send rate was exceeded. Twilio's fix is to slow down.
    info(30022, "US A2P 10DLC - Rate Limits Exceeded", true),
    // The daily cap resets at midnight Pacific time, too late for a retry.
    info(30023, "US A2P 10DLC - Daily Message Cap Reached", false),
    info(
        30025,
        "US A2P 10DLC - 50% T-Mobile Daily Message Limit Consumed",
        false,
    ),
    info(
        30026,
        "US A2P 10DLC - 70% T-Mobile Daily Message Limit Consumed",
        false,
    ),
    info(
        30027,
        "US A2P 10DLC - T-Mobile Daily Message Limit Reached",
        false,
    ),
    info(30032, "Toll-Free Number Has Not Been Verified", false),
    info(30033, "US A2P 10DLC - Campaign Suspended", false),
    info(
        30034,
        "US A2P 10DLC - Message from an Unregistered Number",
        false,
    ),
    info(
        30035,
        "US A2P 10DLC - Message from a number still being configured",
        false,
    ),
    // The provider timed out. Twilio advises sending later.
    // NOTE: Twilio does not retry these itself to avoid duplicates, so a retry may deliver twice.
    info(30410, "Provider Timeout Error", true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct DictionaryEntry {
        code: u32,
        message: String,
    }

    #[test]
    fn table_matches_dictionary() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/twilio-messaging-error-codes.json"
        );
        let json =
            std::fs::read_to_string(path).expect("the reference error dictionary is readable");
        let entries: Vec<DictionaryEntry> =
            serde_json::from_str(&json).expect("the reference error dictionary parses");
        assert_eq!(
            entries.len(),
            TABLE.len(),
            "table and dictionary have the same number of codes"
        );

        for entry in &entries {
            let info = describe(entry.code);
            assert!(info.is_some(), "code {} is in the table", entry.code);
            assert_eq!(
                info.map(|info| info.message),
                Some(entry.message.as_str()),
                "message of code {}",
                entry.code
            );
        }
    }

    #[test]
    fn table_sorted_by_code() {
        for pair in TABLE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "code {} comes before {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn retryable_codes() {
        let retryable: Vec<u32> = TABLE
            .iter()
            .filter(|info| info.retryable)
            .map(|info| info.code)
            .collect();
        assert_eq!(
            retryable,
            [20429, 21611, 30001, 30017, 30022, 30410],
            "the transient codes"
        );
    }

    #[test]
    fn describe_known_and_unknown() {
        let too_many = describe(20429);
        assert_eq!(
            too_many.map(|info| info.message),
            Some("Too Many Requests"),
            "message of 20429"
        );
        assert_eq!(
            too_many.map(|info| info.retryable),
            Some(true),
            "20429 is retryable"
        );
        assert_eq!(
            describe(21211).map(|info| info.retryable),
            Some(false),
            "21211 is not retryable"
        );
        assert_eq!(describe(99999), None, "unknown code");
        assert_eq!(describe(0), None, "code 0");
    }
}
