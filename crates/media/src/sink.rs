//! Bounded frame channels: a source pushes with `try_send`, so a slow consumer makes frames
//! drop (counted) instead of memory grow or the capture thread stall.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// The sending half a source holds.
#[derive(Debug)]
pub struct FrameSink<T> {
    tx: SyncSender<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for FrameSink<T> {
    fn clone(&self) -> Self {
        FrameSink {
            tx: self.tx.clone(),
            dropped: Arc::clone(&self.dropped),
        }
    }
}

/// Why a push did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The consumer is behind; this frame was dropped.
    Full,
    /// The consumer is gone; the source should stop.
    Closed,
}

impl<T> FrameSink<T> {
    /// Offers a frame; never blocks.
    pub fn push(&self, frame: T) -> Result<(), PushError> {
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(PushError::Full)
            }
            Err(TrySendError::Disconnected(_)) => Err(PushError::Closed),
        }
    }

    /// Frames dropped so far because the consumer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A channel holding at most `capacity` frames.
pub fn frame_channel<T>(capacity: usize) -> (FrameSink<T>, Receiver<T>) {
    let (tx, rx) = sync_channel(capacity.max(1));
    (
        FrameSink {
            tx,
            dropped: Arc::default(),
        },
        rx,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_consumer_drops_frames_instead_of_buffering() {
        let (sink, rx) = frame_channel(2);
        assert_eq!(sink.push(1), Ok(()));
        assert_eq!(sink.push(2), Ok(()));
        assert_eq!(sink.push(3), Err(PushError::Full));
        assert_eq!(sink.dropped(), 1);
        assert_eq!(rx.recv().ok(), Some(1));
        drop(rx);
        assert_eq!(sink.push(4), Err(PushError::Closed));
    }
}
