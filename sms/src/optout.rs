//! Opt-out, opt-in and help keywords in inbound SMS.
//!
//! A message is a keyword when its whole body, trimmed of surrounding whitespace, is one of the
//! words below in any letter case. A keyword inside a longer message ("Stop please") does not
//! count. The lists are Twilio's default keywords, from the Twilio help center article "Twilio
//! support for opt-out keywords (SMS STOP filtering)".

use serde::{Deserialize, Serialize};

/// Kind of keyword an inbound message consists of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keyword {
    /// The sender requests no more messages.
    OptOut,
    /// The sender requests messages again after an opt-out.
    OptIn,
    /// The sender requests help.
    Help,
}

/// Twilio's default opt-out keywords.
pub const OPT_OUT_KEYWORDS: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Twilio's default opt-in keywords.
pub const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];
/// Twilio's default help keywords.
pub const HELP_KEYWORDS: &[&str] = &["HELP", "INFO"];

/// Classifies an inbound message body as an opt-out, opt-in or help keyword, or `None` when the
/// body is anything else.
pub fn classify(body: &str) -> Option<Keyword> {
    let word = body.trim();
    let matches = |keywords: &[&str]| {
        keywords
            .iter()
            .any(|keyword| word.eq_ignore_ascii_case(keyword))
    };

    if matches(OPT_OUT_KEYWORDS) {
        Some(Keyword::OptOut)
    } else if matches(OPT_IN_KEYWORDS) {
        Some(Keyword::OptIn)
    } else if matches(HELP_KEYWORDS) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_classified() {
        for keyword in OPT_OUT_KEYWORDS {
            assert_eq!(
                classify(keyword),
                Some(Keyword::OptOut),
                "{keyword} is an opt-out"
            );
        }
        for keyword in OPT_IN_KEYWORDS {
            assert_eq!(
                classify(keyword),
                Some(Keyword::OptIn),
                "{keyword} is an opt-in"
            );
        }
        for keyword in HELP_KEYWORDS {
            assert_eq!(
                classify(keyword),
                Some(Keyword::Help),
                "{keyword} is a help request"
            );
        }
    }

    #[test]
    fn case_and_whitespace_ignored() {
        assert_eq!(classify("stop"), Some(Keyword::OptOut), "lower case stop");
        assert_eq!(
            classify("  Stop\n"),
            Some(Keyword::OptOut),
            "stop with surrounding whitespace"
        );
        assert_eq!(
            classify("\tuNsToP "),
            Some(Keyword::OptIn),
            "mixed case unstop"
        );
        assert_eq!(classify("info\r\n"), Some(Keyword::Help), "info with CR LF");
    }

    #[test]
    fn other_bodies_not_keywords() {
        for body in [
            "Stop please",
            "STOP!",
            "S TOP",
            "stopp",
            "",
            "   ",
            "yes please",
            "help me",
            "Yes, 3pm works",
        ] {
            assert_eq!(classify(body), None, "{body:?} is not a keyword");
        }
    }

    #[test]
    fn keyword_serializes_snake_case() {
        assert_eq!(
            serde_json::to_string(&Keyword::OptOut).unwrap(),
            "\"opt_out\"",
            "opt-out JSON"
        );
        assert_eq!(
            serde_json::to_string(&Keyword::OptIn).unwrap(),
            "\"opt_in\"",
            "opt-in JSON"
        );
        assert_eq!(
            serde_json::to_string(&Keyword::Help).unwrap(),
            "\"help\"",
            "help JSON"
        );
    }
}
