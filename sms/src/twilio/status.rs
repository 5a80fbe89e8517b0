//! Message status order: status callbacks can arrive out of order, so a status replaces the
//! stored one only when it comes later in a message's life, and a final status is never
//! replaced. Status names are those of Twilio's Message resource (API 2010-04-01).

/// Returns the rank of a status in a message's life. A higher rank comes later.
fn rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" | "scheduled" => 0,
        "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "receiving" => 3,
        "partially_delivered" => 4,
        "delivered" | "undelivered" | "failed" | "received" | "canceled" => 5,
        "read" => 6,
        _ => return None,
    })
}

/// Returns whether no later status is expected, apart from `read` after `delivered`.
pub fn is_final(status: &str) -> bool {
    rank(status).is_some_and(|rank| rank >= 5)
}

/// Returns whether the message could not reach the handset.
pub fn is_failure(status: &str) -> bool {
    matches!(status, "undelivered" | "failed")
}

/// Returns whether `next` may replace `current`. An unknown status name never replaces a
/// known one.
pub fn may_replace(current: &str, next: &str) -> bool {
    let Some(next_rank) = rank(next) else {
        return false;
    };
    let Some(current_rank) = rank(current) else {
        return true;
    };
    if current == "delivered" && next == "read" {
        return true;
    }
    !is_final(current) && next_rank > current_rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_status_replaces_earlier() {
        assert!(may_replace("queued", "sent"), "queued -> sent");
        assert!(may_replace("sent", "delivered"), "sent -> delivered");
        assert!(may_replace("sent", "undelivered"), "sent -> undelivered");
        assert!(may_replace("delivered", "read"), "delivered -> read");
    }

    #[test]
    fn late_callback_ignored() {
        assert!(!may_replace("delivered", "sent"), "sent arriving after delivered");
        assert!(!may_replace("sent", "queued"), "queued arriving after sent");
        assert!(!may_replace("sent", "sent"), "the same status twice");
    }

    #[test]
    fn final_status_kept() {
        assert!(!may_replace("undelivered", "delivered"), "undelivered is final");
        assert!(!may_replace("failed", "sent"), "failed is final");
        assert!(!may_replace("delivered", "undelivered"), "delivered is final");
    }

    #[test]
    fn unknown_status_ignored() {
        assert!(!may_replace("sent", "exploded"), "unknown name");
        assert!(may_replace("", "queued"), "nothing stored yet");
    }
}
