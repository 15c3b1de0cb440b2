//! The resend rule of one message: which attempt is in flight, how long each step
//! may take, the backoff before the next, when to give up. Pure arithmetic on
//! instants, tested without a clock. Resending is safe because an echo is idempotent
//! (NOTES "The client").

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Every attempt at one message together, backoffs included, ends within this
/// bound of the first; then the message is given up (exit 1).
pub const MESSAGE_BUDGET: Duration = Duration::from_secs(20);
/// Bound of a name lookup, and again of the connect that follows it: against DNS
/// servers that do not answer and hosts that drop SYNs.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound from the connect to the complete echo line. A server task that vanished
/// sends no RST, so this is what detects it: a few seconds, not the whole budget.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// Wait before the second attempt; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_FIRST: Duration = Duration::from_millis(50);
/// Longest wait between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The attempts at one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    /// Number of the attempt in flight, from 1.
    number: u32,
    /// Past this instant no attempt runs any more.
    give_up_at: Instant,
}

impl Attempts {
    /// The first attempt at a message, starting `now`.
    pub fn start(now: Instant) -> Self {
        Attempts {
            number: 1,
            give_up_at: now + MESSAGE_BUDGET,
        }
    }

    /// Number of the attempt in flight, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Deadline of a step that starts `now` and may take `bound`, cut short by the
    /// message's budget.
    pub fn deadline(&self, now: Instant, bound: Duration) -> Instant {
        (now + bound).min(self.give_up_at)
    }

    /// The address for the attempt in flight among those a name resolved to: the
    /// next one at each attempt, so that a resend goes to another replica even when
    /// the resolver lists them in the same order every time.
    pub fn pick<'a>(&self, addresses: &'a [SocketAddr]) -> Option<&'a SocketAddr> {
        let turn = usize::try_from(self.number - 1).unwrap_or(usize::MAX);
        addresses.iter().cycle().nth(turn % addresses.len().max(1))
    }

    /// After the attempt in flight failed at `now`: the wait before the next one,
    /// which becomes the attempt in flight, or `None` when the message is given up
    /// because that attempt could not start within the budget.
    pub fn retry(&mut self, now: Instant) -> Option<Duration> {
        let delay = backoff(self.number);
        if now + delay >= self.give_up_at {
            return None;
        }
        self.number += 1;
        Some(delay)
    }
}

/// Wait after failed attempt number `attempt` (from 1): 50 ms, doubling, at most 1 s.
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_from_50ms_up_to_1s() {
        let delays: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn each_retry_is_the_next_attempt_with_its_backoff() {
        let start = Instant::now();
        let mut attempts = Attempts::start(start);
        assert_eq!(attempts.number(), 1);
        assert_eq!(attempts.retry(start), Some(50 * MS));
        assert_eq!(attempts.number(), 2);
        assert_eq!(attempts.retry(start), Some(100 * MS));
        assert_eq!(attempts.number(), 3);
    }

    #[test]
    fn each_attempt_takes_the_next_address() {
        let replicas: Vec<SocketAddr> = ["10.0.0.2:1", "10.0.0.3:1"]
            .iter()
            .map(|a| a.parse().expect("address"))
            .collect();
        let start = Instant::now();
        let mut attempts = Attempts::start(start);
        let mut picked = Vec::new();
        for _ in 0..3 {
            picked.push(*attempts.pick(&replicas).expect("an address"));
            attempts.retry(start);
        }
        assert_eq!(picked, [replicas[0], replicas[1], replicas[0]]);
        assert_eq!(attempts.pick(&[]), None);
    }

    #[test]
    fn step_deadlines_never_pass_the_budget() {
        let start = Instant::now();
        let attempts = Attempts::start(start);
        assert_eq!(
            attempts.deadline(start, REPLY_TIMEOUT),
            start + REPLY_TIMEOUT
        );
        let late = start + MESSAGE_BUDGET - MS;
        assert_eq!(
            attempts.deadline(late, CONNECT_TIMEOUT),
            start + MESSAGE_BUDGET
        );
    }

    #[test]
    fn gives_up_when_the_next_attempt_would_start_past_the_budget() {
        let start = Instant::now();
        let mut attempts = Attempts::start(start);
        let last_chance = start + MESSAGE_BUDGET - 51 * MS;
        assert_eq!(attempts.retry(last_chance), Some(50 * MS));
        let mut attempts = Attempts::start(start);
        assert_eq!(attempts.retry(start + MESSAGE_BUDGET - 50 * MS), None);
        assert_eq!(attempts.number(), 1, "a given-up message starts no attempt");
    }

    #[test]
    fn a_refused_server_is_tried_until_the_budget_is_spent() {
        // Attempts that fail at once: only the backoffs use up the budget.
        let start = Instant::now();
        let mut attempts = Attempts::start(start);
        let mut now = start;
        while let Some(delay) = attempts.retry(now) {
            now += delay;
        }
        let spent = now - start;
        assert!(
            spent > MESSAGE_BUDGET - BACKOFF_MAX,
            "gave up after {spent:?}"
        );
        assert!(spent <= MESSAGE_BUDGET);
        assert_eq!(attempts.number(), 24);
    }

    #[test]
    fn a_silent_server_costs_one_reply_bound_per_attempt() {
        let start = Instant::now();
        let mut attempts = Attempts::start(start);
        let mut now = start;
        loop {
            now = attempts.deadline(now, REPLY_TIMEOUT);
            match attempts.retry(now) {
                Some(delay) => now += delay,
                None => break,
            }
        }
        assert!(now <= start + MESSAGE_BUDGET);
        assert_eq!(attempts.number(), 6);
    }
}
