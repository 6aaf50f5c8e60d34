//! The client's clocks in the [`Harness`]: monotonic and wall advance together; the wall clock
//! alone steps (an NTP step) and is corrected.

use core::time::Duration;

use super::Harness;
use crate::input::Input;
use crate::oracle::Violation;
use crate::time::WallTime;

impl Harness {
    /// The true wall-clock time (the client's wall clock minus its skew).
    #[must_use]
    pub fn true_wall(&self) -> WallTime {
        self.now.wall.offset_millis(-self.skew_ms)
    }

    /// Sets the client's wall clock to the true time: the clocks agree again.
    pub fn correct_wall(&mut self) {
        self.now.wall = self.true_wall();
        self.skew_ms = 0;
    }

    /// Steps the client's wall clock alone by `ms` milliseconds, keeping it within two hours
    /// of the true time (an NTP step; [`correct_wall`](Self::correct_wall) undoes it).
    pub fn jump_wall(&mut self, ms: i64) {
        let skew = self.skew_ms.saturating_add(ms).clamp(-7_200_000, 7_200_000);
        self.now.wall = self.now.wall.offset_millis(skew - self.skew_ms);
        self.skew_ms = skew;
    }

    /// Moves both clocks forward by `d`, probing for a hand-out just before the end (the worst
    /// moment: the state is about to change, the credentials are at their oldest).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen by the probe.
    pub fn advance(&mut self, d: Duration) -> Result<(), Violation> {
        self.now = self.now.advance(d);
        self.probe().map(|_| ())
    }

    /// Moves to the machine's next deadline (if it is in the future) and ticks.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn wake_up(&mut self) -> Result<(), Violation> {
        if let Some(at) = self.machine.poll_timeout()
            && at > self.now.mono
        {
            self.advance(at.saturating_duration_since(self.now.mono))?;
        }
        self.input(Input::Tick)
    }
}
