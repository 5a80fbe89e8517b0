//! `X-Twilio-Signature` webhook signatures: computing them (the sandbox provider signs its
//! callbacks) and checking them (the host verifies Twilio's webhooks).
//!
//! The signature is base64(HMAC-SHA1(auth token, data)). For a form body, data is the URL that
//! Twilio requested, exactly, followed by every POST parameter as name then value: names in byte
//! order, and a repeated name's distinct values in byte order. For a JSON body, the URL carries
//! `bodySHA256=<hex SHA-256 of the raw body>` in its query and data is the URL alone.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Query parameter that carries the body hash of a JSON webhook.
const BODY_SHA256_PARAM: &str = "bodySHA256";

/// Computes the signature of a form-encoded webhook request to `url` with POST `params` in the
/// order received.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut values_by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        values_by_name.entry(name).or_default().insert(value);
    }

    let mut mac = new_mac(auth_token);
    mac.update(url.as_bytes());
    for (name, values) in values_by_name {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Computes the signature of a JSON-body webhook request, whose URL already carries the
/// `bodySHA256` query parameter.
pub fn compute_json(auth_token: &str, url_with_body_sha256: &str) -> String {
    let mut mac = new_mac(auth_token);
    mac.update(url_with_body_sha256.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Returns the SHA-256 of `body` as lowercase hex, the value of the `bodySHA256` query parameter.
pub fn body_sha256_hex(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0F)]));
    }
    hex
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Checks the signature of a form-encoded webhook request.
///
/// Besides `url` as given, the URL with its port removed, or with the scheme's default port
/// added when it has none, is accepted too. Twilio's official Python validator
/// (twilio-python, `RequestValidator.validate`) accepts the same two forms because Twilio's own
/// signing is inconsistent about ports.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    candidate_urls(url)
        .iter()
        .any(|candidate| constant_time_eq(&compute(auth_token, candidate, params), signature))
}

/// Checks the signature of a JSON-body webhook request: the `bodySHA256` query parameter of
/// `url` must equal the SHA-256 of `body`, and `signature` must sign `url`. Returns false when
/// `url` has no `bodySHA256` parameter. Ports are handled as in [`validate`].
pub fn validate_json(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(expected_hash) = query_param(url, BODY_SHA256_PARAM) else {
        return false;
    };
    let hash_matches = constant_time_eq(&body_sha256_hex(body), &expected_hash);

    let signature_matches = candidate_urls(url)
        .iter()
        .any(|candidate| constant_time_eq(&compute_json(auth_token, candidate), signature));

    hash_matches && signature_matches
}

fn new_mac(auth_token: &str) -> HmacSha1 {
    // HMAC-SHA1 accepts keys of any length (longer keys are hashed first), so this succeeds.
    <HmacSha1 as Mac>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts a key of any length")
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Returns the first value of query parameter `name` in `url`, decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Returns `url` itself and, when it has an authority, the same URL with the other port form.
fn candidate_urls(url: &str) -> Vec<String> {
    let mut candidates = vec![url.to_string()];
    if let Some(alternate) = alternate_port_url(url) {
        candidates.push(alternate);
    }
    candidates
}

/// Returns `url` without its port when it has one, or with the default port of its scheme
/// (443 for https, 80 for anything else) when it has none. Returns `None` for a URL without
/// `scheme://`.
fn alternate_port_url(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |offset| authority_start + offset);

    let authority = &url[authority_start..authority_end];
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_and_port = &authority[host_start..];

    // The colons inside a bracketed IPv6 host do not start a port.
    let port_colon = match host_and_port.rfind(']') {
        Some(bracket) => host_and_port[bracket..]
            .find(':')
            .map(|offset| bracket + offset),
        None => host_and_port.rfind(':'),
    };

    match port_colon {
        Some(colon) => {
            let port_start = authority_start + host_start + colon;
            Some(format!("{}{}", &url[..port_start], &url[authority_end..]))
        }
        None => {
            let default_port = if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            Some(format!(
                "{}:{default_port}{}",
                &url[..authority_end],
                &url[authority_end..]
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        auth_token: String,
        url: String,
        params: Vec<(String, String)>,
        raw_body: Option<String>,
        signature: String,
    }

    fn vectors() -> Vec<Case> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/vectors/twilio-signature.json"
        );
        let json =
            std::fs::read_to_string(path).expect("the reference signature vectors are readable");
        let vectors: Vectors =
            serde_json::from_str(&json).expect("the reference signature vectors parse");
        vectors.cases
    }

    fn documented_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
    }

    const DOCUMENTED_URL: &str = "https://example.com/myapp.php?foo=1&bar=2";
    const DOCUMENTED_SIGNATURE: &str = "L/OH5YylLD5NRKLltdqwSvS0BnU=";

    #[test]
    fn form_vectors_match() {
        let cases = vectors();
        let form_cases: Vec<&Case> = cases
            .iter()
            .filter(|case| case.raw_body.is_none())
            .collect();
        assert!(
            form_cases.len() >= 6,
            "the reference vectors contain form cases, found {}",
            form_cases.len()
        );

        for case in form_cases {
            let name = &case.name;
            assert_eq!(
                compute(&case.auth_token, &case.url, &case.params),
                case.signature,
                "compute for {name}"
            );
            assert!(
                validate(&case.auth_token, &case.url, &case.params, &case.signature),
                "validate for {name}"
            );
            assert!(
                !validate("wrong-token", &case.url, &case.params, &case.signature),
                "wrong token for {name}"
            );

            let mut tampered = case.params.clone();
            tampered.push(("Extra".into(), "1".into()));
            assert!(
                !validate(&case.auth_token, &case.url, &tampered, &case.signature),
                "added parameter for {name}"
            );
        }
    }

    #[test]
    fn json_vector_matches() {
        let cases = vectors();
        let json_cases: Vec<&Case> = cases
            .iter()
            .filter(|case| case.raw_body.is_some())
            .collect();
        assert!(
            !json_cases.is_empty(),
            "the reference vectors contain a JSON-body case"
        );

        for case in json_cases {
            let name = &case.name;
            let body = case.raw_body.as_deref().unwrap_or_default().as_bytes();
            assert!(case.params.is_empty(), "{name} has no form parameters");
            assert_eq!(
                query_param(&case.url, BODY_SHA256_PARAM),
                Some(body_sha256_hex(body)),
                "body hash in the URL of {name}"
            );
            assert_eq!(
                compute_json(&case.auth_token, &case.url),
                case.signature,
                "compute_json for {name}"
            );
            assert_eq!(
                compute(&case.auth_token, &case.url, &[]),
                case.signature,
                "compute without parameters for {name}"
            );
            assert!(
                validate_json(&case.auth_token, &case.url, body, &case.signature),
                "validate_json for {name}"
            );

            let mut altered = body.to_vec();
            altered.push(b' ');
            assert!(
                !validate_json(&case.auth_token, &case.url, &altered, &case.signature),
                "altered body for {name}"
            );
            assert!(
                !validate_json("wrong-token", &case.url, body, &case.signature),
                "wrong token for {name}"
            );
        }
    }

    #[test]
    fn json_without_body_hash_rejected() {
        let url = "https://hooks.example.test/webhooks/twilio/sms";
        let signature = compute_json("token", url);
        assert!(
            !validate_json("token", url, b"{}", &signature),
            "URL without bodySHA256"
        );
    }

    #[test]
    fn body_sha256_known_values() {
        assert_eq!(
            body_sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "SHA-256 of empty input"
        );
        assert_eq!(
            body_sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-256 of abc"
        );
    }

    #[test]
    fn parameter_order_irrelevant() {
        let mut reversed = documented_params();
        reversed.reverse();
        assert_eq!(
            compute("12345", DOCUMENTED_URL, &reversed),
            DOCUMENTED_SIGNATURE,
            "documented example with parameters reversed"
        );
    }

    #[test]
    fn signature_mismatch_rejected() {
        let params = documented_params();
        assert!(
            !validate("12345", DOCUMENTED_URL, &params, ""),
            "empty signature"
        );
        assert!(
            !validate(
                "12345",
                DOCUMENTED_URL,
                &params,
                "L/OH5YylLD5NRKLltdqwSvS0BnV="
            ),
            "one character changed"
        );
        assert!(
            !validate(
                "12345",
                "https://example.com/myapp.php?foo=1&bar=3",
                &params,
                DOCUMENTED_SIGNATURE
            ),
            "query changed"
        );
        assert!(
            !validate(
                "12345",
                "http://example.com/myapp.php?foo=1&bar=2",
                &params,
                DOCUMENTED_SIGNATURE
            ),
            "scheme changed"
        );
    }

    #[test]
    fn default_port_accepted() {
        let params = documented_params();
        assert!(
            validate(
                "12345",
                "https://example.com:443/myapp.php?foo=1&bar=2",
                &params,
                DOCUMENTED_SIGNATURE
            ),
            "signed without port, checked with 443"
        );

        let with_port = "https://example.com:443/myapp.php?foo=1&bar=2";
        let signature = compute("12345", with_port, &params);
        assert!(
            validate("12345", DOCUMENTED_URL, &params, &signature),
            "signed with 443, checked without port"
        );
    }

    #[test]
    fn other_port_must_match() {
        let params = documented_params();
        let signature = compute("12345", "https://example.com:8443/myapp.php", &params);
        assert!(
            validate(
                "12345",
                "https://example.com:8443/myapp.php",
                &params,
                &signature
            ),
            "same non-default port"
        );
        assert!(
            !validate(
                "12345",
                "https://example.com/myapp.php",
                &params,
                &signature
            ),
            "signed with 8443, checked without port"
        );
        assert!(
            !validate(
                "12345",
                "https://example.com:9443/myapp.php",
                &params,
                &signature
            ),
            "signed with 8443, checked with 9443"
        );
    }

    #[test]
    fn alternate_port_forms() {
        let cases = [
            (
                "https://example.com/a?b=1",
                Some("https://example.com:443/a?b=1"),
            ),
            ("http://example.com", Some("http://example.com:80")),
            ("https://example.com:8443/a", Some("https://example.com/a")),
            (
                "https://user:pw@example.com/a",
                Some("https://user:pw@example.com:443/a"),
            ),
            (
                "https://[2001:db8::1]/a",
                Some("https://[2001:db8::1]:443/a"),
            ),
            (
                "https://[2001:db8::1]:8443/a",
                Some("https://[2001:db8::1]/a"),
            ),
            (
                "https://example.com?x=http://y:1",
                Some("https://example.com:443?x=http://y:1"),
            ),
            ("not a url", None),
        ];
        for (url, expected) in cases {
            assert_eq!(
                alternate_port_url(url).as_deref(),
                expected,
                "alternate form of {url}"
            );
        }
    }

    #[test]
    fn query_param_lookup() {
        assert_eq!(
            query_param("https://h/p?a=1&bodySHA256=ab&bodySHA256=cd", "bodySHA256").as_deref(),
            Some("ab"),
            "first of two values"
        );
        assert_eq!(
            query_param("https://h/p?a=1#bodySHA256=ab", "bodySHA256"),
            None,
            "parameter only in the fragment"
        );
        assert_eq!(
            query_param("https://h/p", "bodySHA256"),
            None,
            "URL without a query"
        );
    }
}
