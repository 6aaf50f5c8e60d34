//! What the unit tests share: a fixed start reading.

use credcycle_core::{MonoTime, Now, WallTime};

/// 2026-11-28T10:41:11Z.
pub(crate) const WALL_START: WallTime = WallTime::from_unix_secs(1_795_862_471);

pub(crate) fn start() -> Now {
    Now::new(MonoTime::from_millis(1_000), WALL_START)
}
