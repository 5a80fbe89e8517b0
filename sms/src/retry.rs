//! Retry policy for calls to the SMS provider: capped exponential backoff with full jitter, and
//! which HTTP statuses are worth retrying.

/// Capped exponential backoff with full jitter. The caller supplies the random factor, so this
/// type stays deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry, before jitter, in milliseconds.
    pub base_ms: u64,
    /// Maximum delay before jitter, in milliseconds.
    pub cap_ms: u64,
    /// Maximum number of retries after the first attempt.
    pub max_retries: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 250,
            cap_ms: 4000,
            max_retries: 3,
        }
    }
}

impl Backoff {
    /// Computes the delay in milliseconds before retry number `retry` (0 for the first retry):
    /// `min(cap, base * 2^retry)` scaled by `jitter`.
    ///
    /// `jitter` is a uniform random value in [0, 1). Values below 0 or NaN count as 0, and values
    /// of 1 or more count as the largest value below 1. The result is rounded down.
    pub fn delay_ms(&self, retry: u32, jitter: f64) -> u64 {
        let exponential = 1u64
            .checked_shl(retry)
            .and_then(|factor| self.base_ms.checked_mul(factor))
            .unwrap_or(u64::MAX);
        let capped = exponential.min(self.cap_ms);

        let jitter = if jitter.is_nan() || jitter < 0.0 {
            0.0
        } else {
            jitter.min(1.0_f64.next_down())
        };

        // The product is below `capped`, so the conversion back to u64 cannot overflow.
        (capped as f64 * jitter) as u64
    }
}

/// Returns whether an HTTP response status is worth retrying: 429 Too Many Requests and every
/// 5xx server error.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_values() {
        let backoff = Backoff::default();
        assert_eq!(backoff.base_ms, 250, "default base");
        assert_eq!(backoff.cap_ms, 4000, "default cap");
        assert_eq!(backoff.max_retries, 3, "default max retries");
    }

    #[test]
    fn delay_doubles_until_cap() {
        let backoff = Backoff::default();
        // A jitter of 0.5 gives half of the capped exponential delay.
        let expected = [
            (0, 125),
            (1, 250),
            (2, 500),
            (3, 1000),
            (4, 2000),
            (5, 2000),
            (40, 2000),
        ];
        for (retry, delay) in expected {
            assert_eq!(
                backoff.delay_ms(retry, 0.5),
                delay,
                "retry {retry} at jitter 0.5"
            );
        }
    }

    #[test]
    fn jitter_bounds_delay() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_ms(2, 0.0), 0, "jitter 0");
        assert_eq!(backoff.delay_ms(2, 0.999), 999, "jitter 0.999 at 1000 ms");
    }

    #[test]
    fn jitter_out_of_range_clamped() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay_ms(2, -1.0), 0, "negative jitter");
        assert_eq!(backoff.delay_ms(2, f64::NAN), 0, "NaN jitter");
        assert_eq!(backoff.delay_ms(2, 1.0), 999, "jitter 1");
        assert_eq!(backoff.delay_ms(2, 7.5), 999, "jitter above 1");
        assert_eq!(backoff.delay_ms(2, f64::INFINITY), 999, "infinite jitter");
    }

    #[test]
    fn huge_retry_does_not_overflow() {
        let backoff = Backoff {
            base_ms: u64::MAX,
            cap_ms: 10_000,
            max_retries: 100,
        };
        assert_eq!(
            backoff.delay_ms(u32::MAX, 0.5),
            5000,
            "retry u32::MAX with maximal base"
        );
        assert_eq!(
            backoff.delay_ms(63, 0.5),
            5000,
            "retry 63 with maximal base"
        );
    }

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(status), "{status} is retryable");
        }
        for status in [200, 201, 400, 401, 403, 404, 409, 428, 430, 499, 600] {
            assert!(!is_retryable_status(status), "{status} is not retryable");
        }
    }
}
