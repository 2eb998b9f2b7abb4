//! PEP 440 versions: parse and normalize exactly as Python's `packaging` does, order them, and
//! compute the next version for a bump kind; `version/specifier.rs` matches them against version
//! specifiers (`>=`, `<`, `==X.*`, `~=` ...).

use std::cmp::Ordering;
use std::fmt;

use clap::ValueEnum;

use crate::failure::{refuse, refuse_usage};

mod specifier;

pub use specifier::{Operator, Specifier};

/// How `cargo xtask bump` moves a version forward (docs/reference/versions.md); on the command
/// line each is its variant's name in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BumpKind {
    Major,
    Minor,
    Patch,
    Alpha,
    Beta,
    Rc,
    Post,
    Dev,
    Release,
}

impl BumpKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [BumpKind; 9] = [
        BumpKind::Major,
        BumpKind::Minor,
        BumpKind::Patch,
        BumpKind::Alpha,
        BumpKind::Beta,
        BumpKind::Rc,
        BumpKind::Post,
        BumpKind::Dev,
        BumpKind::Release,
    ];

    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BumpKind::Major => "major",
            BumpKind::Minor => "minor",
            BumpKind::Patch => "patch",
            BumpKind::Alpha => "alpha",
            BumpKind::Beta => "beta",
            BumpKind::Rc => "rc",
            BumpKind::Post => "post",
            BumpKind::Dev => "dev",
            BumpKind::Release => "release",
        }
    }
}

/// Written by hand, as for `ArchiveFormat`: clap's derive macro would bring `syn` into the build.
impl ValueEnum for BumpKind {
    fn value_variants<'a>() -> &'a [Self] {
        &BumpKind::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl fmt::Display for BumpKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// Where `cargo xtask bump` takes a version: one step of a kind, or an explicit version. Parsed from
/// the KIND|VERSION argument, so that a value that is neither is a usage error (exit 2).
#[derive(Debug, Clone, PartialEq)]
pub enum BumpTo {
    Kind(BumpKind),
    Version(Version),
}

impl BumpTo {
    /// A kind's name, else a PEP 440 version without a local part (PyPI refuses `+...`).
    pub fn parse(text: &str) -> Result<BumpTo, String> {
        if let Some(kind) = BumpKind::ALL.iter().find(|kind| kind.name() == text) {
            return Ok(BumpTo::Kind(*kind));
        }
        let version = Version::parse(text).map_err(|_| {
            format!(
                "`{text}` is neither a bump kind nor a PEP 440 version; use one of {} or a version such as 1.2.3",
                bump_kind_names()
            )
        })?;
        if version.local.is_some() {
            return Err(format!("{version} has a local part (+...), which PyPI refuses; drop the +... suffix"));
        }
        Ok(BumpTo::Version(version))
    }

    /// The help of the KIND|VERSION argument: every kind, or a version.
    pub fn help() -> String {
        format!("{}, or an explicit PEP 440 version", bump_kind_names())
    }
}

/// `major, minor, ...`: every bump kind's name, in `--help` order.
pub fn bump_kind_names() -> String {
    BumpKind::ALL.iter().map(|kind| kind.name()).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    Alpha,
    Beta,
    Rc,
}

impl PreKind {
    fn label(self) -> &'static str {
        match self {
            PreKind::Alpha => "a",
            PreKind::Beta => "b",
            PreKind::Rc => "rc",
        }
    }
}

/// How packaging orders versions: epoch, release (trailing zeros dropped), pre, post, dev (each
/// `(rank, number)`), and the local label's parts.
type SortKey = (u64, Vec<u64>, (i8, u64), (i8, u64), (i8, u64), Vec<(i8, u64, String)>);

/// Equality is PEP 440 equality (`1.0 == 1.0.0`), the same as `cmp(..) == Equal`.
#[derive(Debug, Clone)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    /// Normalized local label (`abc.1`), without the `+`.
    pub local: Option<String>,
}

/// A cursor over the lowercased text being parsed.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl Scanner<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn number(&mut self) -> Option<u64> {
        let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let value = self.rest()[..digits].parse().ok()?;
        self.at += digits;
        Some(value)
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn separator(&mut self) -> bool {
        self.eat(".") || self.eat("-") || self.eat("_")
    }

    /// Try `f`; on `None`, rewind.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.at;
        let result = f(self);
        if result.is_none() {
            self.at = start;
        }
        result
    }

    fn label(&mut self, labels: &[&str]) -> bool {
        labels.iter().any(|label| self.eat(label))
    }
}

impl Version {
    /// Parse and normalize: `1.2.3-RC.1` is `1.2.3rc1`; `1.2.x` is an error.
    pub fn parse(text: &str) -> anyhow::Result<Version> {
        Version::parse_lenient(text).ok_or_else(|| {
            refuse(
                format!("`{text}` is not a PEP 440 version"),
                "write versions like 1.2.3, 1.2.3rc1, 1.2.3.post1 or 1.2.3.dev1",
            )
        })
    }

    fn parse_lenient(text: &str) -> Option<Version> {
        let lowered = text.trim().to_ascii_lowercase();
        let mut scan = Scanner { text: &lowered, at: 0 };
        scan.eat("v");
        let epoch = scan.attempt(|s| {
            let epoch = s.number()?;
            s.eat("!").then_some(epoch)
        });
        let mut release = vec![scan.number()?];
        while let Some(part) = scan.attempt(|s| if s.eat(".") { s.number() } else { None }) {
            release.push(part);
        }
        let pre = scan.attempt(|s| {
            s.separator();
            let kind = if s.label(&["alpha", "a"]) {
                PreKind::Alpha
            } else if s.label(&["beta", "b"]) {
                PreKind::Beta
            } else if s.label(&["preview", "pre", "rc", "c"]) {
                PreKind::Rc
            } else {
                return None;
            };
            let number = s.attempt(|s| {
                s.separator();
                s.number()
            });
            Some((kind, number.unwrap_or(0)))
        });
        let post = scan
            .attempt(|s| {
                s.eat("-");
                s.number()
            })
            .or_else(|| {
                scan.attempt(|s| {
                    s.separator();
                    if !s.label(&["post", "rev", "r"]) {
                        return None;
                    }
                    let number = s.attempt(|s| {
                        s.separator();
                        s.number()
                    });
                    Some(number.unwrap_or(0))
                })
            });
        let dev = scan.attempt(|s| {
            s.separator();
            if !s.eat("dev") {
                return None;
            }
            let number = s.attempt(|s| {
                s.separator();
                s.number()
            });
            Some(number.unwrap_or(0))
        });
        let local = if scan.eat("+") {
            let label = scan.rest().to_string();
            let segments: Vec<&str> = label.split(['.', '-', '_']).collect();
            if segments.iter().any(|segment| segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                return None;
            }
            scan.at = lowered.len();
            Some(segments.join("."))
        } else {
            None
        };
        if !scan.rest().is_empty() {
            return None;
        }
        Some(Version { epoch: epoch.unwrap_or(0), release, pre, post, dev, local })
    }

    fn is_final(&self) -> bool {
        self.pre.is_none() && self.post.is_none() && self.dev.is_none()
    }

    fn release_part(&self, index: usize) -> u64 {
        self.release.get(index).copied().unwrap_or(0)
    }

    fn with_release(&self, release: Vec<u64>) -> Version {
        Version { epoch: self.epoch, release, pre: None, post: None, dev: None, local: None }
    }

    /// `X.Y.(Z+1)` with the release padded to three parts.
    fn next_patch(&self) -> anyhow::Result<Version> {
        Ok(self.with_release(vec![self.release_part(0), self.release_part(1), increment(self.release_part(2))?]))
    }

    /// The same version without its local label (`1.0+abc` → `1.0`).
    pub fn public(&self) -> Version {
        Version { local: None, ..self.clone() }
    }

    /// The largest of the numbers of the public version: epoch, release, pre-, post- and dev-release
    /// (a local label is text to uv, whatever its digits).
    pub fn largest_number(&self) -> u64 {
        let parts =
            [self.epoch, self.pre.map_or(0, |(_, number)| number), self.post.unwrap_or(0), self.dev.unwrap_or(0)];
        parts.into_iter().chain(self.release.iter().copied()).max().unwrap_or(0)
    }

    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The next version for a bump kind; the semantics are documented in docs/reference/versions.md.
    /// A kind that cannot apply to this version is a usage error (exit 2): the kind is a flag value.
    pub fn bump(&self, kind: BumpKind) -> anyhow::Result<Version> {
        let same_release = || Version { local: None, ..self.clone() };
        let next = match kind {
            BumpKind::Major => self.with_release(vec![increment(self.release_part(0))?, 0, 0]),
            BumpKind::Minor => self.with_release(vec![self.release_part(0), increment(self.release_part(1))?, 0]),
            BumpKind::Patch => self.next_patch()?,
            BumpKind::Alpha | BumpKind::Beta | BumpKind::Rc => {
                let wanted = match kind {
                    BumpKind::Alpha => PreKind::Alpha,
                    BumpKind::Beta => PreKind::Beta,
                    _ => PreKind::Rc,
                };
                match self.pre {
                    None if self.post.is_none() && self.dev.is_some() => {
                        Version { pre: Some((wanted, 1)), dev: None, ..same_release() }
                    }
                    None => Version { pre: Some((wanted, 1)), ..self.next_patch()? },
                    Some((current, number)) if current == wanted => {
                        if self.dev.is_some() && self.post.is_none() {
                            Version { dev: None, ..same_release() }
                        } else {
                            Version { pre: Some((wanted, increment(number)?)), post: None, dev: None, ..same_release() }
                        }
                    }
                    Some((current, _)) if current < wanted => {
                        Version { pre: Some((wanted, 1)), post: None, dev: None, ..same_release() }
                    }
                    Some(_) => {
                        return Err(refuse_usage(
                            format!("{kind} after {self} would go backwards"),
                            "use `release` to finish this pre-release, or give the version explicitly",
                        ));
                    }
                }
            }
            BumpKind::Post => match (self.post, self.dev) {
                (Some(_), Some(_)) => Version { dev: None, ..same_release() },
                (Some(post), None) => Version { post: Some(increment(post)?), ..same_release() },
                (None, Some(_)) => {
                    return Err(refuse_usage(
                        format!("{self} is a development release: a post-release of it makes no sense"),
                        "use `release` or `dev`, or give the version explicitly",
                    ));
                }
                (None, None) => Version { post: Some(1), ..same_release() },
            },
            BumpKind::Dev => match (self.dev, self.pre, self.post) {
                (Some(dev), _, _) => Version { dev: Some(increment(dev)?), ..same_release() },
                (None, _, Some(post)) => Version { post: Some(increment(post)?), dev: Some(1), ..same_release() },
                (None, Some((pre, number)), None) => {
                    Version { pre: Some((pre, increment(number)?)), dev: Some(1), ..same_release() }
                }
                (None, None, None) => Version { dev: Some(1), ..self.next_patch()? },
            },
            BumpKind::Release => {
                if self.is_final() || (self.pre.is_none() && self.dev.is_none()) {
                    return Err(refuse_usage(
                        format!("{self} is already a release"),
                        "use major, minor or patch to start the next one",
                    ));
                }
                if self.post.is_some() && self.pre.is_none() {
                    Version { dev: None, ..same_release() }
                } else {
                    self.with_release(self.release.clone())
                }
            }
        };
        Ok(next)
    }

    /// Version as packaging orders it: comparison keys for every part.
    fn sort_key(&self) -> SortKey {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        // A dev release of a final version sorts before its pre-releases (alpha is 0, beta 1, rc 2),
        // and a final release after them.
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0),
            (None, _, _) => (3, 0),
            (Some((kind, number)), _, _) => (kind as i8, number),
        };
        let post = self.post.map_or((-1, 0), |post| (0, post));
        let dev = self.dev.map_or((1, 0), |dev| (0, dev));
        let local = self
            .local
            .as_deref()
            .map(|label| {
                label
                    .split('.')
                    .map(|segment| match segment.parse::<u64>() {
                        Ok(number) => (1, number, String::new()),
                        Err(_) => (0, 0, segment.to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        (self.epoch, release, pre, post, dev, local)
    }
}

/// The largest number of a version's epoch, release, pre-, post- or dev-release that uv reads: it
/// refuses `u64::MAX`, so a version with a larger one is a `pyproject.toml` nothing can lock.
pub const LARGEST_NUMBER: u64 = u64::MAX - 1;

/// `number + 1`, refused (a usage error of the bump kind, not a panic) past [`LARGEST_NUMBER`].
fn increment(number: u64) -> anyhow::Result<u64> {
    number.checked_add(1).filter(|next| *next <= LARGEST_NUMBER).ok_or_else(|| {
        refuse_usage(
            format!("{number} is the largest version number this tool can count to"),
            "give the version explicitly",
        )
    })
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        let (a, b) = (self.sort_key(), other.sort_key());
        // No local label sorts before any local label.
        a.0.cmp(&b.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.3.cmp(&b.3))
            .then_with(|| a.4.cmp(&b.4))
            .then_with(|| match (self.local.is_some(), other.local.is_some()) {
                (false, true) => Ordering::Less,
                (true, false) => Ordering::Greater,
                _ => a.5.cmp(&b.5),
            })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(formatter, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        formatter.write_str(&release.join("."))?;
        if let Some((kind, number)) = self.pre {
            write!(formatter, "{}{number}", kind.label())?;
        }
        if let Some(post) = self.post {
            write!(formatter, ".post{post}")?;
        }
        if let Some(dev) = self.dev {
            write!(formatter, ".dev{dev}")?;
        }
        if let Some(local) = &self.local {
            write!(formatter, "+{local}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_to_is_a_kind_or_a_version_without_local_part() {
        assert_eq!(BumpTo::parse("rc"), Ok(BumpTo::Kind(BumpKind::Rc)));
        let Ok(BumpTo::Version(version)) = BumpTo::parse("1.2.4-RC.1") else { panic!() };
        assert_eq!(version.to_string(), "1.2.4rc1");
        for kind in BumpKind::ALL {
            assert_eq!(BumpTo::parse(kind.name()), Ok(BumpTo::Kind(kind)));
        }
        let refused = BumpTo::parse("1.2.x").unwrap_err();
        assert_eq!(
            refused,
            "`1.2.x` is neither a bump kind nor a PEP 440 version; use one of major, minor, patch, alpha, beta, rc, \
             post, dev, release or a version such as 1.2.3"
        );
        for text in ["huge", "", "Minor", "1.3.0+abc"] {
            assert!(BumpTo::parse(text).is_err(), "{text:?} accepted");
        }
        assert!(BumpTo::parse("1.3.0+abc").unwrap_err().contains("local part"));
    }

    const PACKAGING_TABLE: &str = include_str!("../tests/fixtures/pep440.tsv");

    #[test]
    fn a_dev_release_of_a_final_sorts_before_the_dev_release_of_its_alpha() {
        // Found by the ordering property: alpha's rank once collided with "dev of a final".
        let ordered = ["2.dev0", "2a0.dev0", "2a0", "2b0.dev0", "2rc0", "2", "2.post0.dev0", "2.post0"];
        for pair in ordered.windows(2) {
            let (low, high) = (Version::parse(pair[0]).unwrap(), Version::parse(pair[1]).unwrap());
            assert!(low < high, "{low} < {high}");
        }
    }

    #[test]
    fn agrees_with_packaging_on_validity_normal_form_and_order() {
        let mut ranked: Vec<(Version, usize)> = Vec::new();
        for row in PACKAGING_TABLE.lines() {
            let columns: Vec<&str> = row.split('\t').collect();
            let (input, normalized, rank) = (columns[0], columns[1], columns[2]);
            match Version::parse(input) {
                Ok(version) => {
                    assert_eq!(version.to_string(), normalized, "normal form of {input:?}");
                    ranked.push((version, rank.parse().unwrap()));
                }
                Err(_) => assert_eq!(normalized, "INVALID", "{input:?} was refused but packaging accepts it"),
            }
        }
        assert!(ranked.len() > 40);
        for (a, rank_a) in &ranked {
            for (b, rank_b) in &ranked {
                assert_eq!(a.cmp(b), rank_a.cmp(rank_b), "order of {a} and {b}");
            }
        }
    }

    /// Every kind from final, pre, post and dev starting points.
    #[test]
    fn bump_kinds_from_every_kind_of_start() {
        let cases = [
            ("1.2.3", "major", "2.0.0"),
            ("1.2.3", "minor", "1.3.0"),
            ("1.2.3", "patch", "1.2.4"),
            ("1.2", "patch", "1.2.1"),
            ("1.2.3", "alpha", "1.2.4a1"),
            ("0.2.0", "rc", "0.2.1rc1"),
            ("1.2.3", "post", "1.2.3.post1"),
            ("1.2.3", "dev", "1.2.4.dev1"),
            ("1.2.3rc1", "major", "2.0.0"),
            ("1.2.3rc1", "minor", "1.3.0"),
            ("1.2.3rc1", "patch", "1.2.4"),
            ("1.2.3a1", "alpha", "1.2.3a2"),
            ("1.2.3a2", "beta", "1.2.3b1"),
            ("1.2.3b1", "rc", "1.2.3rc1"),
            ("1.2.3rc1", "rc", "1.2.3rc2"),
            ("1.2.3rc1", "post", "1.2.3rc1.post1"),
            ("1.2.3rc1", "dev", "1.2.3rc2.dev1"),
            ("1.2.3rc1", "release", "1.2.3"),
            ("1.2.3.post1", "major", "2.0.0"),
            ("1.2.3.post1", "patch", "1.2.4"),
            ("1.2.3.post1", "rc", "1.2.4rc1"),
            ("1.2.3.post1", "post", "1.2.3.post2"),
            ("1.2.3.post1", "dev", "1.2.3.post2.dev1"),
            ("1.2.3.dev1", "major", "2.0.0"),
            ("1.2.3.dev1", "patch", "1.2.4"),
            ("1.2.3.dev1", "alpha", "1.2.3a1"),
            ("1.2.3.dev1", "dev", "1.2.3.dev2"),
            ("1.2.3.dev1", "release", "1.2.3"),
            ("1.2.3rc1.dev2", "rc", "1.2.3rc1"),
            ("1.2.3rc1.dev2", "release", "1.2.3"),
            ("1.2.3.post1.dev1", "post", "1.2.3.post1"),
            ("1.2.3.post1.dev1", "release", "1.2.3.post1"),
            ("1!1.2.3", "minor", "1!1.3.0"),
        ];
        for (start, kind, expected) in cases {
            let current = Version::parse(start).unwrap();
            let kind = BumpKind::from_str(kind, false).unwrap();
            let next = current.bump(kind).unwrap_or_else(|e| panic!("{start} {kind}: {e:#}"));
            assert_eq!(next.to_string(), expected, "{start} {kind}");
            assert!(next > current, "{start} {kind} -> {next} does not go forward");
        }
    }

    #[test]
    fn backwards_or_meaningless_bumps_are_refused() {
        for (start, kind) in [
            ("1.2.3rc1", "alpha"),
            ("1.2.3b1", "alpha"),
            ("1.2.3", "release"),
            ("1.2.3.post1", "release"),
            ("1.2.3.dev1", "post"),
        ] {
            let kind = BumpKind::from_str(kind, false).unwrap();
            let error = Version::parse(start).unwrap().bump(kind).unwrap_err();
            assert!(crate::failure::lines(&error).hint.is_some(), "{start} {kind} has no hint");
            assert_eq!(crate::failure::exit_code_of(&error), 2, "{start} {kind} is not a usage error");
        }
    }

    const SPECIFIER_TABLE: &str = include_str!("../tests/fixtures/pep440_specifiers.tsv");

    /// Regression (issue 12, class 10): `==0.3.*` / `!=0.3.*` were trimmed to `0.3` and compared
    /// exactly. Every operator now agrees with `packaging` on the generated table.
    #[test]
    fn specifiers_agree_with_packaging() {
        let mut checked = 0;
        for row in SPECIFIER_TABLE.lines() {
            let columns: Vec<&str> = row.split('\t').collect();
            let (specifier, version, expected) = (columns[0], columns[1], columns[2]);
            let parsed = Specifier::parse(specifier);
            if expected == "INVALID" {
                assert!(parsed.is_none(), "{specifier} was accepted but packaging refuses it");
                continue;
            }
            let parsed = parsed.unwrap_or_else(|| panic!("{specifier} was refused but packaging accepts it"));
            let candidate = Version::parse(version).unwrap();
            assert_eq!(parsed.contains(&candidate), expected == "yes", "{version} against {specifier}");
            checked += 1;
        }
        assert!(checked > 800, "{checked}");
        let spaced = Specifier::parse(" <=  0.4 ").unwrap();
        assert!(spaced.contains(&Version::parse("0.4.0").unwrap()) && spaced.to_string() == "<=0.4");
    }

    #[test]
    fn equal_versions_compare_equal() {
        assert_eq!(Version::parse("1.0").unwrap(), Version::parse("1.0.0").unwrap());
        assert_ne!(Version::parse("1.0").unwrap(), Version::parse("1.0+abc").unwrap());
    }

    #[test]
    fn bumping_past_the_largest_number_is_refused_not_a_panic() {
        let top = Version::parse(&format!("1.2.{}", u64::MAX)).unwrap();
        assert!(top.bump(BumpKind::Patch).is_err());
        assert!(top.bump(BumpKind::Dev).is_err());
        // uv's largest number is one less: a bump never writes a number uv refuses.
        let largest = Version::parse(&format!("1.2.3.post{LARGEST_NUMBER}")).unwrap();
        let error = largest.bump(BumpKind::Post).unwrap_err();
        assert_eq!(crate::failure::exit_code_of(&error), 2);
        let below = Version::parse(&format!("1.2.3.post{}", LARGEST_NUMBER - 1)).unwrap();
        assert_eq!(below.bump(BumpKind::Post).unwrap().post, Some(LARGEST_NUMBER));
        assert_eq!(largest.largest_number(), LARGEST_NUMBER);
        assert_eq!(Version::parse("3!1.20rc4.post5.dev6+99").unwrap().largest_number(), 20);
    }
}

/// Versions built from parts, with an ordering written from the PEP 440 text on its own (not
/// `Version::sort_key`), shared by the property tests of this module and of `bump`.
#[cfg(test)]
pub mod proptests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    pub struct VersionParts {
        pub epoch: u64,
        pub release: Vec<u64>,
        /// (0 = a, 1 = b, 2 = rc, number)
        pub pre: Option<(u8, u64)>,
        pub post: Option<u64>,
        pub dev: Option<u64>,
        pub local: Option<Vec<String>>,
    }

    impl VersionParts {
        /// The normalized text, as `packaging` prints it.
        pub fn render(&self) -> String {
            let mut text = if self.epoch == 0 { String::new() } else { format!("{}!", self.epoch) };
            text.push_str(&self.release.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
            if let Some((kind, number)) = self.pre {
                text.push_str(&format!("{}{number}", ["a", "b", "rc"][usize::from(kind)]));
            }
            if let Some(post) = self.post {
                text.push_str(&format!(".post{post}"));
            }
            if let Some(dev) = self.dev {
                text.push_str(&format!(".dev{dev}"));
            }
            if let Some(local) = &self.local {
                text.push_str(&format!("+{}", local.join(".")));
            }
            text
        }

        pub fn release_at(&self, index: usize) -> u64 {
            self.release.get(index).copied().unwrap_or(0)
        }

        /// PEP 440 order: epoch, release (trailing zeros ignored), then dev-only < pre < final,
        /// then post, then dev (a dev release before its base), then local (none first; numeric
        /// segments above alphanumeric ones; a longer label above its prefix).
        #[allow(clippy::type_complexity)]
        pub fn key(&self) -> (u64, Vec<u64>, (u8, u8, u64), (u8, u64), (u8, u64), (u8, Vec<(u8, u64, String)>)) {
            let mut release = self.release.clone();
            while release.last() == Some(&0) {
                release.pop();
            }
            let pre = match (self.pre, self.post, self.dev) {
                (Some((kind, number)), _, _) => (1, kind, number),
                (None, None, Some(_)) => (0, 0, 0),
                (None, _, _) => (2, 0, 0),
            };
            let post = self.post.map_or((0, 0), |number| (1, number));
            let dev = self.dev.map_or((1, 0), |number| (0, number));
            let local = match &self.local {
                None => (0, Vec::new()),
                Some(segments) => (
                    1,
                    segments
                        .iter()
                        .map(|segment| match segment.parse::<u64>() {
                            Ok(number) => (1, number, String::new()),
                            Err(_) => (0, 0, segment.clone()),
                        })
                        .collect(),
                ),
            };
            (self.epoch, release, pre, post, dev, local)
        }
    }

    /// Small numbers, so that equal releases, shared prefixes and near misses are common.
    pub fn version_parts() -> impl Strategy<Value = VersionParts> {
        let local_segment = prop::sample::select(vec!["abc", "1", "x2", "10"]).prop_map(str::to_string);
        (
            prop::sample::select(vec![0u64, 0, 0, 1]),
            prop::collection::vec(0u64..3, 1..4),
            prop::option::weighted(0.3, (0u8..3, 0u64..3)),
            prop::option::weighted(0.2, 0u64..3),
            prop::option::weighted(0.2, 0u64..3),
            prop::option::weighted(0.2, prop::collection::vec(local_segment, 1..3)),
        )
            .prop_map(|(epoch, release, pre, post, dev, local)| VersionParts {
                epoch,
                release,
                pre,
                post,
                dev,
                local,
            })
    }

    proptest! {
        // Cheap properties: 2048 cases each keeps the whole crate's property run to a few seconds.
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn parsing_never_panics(text in any::<String>(), near in "[0-9a-zA-Z.!+_ -]{0,24}") {
            for input in [&text, &near] {
                if let Ok(version) = Version::parse(input) {
                    let again = Version::parse(&version.to_string()).expect("a printed version parses");
                    prop_assert_eq!(again.to_string(), version.to_string());
                }
                for kind in BumpKind::value_variants() {
                    if let Ok(version) = Version::parse(input) {
                        let _ = version.bump(*kind);
                    }
                }
                let _ = Specifier::parse(input);
            }
        }

        #[test]
        fn parse_display_parse_round_trips(parts in version_parts()) {
            let version = Version::parse(&parts.render()).expect("generated versions are valid");
            prop_assert_eq!(version.to_string(), parts.render());
            let again = Version::parse(&version.to_string()).unwrap();
            prop_assert_eq!(
                (again.epoch, &again.release, again.pre, again.post, again.dev, &again.local),
                (version.epoch, &version.release, version.pre, version.post, version.dev, &version.local)
            );
        }

        #[test]
        fn ordering_agrees_with_the_model_and_equality(a in version_parts(), b in version_parts()) {
            let (left, right) = (Version::parse(&a.render()).unwrap(), Version::parse(&b.render()).unwrap());
            prop_assert_eq!(left.cmp(&right), a.key().cmp(&b.key()), "{} vs {}", a.render(), b.render());
            prop_assert_eq!(left.cmp(&right).reverse(), right.cmp(&left));
            prop_assert_eq!(left == right, left.cmp(&right) == Ordering::Equal);
        }

        #[test]
        fn every_bump_goes_forward(parts in version_parts(), kind in prop::sample::select(BumpKind::value_variants().to_vec())) {
            let current = Version::parse(&parts.render()).unwrap();
            if let Ok(next) = current.bump(kind) {
                prop_assert!(next > current, "{} {} gave {}", current, kind, next);
            }
        }
    }
}
