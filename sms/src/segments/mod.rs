//! SMS encoding and segment count: whether a text fits the GSM-7 alphabet or needs UCS-2, and
//! how many segments it is sent as.

mod gsm7;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

/// Septets in a single-segment GSM-7 message: 140 octets of user data hold 160 septets.
const GSM7_SINGLE_SEGMENT: u32 = 160;
/// Septets in each part of a multi-part GSM-7 message: the 6-octet concatenation header leaves
/// 134 octets, which hold 153 septets.
const GSM7_MULTI_SEGMENT: u32 = 153;
/// UTF-16 code units in a single-segment UCS-2 message (140 octets).
const UCS2_SINGLE_SEGMENT: u32 = 70;
/// UTF-16 code units in each part of a multi-part UCS-2 message (134 octets).
const UCS2_MULTI_SEGMENT: u32 = 67;

/// Character encoding of an SMS body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// GSM 7-bit default alphabet with its extension table.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2, counted in UTF-16 code units, so a character outside the Basic Multilingual Plane
    /// (an emoji, for example) takes two.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

impl Encoding {
    /// Returns the usual name of the encoding: "GSM-7" or "UCS-2".
    pub fn as_str(&self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

/// Encoding, segment count and length of an SMS body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// Number of SMS segments the body is sent as, 0 for an empty body.
    pub segments: u32,
    /// Length of the body in septets for GSM-7 (extension characters count 2) or in UTF-16 code
    /// units for UCS-2.
    pub units: u32,
}

/// Returns the first character GSM-7 cannot encode, which makes the whole text UCS-2, or
/// `None` for a GSM-7 text.
pub fn first_non_gsm7(text: &str) -> Option<char> {
    text.chars().find(|&c| gsm7::septets(c).is_none())
}

/// Counts the segments that `text` is sent as.
///
/// The text is GSM-7 when every character is in the GSM 03.38 basic or extension table, and
/// UCS-2 otherwise. It fits one segment up to 160 septets or 70 code units. Longer text is split
/// into parts of at most 153 septets or 67 code units, filled greedily. A part never ends inside
/// an escape pair, a surrogate pair or an extended grapheme cluster (a base character with its
/// combining marks, an emoji sequence, or CR LF). Only a cluster longer than a whole part is
/// split, between its characters.
pub fn count(text: &str) -> SegmentCount {
    let gsm7_units: Option<u32> = text.chars().map(gsm7::septets).sum();
    let (encoding, units) = match gsm7_units {
        Some(septets) => (Encoding::Gsm7, septets),
        None => (Encoding::Ucs2, utf16_len(text)),
    };

    let (single_limit, part_limit) = match encoding {
        Encoding::Gsm7 => (GSM7_SINGLE_SEGMENT, GSM7_MULTI_SEGMENT),
        Encoding::Ucs2 => (UCS2_SINGLE_SEGMENT, UCS2_MULTI_SEGMENT),
    };

    let segments = if units == 0 {
        0
    } else if units <= single_limit {
        1
    } else {
        count_parts(text, encoding, part_limit)
    };

    SegmentCount {
        encoding,
        segments,
        units,
    }
}

fn utf16_len(text: &str) -> u32 {
    text.chars().map(|c| c.len_utf16() as u32).sum()
}

/// Units that `c` takes in `encoding`. A char is never split, so this also keeps escape pairs
/// and surrogate pairs whole.
fn char_units(c: char, encoding: Encoding) -> u32 {
    match encoding {
        // `count` picks GSM-7 only when every char is in the tables, so the fallback is unused.
        Encoding::Gsm7 => gsm7::septets(c).unwrap_or(2),
        Encoding::Ucs2 => c.len_utf16() as u32,
    }
}

/// Packs the text into parts of at most `part_limit` units, grapheme cluster by cluster, and
/// returns the number of parts.
fn count_parts(text: &str, encoding: Encoding, part_limit: u32) -> u32 {
    let mut parts = Parts::new(part_limit);

    for cluster in text.graphemes(true) {
        let cluster_units: u32 = cluster.chars().map(|c| char_units(c, encoding)).sum();
        if cluster_units <= part_limit {
            parts.place(cluster_units);
        } else {
            // The cluster cannot fit any part whole, so it is split between its chars.
            for c in cluster.chars() {
                parts.place(char_units(c, encoding));
            }
        }
    }

    parts.count
}

/// Greedy filling of fixed-size parts.
struct Parts {
    limit: u32,
    count: u32,
    used: u32,
}

impl Parts {
    fn new(limit: u32) -> Self {
        Parts {
            limit,
            count: 1,
            used: 0,
        }
    }

    /// Adds an item of `units` to the current part, or starts a new part when it does not fit.
    fn place(&mut self, units: u32) {
        if self.used > 0 && self.used + units > self.limit {
            self.count += 1;
            self.used = 0;
        }
        self.used += units;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_gsm7_character_found() {
        assert_eq!(first_non_gsm7("It’s here"), Some('’'), "a curly apostrophe forces UCS-2");
        assert_eq!(first_non_gsm7("Ça va"), None, "Ç is in the GSM-7 basic table");
    }

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        text: String,
        encoding: Encoding,
        segments: u32,
        units: u32,
    }

    fn assert_count(text: &str, encoding: Encoding, segments: u32, units: u32, case: &str) {
        let counted = count(text);
        assert_eq!(counted.encoding, encoding, "encoding of {case}");
        assert_eq!(counted.segments, segments, "segments of {case}");
        assert_eq!(counted.units, units, "units of {case}");
    }

    #[test]
    fn reference_vectors_match() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference/vectors/segments.json"
        );
        let json =
            std::fs::read_to_string(path).expect("the reference segment vectors are readable");
        let vectors: Vectors =
            serde_json::from_str(&json).expect("the reference segment vectors parse");
        assert!(
            !vectors.cases.is_empty(),
            "the reference vectors contain cases"
        );

        for (i, case) in vectors.cases.iter().enumerate() {
            let name = format!(
                "vector {i} ({} chars, starting {:?})",
                case.text.chars().count(),
                case.text.chars().take(12).collect::<String>()
            );
            assert_count(&case.text, case.encoding, case.segments, case.units, &name);
        }
    }

    #[test]
    fn empty_text_is_zero_segments() {
        assert_count("", Encoding::Gsm7, 0, 0, "empty text");
    }

    #[test]
    fn encoding_names() {
        assert_eq!(Encoding::Gsm7.as_str(), "GSM-7", "GSM-7 name");
        assert_eq!(Encoding::Ucs2.as_str(), "UCS-2", "UCS-2 name");
        assert_eq!(
            serde_json::to_string(&Encoding::Gsm7).unwrap(),
            "\"GSM-7\"",
            "GSM-7 JSON"
        );
        assert_eq!(
            serde_json::to_string(&Encoding::Ucs2).unwrap(),
            "\"UCS-2\"",
            "UCS-2 JSON"
        );
    }

    #[test]
    fn segment_count_serializes() {
        let json = serde_json::to_value(count("hi")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"encoding": "GSM-7", "segments": 1, "units": 2}),
            "JSON of \"hi\""
        );
    }

    #[test]
    fn escape_pair_at_part_boundary() {
        // 152 septets, then an escape pair that would end at septet 154 of a 153-septet part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_count(&text, Encoding::Gsm7, 3, 306, "euro sign at septet 153");

        let fits = format!("{}€{}", "a".repeat(151), "a".repeat(153));
        assert_count(
            &fits,
            Encoding::Gsm7,
            2,
            306,
            "euro sign ending at septet 153",
        );
    }

    #[test]
    fn combining_mark_across_boundary() {
        // 'ж' forces UCS-2. The cluster "e" + U+0301 would take units 67 and 68 of the first part.
        let text = format!("{}e\u{301}{}", "ж".repeat(66), "ж".repeat(66));
        assert_count(&text, Encoding::Ucs2, 3, 134, "combining acute at unit 67");

        let fits = format!("{}e\u{301}{}", "ж".repeat(65), "ж".repeat(67));
        assert_count(
            &fits,
            Encoding::Ucs2,
            2,
            134,
            "combining acute ending at unit 67",
        );
    }

    #[test]
    fn surrogate_pair_across_boundary() {
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(66));
        assert_count(&text, Encoding::Ucs2, 3, 134, "emoji at unit 67");
    }

    #[test]
    fn emoji_sequence_kept_whole() {
        // A ZWJ family emoji is one cluster of 8 code units.
        let family = "👨\u{200D}👩\u{200D}👧";
        let moved = format!("{}{family}{}", "ж".repeat(60), "ж".repeat(60));
        assert_count(
            &moved,
            Encoding::Ucs2,
            3,
            128,
            "family emoji moved whole to part two",
        );

        let fits = format!("{}{family}{}", "ж".repeat(59), "ж".repeat(60));
        assert_count(
            &fits,
            Encoding::Ucs2,
            2,
            127,
            "family emoji ending at unit 67",
        );
    }

    #[test]
    fn oversize_cluster_is_split() {
        // One base letter with 100 combining marks is a single 101-unit cluster.
        let text = format!("a{}", "\u{301}".repeat(100));
        assert_count(&text, Encoding::Ucs2, 2, 101, "101-unit cluster");
    }

    #[test]
    fn crlf_kept_together() {
        let text = format!("{}\r\n{}", "a".repeat(152), "a".repeat(152));
        assert_count(&text, Encoding::Gsm7, 3, 306, "CR LF at septet 153");
    }

    #[test]
    fn extension_characters_count_two() {
        assert_count(
            "^{}\\[~]|€\u{0C}",
            Encoding::Gsm7,
            1,
            20,
            "all extension characters",
        );
    }

    #[test]
    fn non_gsm_character_forces_ucs2() {
        assert_count("Hello `world`", Encoding::Ucs2, 1, 13, "grave accent");
        assert_count("tab\there", Encoding::Ucs2, 1, 8, "tab");
        assert_count("Grüße", Encoding::Gsm7, 1, 5, "German umlauts and sharp s");
        assert_count("Grüße ç", Encoding::Ucs2, 1, 7, "small c cedilla");
    }

    #[test]
    fn ucs2_length_limits() {
        assert_count(&"ж".repeat(70), Encoding::Ucs2, 1, 70, "70 units");
        assert_count(&"ж".repeat(71), Encoding::Ucs2, 2, 71, "71 units");
        assert_count(&"ж".repeat(134), Encoding::Ucs2, 2, 134, "134 units");
        assert_count(&"ж".repeat(135), Encoding::Ucs2, 3, 135, "135 units");
    }
}
