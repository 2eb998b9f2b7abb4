//! `cargo xtask bench`: the command line's `--quick` and `--only` handed to the bench (bench.rs),
//! which knows nothing of the flags.

use crate::bench;
use crate::flags::BenchFlags;

pub fn run(flags: &BenchFlags) -> anyhow::Result<()> {
    bench::run(flags.quick, &flags.only)
}

#[cfg(test)]
mod tests {
    use crate::bench::comparison::Comparison;

    /// `cargo xtask bench ARGS...` as the real command line parses it: the bench's own matches.
    fn bench_matches(args: &[&str]) -> Result<clap::ArgMatches, clap::Error> {
        let mut matches = crate::flags::command().try_get_matches_from(["cargo xtask", "bench"].iter().chain(args))?;
        Ok(matches.remove_subcommand().expect("bench is a subcommand").1)
    }

    #[test]
    fn only_parses_names_into_comparisons() {
        let matches = bench_matches(&["--only", "cold-build,hash-limit", "--only", "hash"]).unwrap();
        let only: Vec<Comparison> = matches.get_many::<Comparison>("only").unwrap().copied().collect();
        assert_eq!(only, [Comparison::ColdBuild, Comparison::HashLimit, Comparison::Hash]);
    }

    #[test]
    fn unknown_comparison_is_a_usage_error_listing_every_name() {
        let Err(error) = bench_matches(&["--only", "hash,hashes"]) else { panic!("--only hashes was accepted") };
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
        assert_eq!(error.exit_code(), 2);
        let message = error.to_string();
        assert!(message.contains("invalid value 'hashes' for '--only <NAMES>'"), "{message}");
        for comparison in Comparison::ALL {
            assert!(message.contains(comparison.name()), "{} is not listed: {message}", comparison.name());
        }
    }
}
