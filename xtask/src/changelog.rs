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

#[cfg(test)]
mod tests {
    use super::*;

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
