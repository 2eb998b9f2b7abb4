//! The changelog (`docs/development/changelog.md`): finding one release's section in it.

pub const PATH: &str = "docs/development/changelog.md";

/// The body of the `## ` section whose heading starts with `heading_prefix` (e.g. `v0.2.5` or
/// `Unreleased`), without the heading line, trimmed; `None` when absent or empty.
pub fn section(changelog: &str, heading_prefix: &str) -> Option<String> {
    let mut lines = changelog.lines();
    lines.by_ref().find(|line| {
        line.strip_prefix("## ").is_some_and(|heading| {
            heading.strip_prefix(heading_prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        })
    })?;
    let body: Vec<&str> = lines.take_while(|line| !line.starts_with("## ")).collect();
    let text = body.join("\n").trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// `## vX.Y.Z — YYYY-MM-DD`, plus ` (core A, agent B, proxy C)` when the packages' versions differ.
/// `versions` is (short name, version) in the order to show.
pub fn release_header(tag_version: &str, date: &str, versions: &[(&str, &str)]) -> String {
    let mut header = format!("## v{tag_version} — {date}");
    let all_equal = versions.windows(2).all(|pair| pair[0].1 == pair[1].1);
    if !all_equal {
        let listed: Vec<String> = versions.iter().map(|(name, version)| format!("{name} {version}")).collect();
        header.push_str(&format!(" ({})", listed.join(", ")));
    }
    header
}

/// The changelog with `## Unreleased` renamed to `header` and a new empty `## Unreleased` above it.
pub fn cut_release(changelog: &str, header: &str) -> anyhow::Result<String> {
    if section(changelog, "Unreleased").is_none() {
        return Err(crate::failure::refuse(
            format!("the `## Unreleased` section of {PATH} is missing or empty"),
            "write what this release changes under `## Unreleased` and commit it",
        ));
    }
    let position = changelog.lines().position(|line| line.trim_end() == "## Unreleased").expect("section exists");
    let mut lines: Vec<&str> = changelog.lines().collect();
    lines[position] = header;
    lines.splice(position..position, ["## Unreleased", ""]);
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_list_versions_only_when_they_differ() {
        assert_eq!(
            release_header("0.2.0", "2026-04-18", &[("core", "0.1.1"), ("agent", "0.2.0"), ("proxy", "0.2.0")]),
            "## v0.2.0 — 2026-04-18 (core 0.1.1, agent 0.2.0, proxy 0.2.0)"
        );
        assert_eq!(
            release_header("1.0.0", "2026-12-01", &[("core", "1.0.0"), ("proxy", "1.0.0")]),
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
