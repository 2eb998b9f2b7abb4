//! PEP 508 requirements between workspace members (`lumen-argus-core>=0.3,<0.4`): parse them with
//! the position of each version number, tell whether a version satisfies them, and widen a range
//! to take a new version. Used by `bump` (to keep requirements satisfiable) and `release` preflight.

use std::ops::Range;

use crate::version::{Operator, Specifier, Version};

/// Names compare as PEP 503 normalized names (`Lumen_Argus.Core` is `lumen-argus-core`).
pub fn normalized_name(name: &str) -> String {
    let lowered = name.to_ascii_lowercase();
    lowered.split(['-', '_', '.']).filter(|part| !part.is_empty()).collect::<Vec<_>>().join("-")
}

/// A PEP 508 requirement `name[extras] specifiers ; markers`, reduced to what a bump and the
/// release preflight need.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// The requirement as written.
    pub text: String,
    pub name: String,
    /// Each specifier with the byte range of its version text in the requirement string.
    pub specifiers: Vec<(Specifier, Range<usize>)>,
}

impl Requirement {
    pub fn satisfied_by(&self, version: &Version) -> bool {
        self.specifiers.iter().all(|(specifier, _)| specifier.contains(version))
    }

    /// Whether this is a requirement on `distribution` (names compared normalized).
    pub fn is_on(&self, distribution: &str) -> bool {
        normalized_name(&self.name) == normalized_name(distribution)
    }
}

/// Parse `name[extras] >=A, <B ; marker` (spaces anywhere PEP 508 allows them, or the old
/// `name (>=A)` form); `None` for a URL requirement or a specifier PEP 440 does not allow.
pub fn parse_requirement(text: &str) -> Option<Requirement> {
    let skip_spaces = |at: usize| at + (text[at..].len() - text[at..].trim_start().len());
    let name_start = skip_spaces(0);
    let name_length = text[name_start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(text.len() - name_start);
    if name_length == 0 {
        return None;
    }
    let name = &text[name_start..name_start + name_length];
    let mut at = skip_spaces(name_start + name_length);
    if text[at..].starts_with('[') {
        at += text[at..].find(']')? + 1;
    }
    let mut end = text[at..].find(';').map_or(text.len(), |position| at + position);
    if text[at..end].contains('@') {
        return None;
    }
    at = skip_spaces(at).min(end);
    let trimmed_end = at + text[at..end].trim_end().len();
    if text[at..trimmed_end].starts_with('(') {
        if trimmed_end - at < 2 || !text[at..trimmed_end].ends_with(')') {
            return None;
        }
        at += 1;
        end = trimmed_end - 1;
    }
    let mut specifiers = Vec::new();
    if !text[at..end].trim().is_empty() {
        let mut part_start = at;
        for part in text[at..end].split(',') {
            let part_range = part_start..part_start + part.len();
            part_start = part_range.end + 1;
            let specifier = Specifier::parse(part)?;
            let version_start = part_range.start + part.find(|c: char| c.is_ascii_alphanumeric())?;
            let version_range = version_start..version_start + specifier.written.len();
            if text.get(version_range.clone()) != Some(specifier.written.as_str()) {
                return None;
            }
            specifiers.push((specifier, version_range));
        }
    }
    Some(Requirement { text: text.to_string(), name: name.to_string(), specifiers })
}

/// For a `>=A,<B` range that excludes `next`, the same-width (lower, upper) starting at `next`.
pub fn widened(requirement: &Requirement, next: &Version) -> Option<(String, String)> {
    let [(low, _), (high, _)] = requirement.specifiers.as_slice() else { return None };
    if low.operator != Operator::GreaterEqual || high.operator != Operator::Less {
        return None;
    }
    let (low, high) = (low.version.as_ref()?, high.version.as_ref()?);
    let width = low.release.len();
    let step_at = high.release.iter().zip(&low.release).position(|(h, l)| h != l)?;
    let lower = if next.pre.is_none() && next.dev.is_none() && next.post.is_none() {
        let mut parts: Vec<u64> = next.release.iter().take(width).copied().collect();
        parts.resize(width, 0);
        parts.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
    } else {
        next.to_string()
    };
    let mut upper: Vec<u64> = next.release.iter().take(step_at + 1).copied().collect();
    upper.resize(step_at + 1, 0);
    upper[step_at] = upper[step_at].checked_add(1)?;
    upper.resize(high.release.len(), 0);
    let upper = upper.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    Some((lower, upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn requirement_semantics() {
        let range = parse_requirement("lumen-argus-core>=0.3,<0.4").unwrap();
        assert!(range.satisfied_by(&version("0.3.1")));
        assert!(!range.satisfied_by(&version("0.4.0")));
        assert!(!range.satisfied_by(&version("0.4.0rc1")), "<0.4 excludes 0.4 pre-releases");
        assert!(range.is_on("Lumen_Argus.Core") && !range.is_on("lumen-argus"));
        let pair = |lower: &str, upper: &str| Some((lower.to_string(), upper.to_string()));
        assert_eq!(widened(&range, &version("1.0.0")), pair("1.0", "1.1"));
        assert_eq!(widened(&range, &version("0.4.0rc1")), pair("0.4.0rc1", "0.5"));
        assert_eq!(widened(&parse_requirement("x>=1,<2").unwrap(), &version("2.1.0")), pair("2", "3"));
        assert_eq!(widened(&parse_requirement("x==0.3.1").unwrap(), &version("0.3.2")), None);
        let compatible = parse_requirement("x~=0.3.1").unwrap();
        assert!(compatible.satisfied_by(&version("0.3.7")) && !compatible.satisfied_by(&version("0.4.0")));
    }

    /// Regression (issue 12, class 10): `.*` was trimmed and the rest compared exactly, so
    /// `==0.3.*` refused 0.3.1 and `!=0.3.*` allowed it.
    #[test]
    fn prefix_requirements_match_the_release_prefix() {
        let prefix = parse_requirement("lumen-argus-core==0.3.*").unwrap();
        assert!(prefix.satisfied_by(&version("0.3.1")) && prefix.satisfied_by(&version("0.3")));
        assert!(!prefix.satisfied_by(&version("0.4.0")));
        let excluded = parse_requirement("lumen-argus-core!=0.3.*").unwrap();
        assert!(!excluded.satisfied_by(&version("0.3.1")) && excluded.satisfied_by(&version("0.4.0")));
    }

    #[test]
    fn requirements_with_spaces_extras_markers_and_parentheses_parse() {
        for text in ["x >= 0.3 , < 0.4", "x[a,b]>=0.3,<0.4;python_version>'3'", "x (>=0.3,<0.4)", " x>=0.3 ,<0.4 "] {
            let requirement = parse_requirement(text).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(requirement.name, "x");
            assert_eq!(requirement.text, text);
            let versions: Vec<&str> = requirement.specifiers.iter().map(|(_, range)| &text[range.clone()]).collect();
            assert_eq!(versions, ["0.3", "0.4"], "{text:?}");
        }
        for refused in ["x @ https://example.invalid/x.whl", "x>=0.3,", "x~=1", "x>=0.3.*", "(>=1)", "x (>=1"] {
            assert!(parse_requirement(refused).is_none(), "{refused:?} accepted");
        }
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::version::proptests::{VersionParts, version_parts};

    /// A version specifier with an operator and a version drawn from the same small space as the
    /// candidates, so matches and near misses are both common.
    fn specifier_text() -> impl Strategy<Value = (String, VersionParts, bool)> {
        let operator = prop::sample::select(vec!["==", "!=", "<", "<=", ">", ">=", "~="]);
        (operator, version_parts(), any::<bool>()).prop_map(|(operator, parts, wildcard)| {
            let wildcard = wildcard && matches!(operator, "==" | "!=");
            let parts = if wildcard || operator == "~=" {
                VersionParts { pre: None, post: None, dev: None, local: None, ..parts }
            } else if operator != "==" && operator != "!=" {
                VersionParts { local: None, ..parts }
            } else {
                parts
            };
            (operator.to_string(), parts, wildcard)
        })
    }

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn requirement_parsing_never_panics(text in any::<String>()) {
            if let Some(requirement) = parse_requirement(&text) {
                for (_, range) in &requirement.specifiers {
                    prop_assert!(text.get(range.clone()).is_some());
                }
            }
        }

        /// `satisfied_by` agrees with a model written from the PEP 440 text, over versions that
        /// are built from parts (so the model never parses).
        #[test]
        fn satisfies_agrees_with_a_simple_model((operator, bound, wildcard) in specifier_text(), candidate in version_parts()) {
            if operator == "~=" && bound.release.len() < 2 {
                return Ok(());
            }
            let text = format!("name {operator} {}{}", bound.render(), if wildcard { ".*" } else { "" });
            let requirement = parse_requirement(&text).expect("generated specifiers are valid");
            let expected = model_contains(&operator, &bound, wildcard, &candidate);
            prop_assert_eq!(requirement.satisfied_by(&Version::parse(&candidate.render()).unwrap()), expected,
                "{} against {}", candidate.render(), text);
        }
    }

    /// PEP 440 specifier matching over parts, with the parts' own ordering (`VersionParts::key`).
    fn model_contains(operator: &str, bound: &VersionParts, wildcard: bool, candidate: &VersionParts) -> bool {
        let public = VersionParts { local: None, ..candidate.clone() };
        let same_prefix = |length: usize| {
            candidate.epoch == bound.epoch && (0..length).all(|i| candidate.release_at(i) == bound.release_at(i))
        };
        let bound_is_pre = bound.pre.is_some() || bound.dev.is_some();
        match (operator, wildcard) {
            ("==", true) => same_prefix(bound.release.len()),
            ("!=", true) => !same_prefix(bound.release.len()),
            ("==", false) if bound.local.is_some() => candidate.key() == bound.key(),
            ("==", false) => public.key() == bound.key(),
            ("!=", false) if bound.local.is_some() => candidate.key() != bound.key(),
            ("!=", false) => public.key() != bound.key(),
            ("<=", _) => public.key() <= bound.key(),
            (">=", _) => public.key() >= bound.key(),
            ("~=", _) => public.key() >= bound.key() && same_prefix(bound.release.len() - 1),
            // Below `V.dev0` unless V is itself a pre-release.
            ("<", _) if bound_is_pre => candidate.key() < bound.key(),
            ("<", _) => candidate.key() < VersionParts { dev: Some(0), local: None, ..bound.clone() }.key(),
            (">", _) => {
                let same_public = public.key() == bound.key();
                let post_of_bound = bound.post.is_none()
                    && bound.dev.is_none()
                    && candidate.post.is_some()
                    && VersionParts { post: None, dev: None, local: None, ..candidate.clone() }.key() == bound.key();
                candidate.key() > bound.key() && !same_public && !post_of_bound
            }
            _ => unreachable!("{operator}"),
        }
    }
}
