//! The generic cell rate algorithm in whole microseconds, as the stores
//! keep it: one number per key, the theoretical arrival time (TAT) of the
//! next request. The PostgreSQL store makes the same decision in SQL.

use time::{Duration, OffsetDateTime};

/// Microseconds since the Unix epoch, saturating.
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// The emission interval and the burst's span (`burst * per`), in
/// microseconds, clamped so that sums with a timestamp cannot overflow.
pub(crate) fn interval_and_span(burst: u32, per: Duration) -> (i64, i64) {
    /// About a century: longer periods mean "never again" all the same.
    const MAX: i64 = 100 * 366 * 86_400 * 1_000_000;
    let per = i64::try_from(per.whole_microseconds())
        .unwrap_or(MAX)
        .clamp(1, MAX);
    let span = per.saturating_mul(i64::from(burst.max(1))).min(MAX);
    (per, span)
}

/// The decision for a charge at `now` on a bucket whose stored TAT is
/// `tat`: the TAT to store, and the wait if refused (then the TAT is
/// unchanged, so refusals cost the client nothing more).
pub(crate) fn charge(
    tat: Option<i64>,
    now: i64,
    burst: u32,
    per: Duration,
) -> (i64, Option<Duration>) {
    let (per, span) = interval_and_span(burst, per);
    let next = tat.unwrap_or(now).max(now).saturating_add(per);
    if next <= now.saturating_add(span) {
        return (next, None);
    }
    (tat.unwrap_or(now), Some(wait(next, now, span)))
}

/// How long after `now` a bucket whose next TAT would be `next` lets a
/// request through.
pub(crate) fn wait(next: i64, now: i64, span: i64) -> Duration {
    Duration::microseconds(next.saturating_sub(now).saturating_sub(span).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_per_period() {
        let per = Duration::seconds(10);
        let mut tat = None;
        for _ in 0..3 {
            let (next, wait) = charge(tat, 0, 3, per);
            assert_eq!(wait, None);
            tat = Some(next);
        }
        let (kept, wait) = charge(tat, 0, 3, per);
        assert_eq!((Some(kept), wait), (tat, Some(per)));
        // One period later, exactly one more passes.
        let (next, wait) = charge(tat, 10_000_000, 3, per);
        assert_eq!(wait, None);
        assert!(charge(Some(next), 10_000_000, 3, per).1.is_some());
    }
}
