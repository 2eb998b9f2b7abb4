//! The bench's comparisons as data: each one's name (on `--only` and in `target/bench/report.json`),
//! its goal, and the outside programs its baseline runs.
//!
//! A leaf: `flags.rs` parses `--only` straight into [`Comparison`], so this module names nothing of
//! the command line or of any command.

/// One comparison of the bench, in the order they run and appear in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Comparison {
    /// `cargo xtask checksums` vs `sha256sum --check`.
    Hash,
    /// `cargo xtask checksums` vs `openssl dgst -sha256`, the practical limit per core.
    HashLimit,
    /// `cargo xtask archive` vs `tar -czf`.
    Archive,
    /// `cargo xtask sidecar` from the cache vs `--no-cache`.
    SidecarCached,
    /// `cargo xtask sidecar --no-cache` vs PyInstaller one spec after the other.
    SidecarParallel,
    /// `cargo xtask smoke` vs a curl-and-sleep script.
    Smoke,
    /// The xtask's own build from an empty target folder; no baseline.
    ColdBuild,
}

/// What a comparison must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The median ratio ours / baseline is at most this.
    RatioAtMost(f64),
    /// No baseline: the median wall time is at most this many seconds.
    SecondsAtMost(f64),
}

/// The archive's compressed size may exceed `tar -czf`'s by this fraction at most.
pub const ARCHIVE_SIZE_TOLERANCE: f64 = 0.02;

impl Comparison {
    /// Every comparison, in the order they run and appear in the table.
    pub const ALL: [Comparison; 7] = [
        Comparison::Hash,
        Comparison::HashLimit,
        Comparison::Archive,
        Comparison::SidecarCached,
        Comparison::SidecarParallel,
        Comparison::Smoke,
        Comparison::ColdBuild,
    ];

    /// The name on `--only`, in the table and in `report.json`.
    pub fn name(self) -> &'static str {
        match self {
            Comparison::Hash => "hash",
            Comparison::HashLimit => "hash-limit",
            Comparison::Archive => "archive",
            Comparison::SidecarCached => "sidecar-cached",
            Comparison::SidecarParallel => "sidecar-parallel",
            Comparison::Smoke => "smoke",
            Comparison::ColdBuild => "cold-build",
        }
    }

    pub fn goal(self) -> Goal {
        match self {
            Comparison::Hash => Goal::RatioAtMost(0.25),
            Comparison::HashLimit => Goal::RatioAtMost(0.6),
            Comparison::Archive => Goal::RatioAtMost(1.0),
            Comparison::SidecarCached => Goal::RatioAtMost(0.05),
            Comparison::SidecarParallel => Goal::RatioAtMost(0.75),
            Comparison::Smoke => Goal::RatioAtMost(0.5),
            Comparison::ColdBuild => Goal::SecondsAtMost(30.0),
        }
    }

    /// The outside programs the comparison runs, found on PATH before any work starts.
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Comparison::Hash => &["sha256sum"],
            Comparison::HashLimit => &["openssl"],
            Comparison::Archive => &["tar", "gzip"],
            Comparison::SidecarParallel => &["sh", "git"],
            Comparison::Smoke => &["sh", "curl", "sha256sum"],
            Comparison::SidecarCached | Comparison::ColdBuild => &[],
        }
    }

    /// Whether it runs the built sidecars, so that the bench builds them first. `--quick` archives
    /// part of the xtask's own executable instead of a sidecar.
    pub fn needs_built_sidecars(self, quick: bool) -> bool {
        match self {
            Comparison::SidecarCached | Comparison::SidecarParallel | Comparison::Smoke => true,
            Comparison::Archive => !quick,
            Comparison::Hash | Comparison::HashLimit | Comparison::ColdBuild => false,
        }
    }
}

/// Written by hand, as for `ArchiveFormat`: clap's derive macro would bring `syn` into the build.
impl clap::ValueEnum for Comparison {
    fn value_variants<'a>() -> &'a [Self] {
        &Comparison::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_name_parses_back_to_its_comparison() {
        for comparison in Comparison::ALL {
            assert_eq!(Comparison::from_str(comparison.name(), false), Ok(comparison), "{comparison:?}");
        }
        assert!(Comparison::from_str("hashes", false).is_err());
        assert!(Comparison::from_str("Hash", false).is_err(), "names are matched exactly");
    }

    #[test]
    fn names_are_unique_and_in_table_order() {
        let names: Vec<&str> = Comparison::ALL.iter().map(|comparison| comparison.name()).collect();
        assert_eq!(
            names,
            ["hash", "hash-limit", "archive", "sidecar-cached", "sidecar-parallel", "smoke", "cold-build"],
            "report.json and --only keep these names"
        );
        let mut sorted = Comparison::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, Comparison::ALL, "ALL lists each variant once, in declaration order");
    }

    #[test]
    fn each_has_a_reachable_goal_and_only_the_cold_build_goes_without_a_baseline() {
        for comparison in Comparison::ALL {
            match comparison.goal() {
                Goal::RatioAtMost(ratio) => {
                    assert!(ratio > 0.0 && ratio <= 1.0, "{comparison:?}: {ratio}");
                    assert_ne!(comparison, Comparison::ColdBuild);
                }
                Goal::SecondsAtMost(seconds) => {
                    assert!(seconds > 0.0 && seconds.is_finite(), "{comparison:?}: {seconds}");
                    assert_eq!(comparison, Comparison::ColdBuild);
                }
            }
        }
    }

    #[test]
    fn baselines_name_their_tools_and_sidecar_comparisons_need_a_build() {
        assert_eq!(Comparison::Hash.tools(), ["sha256sum"]);
        assert!(Comparison::Smoke.tools().contains(&"curl"));
        assert!(Comparison::ColdBuild.tools().is_empty());
        assert!(Comparison::Smoke.needs_built_sidecars(true));
        assert!(Comparison::Archive.needs_built_sidecars(false));
        assert!(!Comparison::Archive.needs_built_sidecars(true), "--quick archives the xtask itself");
        assert!(!Comparison::Hash.needs_built_sidecars(false));
    }
}
