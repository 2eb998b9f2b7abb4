//! The changelog (`docs/development/changelog.md`): finding one release's section in it and
//! cutting a release out of its `## Unreleased` section.
//!
//! Every function here is total: any text (empty, CRLF, odd headings, non-ASCII) gives a value or
//! an error with a hint, never a panic. The release cut and the release preflight both ask
//! [`unreleased_heading`], so they agree on what an Unreleased heading is: exactly `## Unreleased`
//! (trailing spaces allowed). A heading with more text (`## Unreleased (draft)`) or in another case
//! (`## unreleased`) is refused by both with the fix, because the cut replaces the whole line.

use crate::failure::refuse;
use crate::workspace::Tag;

pub const PATH: &str = "docs/development/changelog.md";

/// The text of a `## ` heading line (without `## ` and the line end), or `None` for other lines.
fn heading_of(line: &str) -> Option<&str> {
    line.trim_end_matches(['\n', '\r']).strip_prefix("## ")
}

/// The body of the `## ` section whose heading starts with `heading_prefix` (e.g. `v0.2.5` or
/// `Unreleased`), without the heading line, trimmed; `None` when absent or empty.
pub fn section(changelog: &str, heading_prefix: &str) -> Option<String> {
    let mut lines = changelog.lines();
    lines.by_ref().find(|line| {
        heading_of(line).is_some_and(|heading| {
            heading
                .strip_prefix(heading_prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        })
    })?;
    let body: Vec<&str> = lines.take_while(|line| !line.starts_with("## ")).collect();
    let text = body.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `## vX.Y.Z — YYYY-MM-DD`, plus ` (core A, agent B, proxy C)` when the packages' versions differ.
/// `versions` is (short name, version) in the order to show.
pub fn release_header(tag: &Tag, date: &str, versions: &[(&str, &str)]) -> String {
    let mut header = format!("## {tag} — {date}");
    let all_equal = versions.windows(2).all(|pair| pair[0].1 == pair[1].1);
    if !all_equal {
        let listed: Vec<String> = versions.iter().map(|(name, version)| format!("{name} {version}")).collect();
        header.push_str(&format!(" ({})", listed.join(", ")));
    }
    header
}

/// Where the one `## Unreleased` heading line is: (byte offset of the line, the line with its end).
/// Refused with the fix when it is missing, empty, duplicated or spelled with more text.
pub fn unreleased_heading(changelog: &str) -> anyhow::Result<(usize, &str)> {
    let mut offset = 0;
    let mut found: Option<(usize, &str)> = None;
    for line in changelog.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let Some(heading) = heading_of(line) else { continue };
        let first_word = heading.split_whitespace().next().unwrap_or("");
        if !first_word.eq_ignore_ascii_case("unreleased") {
            continue;
        }
        if heading.trim_end() != "Unreleased" {
            return Err(refuse(
                format!("the heading `## {}` in {PATH} is not exactly `## Unreleased`", heading.trim_end()),
                "rename it to `## Unreleased` (the release replaces that whole line with its own header)",
            ));
        }
        if found.is_some() {
            return Err(refuse(
                format!("{PATH} has more than one `## Unreleased` heading"),
                "merge them into one `## Unreleased` section at the top",
            ));
        }
        found = Some((start, line));
    }
    let Some(found) = found else {
        return Err(refuse(
            format!("{PATH} has no `## Unreleased` section"),
            "add `## Unreleased` at the top and write what this release changes under it",
        ));
    };
    if section(changelog, "Unreleased").is_none() {
        return Err(refuse(
            format!("the `## Unreleased` section of {PATH} is empty"),
            "write what this release changes under `## Unreleased` and commit it",
        ));
    }
    Ok(found)
}

/// The changelog with `## Unreleased` renamed to `header` and a new empty `## Unreleased` above it.
/// Every other byte (line ends, a missing final newline, a BOM) stays as it was.
pub fn cut_release(changelog: &str, header: &str) -> anyhow::Result<String> {
    let (start, line) = unreleased_heading(changelog)?;
    let line_end = if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    // The line separator of the new lines: the heading's own, else the file's first one, else LF.
    let separator = match line_end {
        "" if changelog.contains("\r\n") => "\r\n",
        "" => "\n",
        own => own,
    };
    let mut text = String::with_capacity(changelog.len() + header.len() + 32);
    text.push_str(&changelog[..start]);
    text.push_str("## Unreleased");
    text.push_str(separator);
    text.push_str(separator);
    text.push_str(header);
    text.push_str(line_end);
    text.push_str(&changelog[start + line.len()..]);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Lines;

    #[test]
    fn headers_list_versions_only_when_they_differ() {
        assert_eq!(
            release_header(
                &Tag::parse("v0.2.0").unwrap(),
                "2026-04-18",
                &[("core", "0.1.1"), ("agent", "0.2.0"), ("proxy", "0.2.0")]
            ),
            "## v0.2.0 — 2026-04-18 (core 0.1.1, agent 0.2.0, proxy 0.2.0)"
        );
        assert_eq!(
            release_header(&Tag::parse("v1.0.0").unwrap(), "2026-12-01", &[("core", "1.0.0"), ("proxy", "1.0.0")]),
            "## v1.0.0 — 2026-12-01"
        );
    }

    #[test]
    fn cutting_a_release_opens_a_new_unreleased_section() {
        let before = "# Changelog\n\n## Unreleased\n\n- Faster.\n\n## v0.1.0 — 2026-01-01\n\n- first\n";
        let after = cut_release(before, "## v0.2.0 — 2026-04-18").unwrap();
        assert_eq!(
            after,
            "# Changelog\n\n## Unreleased\n\n## v0.2.0 — 2026-04-18\n\n- Faster.\n\n## v0.1.0 — 2026-01-01\n\n- first\n"
        );
        assert_eq!(section(&after, "v0.2.0").as_deref(), Some("- Faster."));
        assert!(cut_release(&after, "## v0.3.0 — 2026-05-01").is_err(), "an empty Unreleased is refused");
    }

    /// Regression (issue 12, class 4): `## Unreleased (draft)` passed preflight and then panicked in
    /// the cut. Both now ask `unreleased_heading`, which refuses it with the fix.
    #[test]
    fn an_unreleased_heading_with_more_text_is_refused_with_a_hint_not_a_panic() {
        for text in [
            "# Changelog\n\n## Unreleased (draft)\n\n- x\n",
            "## unreleased\n\n- x\n",
            "## UNRELEASED\t\n- x",
            "## Unreleased\n- a\n## Unreleased\n- b\n",
            "no heading at all",
            "",
            "## Unreleased",
        ] {
            let error = cut_release(text, "## v1.0.0 — 2026-01-01").unwrap_err();
            let Lines { message, hint } = crate::failure::lines(&error);
            assert!(message.contains("Unreleased"), "{text:?}: {message}");
            assert!(hint.is_some(), "{text:?} has no hint");
            assert!(unreleased_heading(text).is_err(), "preflight and the cut disagree on {text:?}");
        }
    }

    #[test]
    fn the_cut_keeps_every_other_byte() {
        let crlf = "\u{feff}# Changelog\r\n\r\n## Unreleased  \r\n\r\n- Faster.\r\n\r\n## v0.1.0\r\n- first";
        assert_eq!(
            cut_release(crlf, "## v0.2.0 — 2026-04-18").unwrap(),
            "\u{feff}# Changelog\r\n\r\n## Unreleased\r\n\r\n## v0.2.0 — 2026-04-18\r\n\r\n- Faster.\r\n\r\n## v0.1.0\r\n- first"
        );
        let no_final_newline = "## Unreleased\n- only line";
        assert_eq!(cut_release(no_final_newline, "## v1").unwrap(), "## Unreleased\n\n## v1\n- only line");
    }

    const CHANGELOG: &str = "# Changelog\n\n## Unreleased\n\n## v0.2.10 — 2026-05-01\n\n- ten\n\n## v0.2.1 — 2026-04-18 (core 0.1.1, agent 0.2.0, proxy 0.2.1)\n\n- Fixed the relay.\n- Faster.\n\n## v0.2.0 — 2026-04-01\n\n- first\n";

    #[test]
    fn finds_a_release_section_by_exact_version() {
        assert_eq!(section(CHANGELOG, "v0.2.1").as_deref(), Some("- Fixed the relay.\n- Faster."));
        assert_eq!(section(CHANGELOG, "v0.2.10").as_deref(), Some("- ten"));
        assert_eq!(section(CHANGELOG, "v0.2.0").as_deref(), Some("- first"));
    }

    #[test]
    fn empty_or_missing_sections_are_none() {
        assert_eq!(section(CHANGELOG, "Unreleased"), None);
        assert_eq!(section(CHANGELOG, "v9.9.9"), None);
        assert_eq!(section(CHANGELOG, "v0.2"), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Changelog-like text: headings (good, odd and near misses), bullets, blank lines, CRLF.
    fn changelog_text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("## Unreleased".to_string()),
            Just("## Unreleased (draft)".to_string()),
            Just("## unreleased".to_string()),
            Just("## v0.1.0 — 2026-01-01".to_string()),
            Just("##Unreleased".to_string()),
            Just(String::new()),
            "- [a-zé ]{0,12}",
            "## [^\r\n]{0,10}",
            "[^\r\n]{0,16}",
        ];
        (proptest::collection::vec(line, 0..12), any::<bool>(), any::<bool>()).prop_map(|(lines, crlf, final_eol)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if final_eol {
                text.push_str(eol);
            }
            text
        })
    }

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn no_function_panics_on_any_text(text in any::<String>(), prefix in any::<String>()) {
            let _ = section(&text, &prefix);
            let _ = unreleased_heading(&text);
            let _ = cut_release(&text, "## v1.0.0 — 2026-01-01");
        }

        #[test]
        fn a_cut_release_is_found_again_and_nothing_else_changes(text in changelog_text()) {
            // The property holds for every text the cut accepts (and preflight passes).
            if let Ok(after) = cut_release(&text, "## v9.8.7 — 2026-01-01") {
                prop_assert!(unreleased_heading(&text).is_ok());
                prop_assert_eq!(section(&after, "v9.8.7"), section(&text, "Unreleased"));
                prop_assert!(unreleased_heading(&after).is_err(), "the new Unreleased is empty");
                // Only the heading line was replaced: the rest is a byte-for-byte match.
                let (start, line) = unreleased_heading(&text).unwrap();
                prop_assert!(after.starts_with(&text[..start]));
                prop_assert!(after.ends_with(&text[start + line.len()..]));
            } else {
                prop_assert!(unreleased_heading(&text).is_err(), "the cut refused what preflight accepts");
            }
        }
    }
}
