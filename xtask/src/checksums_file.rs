//! The `checksums.txt` format: its name and that of the release notes beside it, the file names a
//! checksum line may hold, and the lines themselves, parsed (`<64 hex>  <name>` or
//! `<64 hex> *<name>`) and rendered (sorted, two spaces, LF). Pure: the folders are read elsewhere.

use std::collections::BTreeMap;

use crate::failure::refuse;
use crate::hashing;

pub const CHECKSUMS_FILE: &str = "checksums.txt";
pub const NOTES_FILE: &str = "release-notes.md";

/// Invisible characters that reorder or hide text (bidi controls, zero-width marks, BOM): a name
/// holding one shows as another name in the notes and in a terminal.
fn is_invisible_format_character(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// A name that may appear in a checksum line: a plain file name inside the folder, safe to print
/// in a Markdown code span (no backtick, no leading or trailing space, nothing invisible).
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty file name".into());
    }
    if name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(format!("{name:?} is not a plain file name in the folder"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{name:?} contains control characters"));
    }
    if name.chars().any(is_invisible_format_character) {
        return Err(format!("{name:?} contains invisible formatting characters"));
    }
    if name.contains('`') {
        return Err(format!("{name:?} contains a backtick, which breaks the release notes' Markdown"));
    }
    if name.trim() != name {
        return Err(format!("{name:?} starts or ends with a space"));
    }
    Ok(())
}

/// Parse checksum lines: `<64 hex>  <name>` (text mode) or `<64 hex> *<name>` (binary mode).
pub fn parse_lines(text: &str, source: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{source}:{}", index + 1);
        let parsed = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(hex, _)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some((hex, name)) = parsed else {
            return Err(refuse(
                format!("{location}: {line:?} is not `<64 hex>  <file name>`"),
                "regenerate the file with `cargo xtask sidecar` or `sha256sum FILE > FILE.sha256`",
            ));
        };
        check_file_name(name).map_err(|problem| {
            refuse(format!("{location}: {problem}"), "checksum lines name files in the same folder")
        })?;
        entries.push((hex.to_ascii_lowercase(), name.to_string()));
    }
    Ok(entries)
}

/// `checksums.txt`: `<hex>  <name>` per file, sorted by name (byte order), LF, final newline.
pub fn render_checksums(hashes: &BTreeMap<String, String>) -> String {
    hashes.iter().map(|(name, hex)| hashing::checksum_line(hex, name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const HEX_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn parses_text_and_binary_mode_lines() {
        let text = format!("{HEX_A}  one\r\n\n{} *two\n", HEX_B.to_uppercase());
        assert_eq!(
            parse_lines(&text, "x").unwrap(),
            [(HEX_A.to_string(), "one".to_string()), (HEX_B.to_string(), "two".to_string())]
        );
    }

    #[test]
    fn refuses_bad_lines_and_names() {
        for bad in [
            format!("{HEX_A} one"),
            format!("{}  one", &HEX_A[1..]),
            format!("{HEX_A}  ../escape"),
            format!("{HEX_A}  /etc/passwd"),
            format!("{HEX_A}  dir/file"),
            format!("{HEX_A}  .."),
            format!("{HEX_A}  bell\u{7}"),
            format!("{HEX_A}  "),
            "not a checksum".to_string(),
        ] {
            assert!(parse_lines(&bad, "x.sha256").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn checksums_are_sorted_by_byte_order_with_two_spaces_and_lf() {
        let hashes = BTreeMap::from([("b".to_string(), HEX_B.to_string()), ("B".to_string(), HEX_A.to_string())]);
        assert_eq!(render_checksums(&hashes), format!("{HEX_A}  B\n{HEX_B}  b\n"));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// File names as they come: printable, spaces, Markdown characters, non-ASCII; those the
    /// parser refuses are filtered out of the round trip (and covered by the no-panic property).
    fn listable_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ._+*|#()\\[\\]é漢-]{1,24}".prop_filter("a listable name", |name| check_file_name(name).is_ok())
    }

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parsing_never_panics(text in any::<String>(), near in "([0-9a-fA-F]{60,66}[ *]{1,3}[^\n]{0,12}\r?\n){0,4}") {
            let _ = parse_lines(&text, "fuzz.sha256");
            let _ = parse_lines(&near, "fuzz.sha256");
        }

        #[test]
        fn render_then_parse_gives_the_same_entries(
            entries in prop::collection::btree_map(listable_name(), "[0-9a-f]{64}", 0..8)
        ) {
            let rendered = render_checksums(&entries);
            let parsed = parse_lines(&rendered, CHECKSUMS_FILE).expect("a rendered list parses");
            let parsed: Vec<(String, String)> = parsed.into_iter().map(|(hex, name)| (name, hex)).collect();
            let expected: Vec<(String, String)> = entries.into_iter().collect();
            prop_assert_eq!(parsed, expected);
            prop_assert!(!rendered.contains("\n\n") && !rendered.contains('\r'));
        }
    }
}
