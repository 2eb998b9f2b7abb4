//! The signals of a fault round and when they come (`cargo xtask test --long`): a small seeded
//! generator, so that the printed seed replays a run, the draw of a round's one or two signals, and
//! their sending to the process group of the command under test.

use std::time::Duration;

/// A small deterministic generator (xorshift64*): the printed seed replays a run.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration in `[0, limit)`.
    pub fn below(&mut self, limit: Duration) -> Duration {
        let nanos = limit.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next_u64() % nanos)
    }
}

/// The seed of a run when `--seed` is not given (`test` passes it in `fault_injection::LoopOptions`).
pub fn default_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |elapsed| elapsed.as_nanos() as u64)
}

/// The signals of a round: the first after `delay`, and sometimes a second one `then` later, while
/// the command cleans up (a second Ctrl-C, or the SIGTERM a cancelled Actions job sends next).
#[derive(Debug, Clone)]
pub struct Signals {
    pub delay: Duration,
    pub first: Signal,
    pub second: Option<(Duration, Signal)>,
}

impl Signals {
    pub fn draw(random: &mut Random, typical: Duration) -> Signals {
        let delay = random.below(typical.mul_f64(1.1));
        let pick = |random: &mut Random| {
            if random.next_u64().is_multiple_of(2) { Signal::Interrupt } else { Signal::Terminate }
        };
        let first = pick(random);
        let second =
            random.next_u64().is_multiple_of(2).then(|| (random.below(Duration::from_millis(1500)), pick(random)));
        Signals { delay, first, second }
    }

    pub fn describe(&self) -> String {
        let mut text = format!("{} after {:.3} s", self.first.name(), self.delay.as_secs_f64());
        if let Some((then, second)) = self.second {
            text.push_str(&format!(", {} {:.3} s later", second.name(), then.as_secs_f64()));
        }
        text
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// To the whole process group led by `pid` (a supervised child leads its own), as a terminal
    /// sends Ctrl-C to its foreground group: the xtask and the short commands it runs get it.
    #[cfg(unix)]
    pub fn send_to_group(self, pid: u32) {
        let number = match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
        };
        // SAFETY: kill(2) on the group of a child we started and have not reaped yet.
        unsafe {
            libc::kill(-(pid as libc::pid_t), number);
        }
    }

    #[cfg(not(unix))]
    pub fn send_to_group(self, _pid: u32) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_seed_replays_the_same_delays() {
        let limit = Duration::from_secs(10);
        let first: Vec<Duration> = {
            let mut random = Random::new(42);
            (0..20).map(|_| random.below(limit)).collect()
        };
        let mut again = Random::new(42);
        assert_eq!(first, (0..20).map(|_| again.below(limit)).collect::<Vec<_>>());
        assert!(first.iter().all(|delay| *delay < limit));
        let distinct: BTreeSet<_> = first.iter().collect();
        assert!(distinct.len() > 15, "{first:?}");
    }

    #[test]
    fn a_round_signals_within_its_bounds_and_the_seed_replays_the_draw() {
        let typical = Duration::from_secs(2);
        let draws = |seed| {
            let mut random = Random::new(seed);
            (0..50).map(|_| Signals::draw(&mut random, typical).describe()).collect::<Vec<String>>()
        };
        assert_eq!(draws(7), draws(7));
        let mut random = Random::new(7);
        let signals: Vec<Signals> = (0..200).map(|_| Signals::draw(&mut random, typical)).collect();
        assert!(signals.iter().all(|round| round.delay < typical.mul_f64(1.1)));
        let seconds: Vec<Duration> = signals.iter().filter_map(|round| round.second.map(|(then, _)| then)).collect();
        assert!(seconds.iter().all(|then| *then < Duration::from_millis(1500)));
        assert!((50..150).contains(&seconds.len()), "about half the rounds send a second signal: {}", seconds.len());
        let interrupts = signals.iter().filter(|round| matches!(round.first, Signal::Interrupt)).count();
        assert!((50..150).contains(&interrupts), "SIGINT and SIGTERM come about as often: {interrupts}");
    }
}
