//! The GSM 7-bit default alphabet and its extension table, as defined in 3GPP TS 23.038
//! (formerly GSM 03.38), with the Unicode character of each septet.

/// Septet used in the basic table to switch to the extension table for the next septet.
const ESCAPE: u8 = 0x1B;

/// The basic table of 3GPP TS 23.038, indexed by septet value.
///
/// Position 0x1B is the escape to the extension table and stands for no character, so the
/// placeholder `\u{1B}` there is never matched.
const BASIC: [char; 128] = [
    // 0x00
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    // 0x10: the capitals are Greek letters (U+0394, U+03A6, ...), not Latin look-alikes.
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É',
    // 0x20
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    // 0x40
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    // 0x60
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The characters of the 3GPP TS 23.038 extension table with their septet values.
/// Each is sent as the escape septet followed by this value, so it takes 2 septets.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Returns the number of septets that `c` takes in GSM-7: 1 for the basic table, 2 for the
/// extension table, or `None` when GSM-7 cannot encode it.
/// Septets of each ASCII character (0 for one GSM-7 cannot encode), built from the tables.
const ASCII_SEPTETS: [u8; 128] = ascii_septets();

const fn ascii_septets() -> [u8; 128] {
    let mut table = [0u8; 128];
    let mut index = 0;
    while index < BASIC.len() {
        let c = BASIC[index] as u32;
        if index != ESCAPE as usize && c < 128 {
            table[c as usize] = 1;
        }
        index += 1;
    }
    let mut index = 0;
    while index < EXTENSION.len() {
        let c = EXTENSION[index].1 as u32;
        if c < 128 {
            table[c as usize] = 2;
        }
        index += 1;
    }
    table
}

/// Returns how many septets `c` takes in GSM-7 (2 for an extension character), or `None`
/// when GSM-7 cannot encode it.
pub(super) fn septets(c: char) -> Option<u32> {
    if c.is_ascii() {
        return match ASCII_SEPTETS[c as usize] {
            0 => None,
            septets => Some(u32::from(septets)),
        };
    }
    if EXTENSION.iter().any(|&(_, extended)| extended == c) {
        return Some(2);
    }
    BASIC.contains(&c).then_some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_table_has_unique_characters() {
        for (i, a) in BASIC.iter().enumerate() {
            for b in &BASIC[i + 1..] {
                assert_ne!(a, b, "basic table lists {a:?} twice");
            }
        }
    }

    #[test]
    fn extension_not_in_basic_table() {
        for (value, c) in EXTENSION {
            assert!(
                !BASIC.contains(&c),
                "extension char {c:?} (0x{value:02X}) is also in the basic table"
            );
        }
    }

    #[test]
    fn septets_of_table_characters() {
        assert_eq!(septets('@'), Some(1), "'@' is septet 0x00");
        assert_eq!(septets('Ç'), Some(1), "capital C cedilla is septet 0x09");
        assert_eq!(septets('ç'), None, "small c cedilla is not in GSM-7");
        assert_eq!(septets('Δ'), Some(1), "Greek capital delta is septet 0x10");
        assert_eq!(septets('\n'), Some(1), "line feed is septet 0x0A");
        assert_eq!(septets('€'), Some(2), "euro sign is an escape pair");
        assert_eq!(septets('\u{0C}'), Some(2), "form feed is an escape pair");
        assert_eq!(septets('\\'), Some(2), "backslash is an escape pair");
        assert_eq!(
            septets('\u{1B}'),
            None,
            "the escape septet is not a character"
        );
        assert_eq!(septets('`'), None, "grave accent is not in GSM-7");
        assert_eq!(septets('\t'), None, "tab is not in GSM-7");
    }
}
