//! PEP 440 versions: parse and normalize exactly as Python's `packaging` does, order them, and
//! compute the next version for a bump kind.

use std::cmp::Ordering;
use std::fmt;

use crate::failure::refuse;

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

#[derive(Debug, Clone, PartialEq, Eq)]
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
    fn next_patch(&self) -> Version {
        self.with_release(vec![self.release_part(0), self.release_part(1), self.release_part(2) + 1])
    }

    /// The next version for a bump kind; the semantics are documented in docs/reference/versions.md.
    pub fn bump(&self, kind: &str) -> anyhow::Result<Version> {
        let same_release = || Version { local: None, ..self.clone() };
        let next = match kind {
            "major" => self.with_release(vec![self.release_part(0) + 1, 0, 0]),
            "minor" => self.with_release(vec![self.release_part(0), self.release_part(1) + 1, 0]),
            "patch" => self.next_patch(),
            "alpha" | "beta" | "rc" => {
                let wanted = match kind {
                    "alpha" => PreKind::Alpha,
                    "beta" => PreKind::Beta,
                    _ => PreKind::Rc,
                };
                match self.pre {
                    None if self.post.is_none() && self.dev.is_some() => {
                        Version { pre: Some((wanted, 1)), dev: None, ..same_release() }
                    }
                    None => Version { pre: Some((wanted, 1)), ..self.next_patch() },
                    Some((current, number)) if current == wanted => {
                        if self.dev.is_some() && self.post.is_none() {
                            Version { dev: None, ..same_release() }
                        } else {
                            Version { pre: Some((wanted, number + 1)), post: None, dev: None, ..same_release() }
                        }
                    }
                    Some((current, _)) if current < wanted => {
                        Version { pre: Some((wanted, 1)), post: None, dev: None, ..same_release() }
                    }
                    Some(_) => {
                        return Err(refuse(
                            format!("{kind} after {self} would go backwards"),
                            "use `release` to finish this pre-release, or give the version explicitly",
                        ));
                    }
                }
            }
            "post" => match (self.post, self.dev) {
                (Some(_), Some(_)) => Version { dev: None, ..same_release() },
                (Some(post), None) => Version { post: Some(post + 1), ..same_release() },
                (None, Some(_)) => {
                    return Err(refuse(
                        format!("{self} is a development release: a post-release of it makes no sense"),
                        "use `release` or `dev`, or give the version explicitly",
                    ));
                }
                (None, None) => Version { post: Some(1), ..same_release() },
            },
            "dev" => match (self.dev, self.pre, self.post) {
                (Some(dev), _, _) => Version { dev: Some(dev + 1), ..same_release() },
                (None, _, Some(post)) => Version { post: Some(post + 1), dev: Some(1), ..same_release() },
                (None, Some((pre, number)), None) => {
                    Version { pre: Some((pre, number + 1)), dev: Some(1), ..same_release() }
                }
                (None, None, None) => Version { dev: Some(1), ..self.next_patch() },
            },
            "release" => {
                if self.is_final() || (self.pre.is_none() && self.dev.is_none()) {
                    return Err(refuse(
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
            other => {
                return Err(refuse(
                    format!("unknown bump kind `{other}`"),
                    "use major, minor, patch, alpha, beta, rc, post, dev, release, or an explicit version",
                ));
            }
        };
        Ok(next)
    }

    /// Version as packaging orders it: comparison keys for every part.
    fn sort_key(&self) -> (u64, Vec<u64>, (i8, u64), (i8, u64), (i8, u64), Vec<(i8, u64, String)>) {
        let mut release = self.release.clone();
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        // A dev release of a final version sorts before its pre-releases.
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => (-1, 0),
            (None, _, _) => (2, 0),
            (Some((kind, number)), _, _) => (kind as i8 - 1, number),
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

    const PACKAGING_TABLE: &str = include_str!("../tests/fixtures/pep440.tsv");

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
            ("1.2.3", "huge"),
        ] {
            let error = Version::parse(start).unwrap().bump(kind).unwrap_err();
            assert!(crate::failure::lines(&error).1.is_some(), "{start} {kind} has no hint");
        }
    }
}
