//! onStatistics: counters of the local encoders, the publisher and the subscriber turned into
//! TRTC's `TRTCStatistics`, shaped the way TRTC reports it.

use super::{lock, Controller, STATS_INTERVAL};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use trtc_protocol::events::{TrtcLocalStatistics, TrtcRemoteStatistics, TrtcStatistics};
use trtc_protocol::{StreamKind, TrtcEvent};

impl Controller {
    /// onStatistics, every STATS_INTERVAL; also hands each encoder its share of the
    /// congestion estimate, which moves at the same pace.
    pub(super) fn statistics(&mut self) {
        let secs = STATS_INTERVAL.as_secs_f64();
        let mut local = Vec::new();
        let mut sent_total = 0;
        for kind in [StreamKind::Big, StreamKind::Sub] {
            let Some(c) = self.local(kind).map(|s| Arc::clone(&s.control)) else {
                continue;
            };
            let (frames, bytes) = (
                c.frames.load(Ordering::Relaxed),
                c.bytes.load(Ordering::Relaxed),
            );
            let (pf, pb) = self
                .last_local
                .insert(kind, (frames, bytes))
                .unwrap_or((0, 0));
            let audio = if kind == StreamKind::Big {
                self.mic.as_ref()
            } else {
                None
            };
            local.push(TrtcLocalStatistics {
                stream_type: kind.stream_type(),
                width: c.width.load(Ordering::Relaxed),
                height: c.height.load(Ordering::Relaxed),
                frame_rate: (frames.saturating_sub(pf) as f64 / secs).round() as u32,
                video_bitrate: (bytes.saturating_sub(pb) as f64 * 8.0 / secs / 1000.0).round()
                    as u32,
                audio_sample_rate: if audio.is_some() { 48_000 } else { 0 },
                audio_bitrate: audio.map_or(0, |a| {
                    (a.control.bitrate_bps.load(Ordering::Relaxed) / 1000) as u32
                }),
            });
        }
        if let Some(p) = &self.publisher {
            sent_total = StreamKind::ALL.iter().map(|k| p.bytes_sent(*k)).sum();
            // Share the congestion estimate: audio first, the screen before the camera.
            let mut left = p.target_bps.load(Ordering::Relaxed).saturating_sub(64_000);
            for kind in [StreamKind::Sub, StreamKind::Big] {
                if let Some(s) = self.local(kind) {
                    let want = s.control.bitrate_bps.load(Ordering::Relaxed).max(1);
                    let share = if kind == StreamKind::Sub && self.camera.is_some() {
                        left * 6 / 10
                    } else {
                        left
                    };
                    s.control
                        .estimate_bps
                        .store(share.max(1), Ordering::Relaxed);
                    left = left.saturating_sub(share.min(want));
                }
            }
        }
        let mut remote = Vec::new();
        let mut remote_audio = Vec::new();
        let mut received_total = 0;
        let (mut lost_total, mut packets_total) = (0u64, 0u64);
        let counters = self
            .subscriber
            .as_ref()
            .map(|s| s.counters())
            .unwrap_or_default();
        {
            let r = lock(&self.remotes);
            for ((user, kind), c) in &counters {
                received_total += c.bytes;
                lost_total += c.lost;
                packets_total += c.packets + c.lost;
                let prev = self
                    .last_bytes
                    .insert((user.clone(), *kind), c.bytes)
                    .unwrap_or(0);
                let kbps =
                    (c.bytes.saturating_sub(prev) as f64 * 8.0 / secs / 1000.0).round() as u32;
                let loss = (c.lost * 100).checked_div(c.packets + c.lost).unwrap_or(0) as u32;
                let Some(stream) = r.streams.get(&(user.clone(), *kind)) else {
                    continue;
                };
                let st = &stream.stats;
                let frames = st.frames.load(Ordering::Relaxed);
                let prev_frames = self
                    .last_frames
                    .insert((user.clone(), *kind), frames)
                    .unwrap_or(0);
                let frame_rate = (frames.saturating_sub(prev_frames) as f64 / secs).round() as u32;
                if kind.is_video() {
                    remote.push(TrtcRemoteStatistics {
                        user_id: user.clone(),
                        stream_type: kind.stream_type(),
                        width: st.width.load(Ordering::Relaxed),
                        height: st.height.load(Ordering::Relaxed),
                        frame_rate,
                        video_bitrate: kbps,
                        video_packet_loss: loss,
                        point2_point_delay: st.take_mean_delay_ms(),
                        decoded_frames: st.frames.load(Ordering::Relaxed),
                        ..Default::default()
                    });
                } else {
                    remote_audio.push(TrtcRemoteStatistics {
                        user_id: user.clone(),
                        stream_type: 0,
                        audio_bitrate: kbps,
                        audio_packet_loss: loss,
                        point2_point_delay: st.take_mean_delay_ms(),
                        decoded_frames: st.frames.load(Ordering::Relaxed),
                        ..Default::default()
                    });
                }
            }
        }
        let remote = merge_audio_into_big(remote, remote_audio);
        let down_loss = (lost_total * 100).checked_div(packets_total).unwrap_or(0) as u32;
        self.emit(TrtcEvent::Statistics(TrtcStatistics {
            rtt: self.rtt_ms.load(Ordering::Relaxed),
            up_loss: 0,
            down_loss,
            sent_bytes: sent_total,
            received_bytes: received_total,
            local_statistics_array: local,
            remote_statistics_array: remote,
        }));
    }
}

/// TRTC reports one entry per user and stream type, and a user's audio belongs to the big
/// stream's entry (`audioBitrate` beside `videoBitrate`). The controller measures audio and
/// video apart; this folds each user's audio figures into that user's big-stream entry
/// (keeping the video's delay and decoded frames), keeps audio-only users as entries of their
/// own, and sorts by user, then stream type.
pub(crate) fn merge_audio_into_big(
    mut video: Vec<TrtcRemoteStatistics>,
    audio: Vec<TrtcRemoteStatistics>,
) -> Vec<TrtcRemoteStatistics> {
    for a in audio {
        match video
            .iter_mut()
            .find(|v| v.user_id == a.user_id && v.stream_type == 0)
        {
            Some(v) => {
                v.audio_bitrate = a.audio_bitrate;
                v.audio_packet_loss = a.audio_packet_loss;
                v.jitter_buffer_delay = v.jitter_buffer_delay.max(a.jitter_buffer_delay);
            }
            None => video.push(a),
        }
    }
    video.sort_by(|a, b| (&a.user_id, a.stream_type).cmp(&(&b.user_id, b.stream_type)));
    video
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(user: &str, stream_type: u8) -> TrtcRemoteStatistics {
        TrtcRemoteStatistics {
            user_id: user.into(),
            stream_type,
            width: 640,
            height: 360,
            video_bitrate: 500,
            point2_point_delay: 20,
            ..Default::default()
        }
    }

    fn audio(user: &str) -> TrtcRemoteStatistics {
        TrtcRemoteStatistics {
            user_id: user.into(),
            audio_bitrate: 50,
            audio_packet_loss: 3,
            point2_point_delay: 40,
            ..Default::default()
        }
    }

    #[test]
    fn a_users_audio_joins_the_big_stream_entry_whatever_the_order() {
        for (v, a) in [
            (
                vec![video("b", 0), video("b", 2)],
                vec![audio("b"), audio("a")],
            ),
            (
                vec![video("b", 2), video("b", 0)],
                vec![audio("a"), audio("b")],
            ),
        ] {
            let out = merge_audio_into_big(v, a);
            let keys: Vec<_> = out
                .iter()
                .map(|e| (e.user_id.as_str(), e.stream_type))
                .collect();
            assert_eq!(keys, [("a", 0), ("b", 0), ("b", 2)]);
            let b = &out[1];
            assert_eq!((b.width, b.video_bitrate, b.audio_bitrate), (640, 500, 50));
            assert_eq!((b.audio_packet_loss, b.point2_point_delay), (3, 20));
            assert_eq!(out[2].audio_bitrate, 0, "the screen has no audio");
            assert_eq!(
                out[0].audio_bitrate, 50,
                "audio-only users keep their entry"
            );
        }
    }
}
