//! PEP 440 version specifiers (`>=0.3`, `==0.3.*`, `~=1.4.5`, `<0.4`, ...): parsing and matching a
//! [`Version`] against them exactly as Python's `packaging` does.

use std::fmt;

use super::Version;

/// A PEP 440 comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `~=`
    Compatible,
    /// `==` (with `.*`: prefix match)
    Equal,
    /// `!=` (with `.*`: prefix exclusion)
    NotEqual,
    LessEqual,
    GreaterEqual,
    Less,
    Greater,
    /// `===`: string equality, no version semantics
    Arbitrary,
}

impl Operator {
    /// Longest first, so `===` is not read as `==` followed by `=`.
    const SPELLINGS: [(&'static str, Operator); 8] = [
        ("===", Operator::Arbitrary),
        ("~=", Operator::Compatible),
        ("==", Operator::Equal),
        ("!=", Operator::NotEqual),
        ("<=", Operator::LessEqual),
        (">=", Operator::GreaterEqual),
        ("<", Operator::Less),
        (">", Operator::Greater),
    ];
}

/// One version specifier such as `>=0.3`, `==0.3.*` or `~=1.4.5`, as PEP 440 defines it.
#[derive(Debug, Clone)]
pub struct Specifier {
    pub operator: Operator,
    /// The version text as written, without the operator, surrounding spaces and a `.*`.
    pub written: String,
    /// The parsed version; `None` only for `===` with a text that is not a PEP 440 version.
    pub version: Option<Version>,
    /// `==X.*` / `!=X.*`: compare only the release prefix.
    pub wildcard: bool,
}

impl Specifier {
    /// Parse one specifier (`>= 0.3`, `==0.3.*`); `None` when PEP 440 does not allow it (e.g. `~=1`,
    /// `<0.4+local`, `>0.3.*`).
    pub fn parse(text: &str) -> Option<Specifier> {
        let text = text.trim();
        let (spelling, operator) = Operator::SPELLINGS.iter().find(|(spelling, _)| text.starts_with(spelling))?;
        let rest = text[spelling.len()..].trim();
        if rest.is_empty() {
            return None;
        }
        if *operator == Operator::Arbitrary {
            if rest.contains(char::is_whitespace) {
                return None;
            }
            let version = Version::parse_lenient(rest);
            return Some(Specifier { operator: *operator, written: rest.to_string(), version, wildcard: false });
        }
        let (written, wildcard) = match rest.strip_suffix(".*") {
            Some(head) if matches!(operator, Operator::Equal | Operator::NotEqual) => (head, true),
            Some(_) => return None,
            None => (rest, false),
        };
        let version = Version::parse_lenient(written)?;
        let only_release = version.pre.is_none() && version.post.is_none() && version.dev.is_none();
        let refused = (wildcard && (!only_release || version.local.is_some()))
            || (!matches!(operator, Operator::Equal | Operator::NotEqual) && version.local.is_some())
            || (*operator == Operator::Compatible && version.release.len() < 2);
        if refused {
            return None;
        }
        Some(Specifier { operator: *operator, written: written.to_string(), version: Some(version), wildcard })
    }

    /// Whether `candidate` satisfies this specifier. Pre-releases are not excluded by default: a
    /// workspace member's version is what it is, so a pre-release is matched like any version.
    pub fn contains(&self, candidate: &Version) -> bool {
        let Some(bound) = &self.version else {
            return self.operator == Operator::Arbitrary && candidate.to_string().eq_ignore_ascii_case(&self.written);
        };
        match self.operator {
            Operator::Arbitrary => candidate.to_string().eq_ignore_ascii_case(&self.written),
            Operator::Equal if self.wildcard => release_prefix_matches(candidate, bound, bound.release.len()),
            Operator::NotEqual if self.wildcard => !release_prefix_matches(candidate, bound, bound.release.len()),
            Operator::Equal => equal_ignoring_local_unless_given(candidate, bound),
            Operator::NotEqual => !equal_ignoring_local_unless_given(candidate, bound),
            Operator::Compatible => {
                candidate.public() >= *bound && release_prefix_matches(candidate, bound, bound.release.len() - 1)
            }
            Operator::LessEqual => candidate.public() <= *bound,
            Operator::GreaterEqual => candidate.public() >= *bound,
            // `<V` excludes the pre-releases of V itself unless V is one: below `V.dev0`.
            Operator::Less if bound.is_prerelease() => candidate < bound,
            Operator::Less => *candidate < Version { dev: Some(0), local: None, ..bound.clone() },
            // `>V` excludes V's local versions and, for a final or pre-release V, its post-releases.
            Operator::Greater => {
                let same_public = candidate.public() == *bound;
                let post_of_bound = bound.dev.is_none()
                    && bound.post.is_none()
                    && candidate.post.is_some()
                    && Version { post: None, dev: None, local: None, ..candidate.clone() } == *bound;
                candidate > bound && !same_public && !post_of_bound
            }
        }
    }
}

/// Same epoch, and the first `length` release numbers equal, the shorter release padded with zeros.
fn release_prefix_matches(candidate: &Version, bound: &Version, length: usize) -> bool {
    candidate.epoch == bound.epoch
        && (0..length).all(|index| candidate.release_part(index) == bound.release_part(index))
}

/// `==V`: a candidate's local label is ignored unless V has one.
fn equal_ignoring_local_unless_given(candidate: &Version, bound: &Version) -> bool {
    if bound.local.is_some() { candidate == bound } else { candidate.public() == *bound }
}

impl fmt::Display for Specifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spelling = Operator::SPELLINGS.iter().find(|(_, operator)| *operator == self.operator).map_or("", |s| s.0);
        write!(formatter, "{spelling}{}{}", self.written, if self.wildcard { ".*" } else { "" })
    }
}
