//! TRTC's `enableAdjustRes` (big stream only): below what its resolution needs, the camera's
//! pictures are sent at half the width and height, and back at full size once the estimate
//! has room for it again.
//!
//! Without it, a link under the floor costs frame rate (`FramePace`: down to a fifth), and
//! each picture still spends the bits of the full size: at 300 kbps for 640x360 the call was
//! three pictures a second. A quarter of the pixels needs [`HALF_NEEDS`] of the bits (TRTC's
//! table recommends 250 kbps for 320x180, 550 for 640x360, 1,200 for 1280x720), so the same
//! link carries several times the frame rate at the smaller size.
//!
//! Stepping costs a keyframe (the encoder restarts at the new size), so it waits for the
//! estimate to stay on one side: [`DOWN_AFTER`] under the floor, [`UP_AFTER`] over the larger
//! size's floor with [`UP_MARGIN`] to spare (a step up that has to come straight back down is
//! two keyframes for nothing).

use std::time::{Duration, Instant};

/// A halving of both sides needs this share of the bitrate.
const HALF_NEEDS: f64 = 0.45;
const DOWN_AFTER: Duration = Duration::from_secs(2);
const UP_AFTER: Duration = Duration::from_secs(6);
const UP_MARGIN: f64 = 1.25;
/// Pictures are never made narrower than this: smaller, a face on a tile is no longer one,
/// and the frame rate gives instead.
const SMALLEST_WIDTH: usize = 320;

#[derive(Debug)]
pub(crate) struct ResolutionStep {
    /// How many halvings: 0 is the configured size.
    level: u32,
    max_level: u32,
    /// The configured size's floor, bps.
    floor_bps: u32,
    /// Since when the estimate has been on the side that would change the level.
    pressing_since: Option<Instant>,
}

impl ResolutionStep {
    /// For pictures `width` wide whose floor (where the frame rate starts to give) is
    /// `floor_bps`.
    pub(crate) fn new(width: usize, floor_bps: u32) -> Self {
        let mut max_level = 0;
        while (width >> (max_level + 1)) >= SMALLEST_WIDTH && max_level < 2 {
            max_level += 1;
        }
        ResolutionStep {
            level: 0,
            max_level,
            floor_bps,
            pressing_since: None,
        }
    }

    /// Halvings to apply to each picture.
    pub(crate) fn level(&self) -> u32 {
        self.level
    }

    /// The floor at `level`, bps.
    fn floor_at(&self, level: u32) -> f64 {
        f64::from(self.floor_bps) * HALF_NEEDS.powi(level as i32)
    }

    /// Follows one estimate; the floor of the level now in use, bps.
    pub(crate) fn follow(&mut self, now: Instant, estimate_bps: u64) -> u32 {
        let estimate = estimate_bps as f64;
        let down = self.level < self.max_level && estimate < self.floor_at(self.level);
        let up = self.level > 0 && estimate >= self.floor_at(self.level - 1) * UP_MARGIN;
        if down || up {
            let since = *self.pressing_since.get_or_insert(now);
            let wait = if down { DOWN_AFTER } else { UP_AFTER };
            if now.saturating_duration_since(since) >= wait {
                self.level = if down { self.level + 1 } else { self.level - 1 };
                self.pressing_since = None;
            }
        } else {
            self.pressing_since = None;
        }
        self.floor_at(self.level) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_shortfall_halves_the_picture_and_room_restores_it() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 640x360 with a 330 kbps floor.
        let mut step = ResolutionStep::new(640, 330_000);
        assert_eq!(step.follow(at(0), 600_000), 330_000);
        assert_eq!(step.follow(at(100), 200_000), 330_000, "not at once");
        assert_eq!(step.follow(at(1_000), 500_000), 330_000, "room again");
        step.follow(at(1_100), 200_000);
        assert_eq!(step.level(), 0);
        let floor = step.follow(at(3_200), 200_000);
        assert_eq!((step.level(), floor), (1, 148_500), "2 s under the floor");
        step.follow(at(6_000), 100_000);
        assert_eq!(step.level(), 1, "320 wide is as small as it gets");
        // 330 × 1.25 = 412 kbps for 6 s before the full size is back.
        step.follow(at(7_000), 450_000);
        step.follow(at(10_000), 350_000);
        step.follow(at(10_500), 450_000);
        step.follow(at(16_000), 450_000);
        assert_eq!(step.level(), 1, "the margin was not held for 6 s");
        step.follow(at(16_600), 450_000);
        assert_eq!(step.level(), 0);
    }

    #[test]
    fn wide_pictures_step_twice() {
        assert_eq!(ResolutionStep::new(1280, 700_000).max_level, 2);
        assert_eq!(ResolutionStep::new(480, 200_000).max_level, 0);
    }
}
