//! The server's clock: the system time, cut to the microseconds both
//! backends keep, plus an offset that only ever moves forward. Everything
//! that depends on time (entry times, the decider, reminder, digest and
//! overdue clocks, the mail worker's due rows, the pages' "ready" and
//! "overdue") reads this one clock, so a test or a fault drill can move an
//! instance days ahead without sleeping, and it all stays consistent.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::db;

/// Cheap to clone; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system time.
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Now, by this clock.
    pub fn now(&self) -> DateTime<Utc> {
        db::now() + Duration::microseconds(self.offset.load(Ordering::Relaxed))
    }

    /// Moves the clock `by` forward (a negative or empty duration does
    /// nothing: the log's times never go backwards).
    pub fn advance(&self, by: Duration) {
        if let Some(micros) = by.num_microseconds().filter(|m| *m > 0) {
            self.offset.fetch_add(micros, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_only_and_clones_share_it() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = clock.now();
        clock.advance(Duration::days(8));
        assert!(copy.now() >= before + Duration::days(8));
        clock.advance(Duration::days(-30));
        assert!(copy.now() >= before + Duration::days(8), "never back");
    }
}
