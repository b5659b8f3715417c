//! onStatistics from counter snapshots, and how the bandwidth estimate is shared.
//!
//! The shell reads every counter (encoders, the publisher and its congestion feedback, the
//! subscriber, the decoders, the playout buffer) into a [`Snapshot`]; every figure in a report
//! is the difference between two snapshots over the time between them, so nothing here is a
//! constant: a stream with no packets reads 0 kbps because none came.

use std::collections::HashMap;
use std::time::Instant;
use trtc_protocol::events::{TrtcEvent, TrtcLocalStatistics, TrtcRemoteStatistics, TrtcStatistics};
use trtc_protocol::StreamKind;
use trtc_rtc::client::{PublisherStats, ReceiveCounters};

/// One local encoder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LocalCounters {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    /// Audio: the sample rate the source delivers, Hz.
    pub sample_rate: u32,
}

/// One remote decoder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DecodeCounters {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    /// Capture-to-decode delays: their sum, how many, the latest.
    pub delay_sum_ms: u64,
    pub delay_count: u64,
    pub last_delay_ms: u32,
}

/// Every counter at one instant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub local: HashMap<StreamKind, LocalCounters>,
    pub publisher: Option<PublisherStats>,
    pub subscriber: HashMap<(String, StreamKind), ReceiveCounters>,
    pub decoders: HashMap<(String, StreamKind), DecodeCounters>,
    /// Audio queued for playout per user, ms (only while a speaker plays).
    pub audio_queued_ms: HashMap<String, u32>,
}

/// The report cadence and the snapshot the next report is measured from.
#[derive(Debug, Default)]
pub(super) struct Statistics {
    base: Option<(Instant, Snapshot)>,
    /// The last heartbeat's round trip (`None` before the first; on loopback it may be 0 ms).
    pub rtt_ms: Option<u32>,
}

/// The round trip to the server: the media path's (RTCP sender and receiver reports) while we
/// publish and the server has answered, else the signalling heartbeat's. The media path's is the
/// one the pictures and the sound take; a receive-only member sends no sender reports, and its
/// heartbeat goes to the same server.
pub(super) fn round_trip(snap: &Snapshot, heartbeat_ms: Option<u32>) -> Option<u32> {
    snap.publisher
        .as_ref()
        .and_then(|p| p.rtt_ms)
        .or(heartbeat_ms)
}

fn kbps(bytes: u64, secs: f64) -> u32 {
    (bytes as f64 * 8.0 / secs / 1000.0).round() as u32
}

fn per_second(n: u64, secs: f64) -> u32 {
    (n as f64 / secs).round() as u32
}

fn percent(part: u64, whole: u64) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0) as u32
}

impl Statistics {
    pub(super) fn reset(&mut self) {
        self.base = None;
    }

    /// onStatistics and onNetworkQuality once [`super::STATS_INTERVAL`] has passed since the
    /// last (the first ones cover a full interval from the first snapshot in the room).
    pub(super) fn report(
        &mut self,
        now: Instant,
        snap: &Snapshot,
        speaker_on: bool,
        quality: &super::quality::Context,
    ) -> Option<[TrtcEvent; 2]> {
        let Some((since, base)) = &self.base else {
            self.base = Some((now, snap.clone()));
            return None;
        };
        let elapsed = now.duration_since(*since);
        if elapsed < super::STATS_INTERVAL {
            return None;
        }
        let rtt = round_trip(snap, self.rtt_ms).unwrap_or(0);
        let report = measure(elapsed.as_secs_f64(), base, snap, speaker_on, rtt);
        let (local_quality, remote_quality) = super::quality::measure(base, snap, quality);
        self.base = Some((now, snap.clone()));
        Some([
            TrtcEvent::Statistics(report),
            TrtcEvent::NetworkQuality {
                local_quality,
                remote_quality,
            },
        ])
    }
}

fn measure(
    secs: f64,
    base: &Snapshot,
    snap: &Snapshot,
    speaker_on: bool,
    rtt: u32,
) -> TrtcStatistics {
    let empty = PublisherStats::default();
    let (pub_now, pub_then) = (
        snap.publisher.as_ref().unwrap_or(&empty),
        base.publisher.as_ref().unwrap_or(&empty),
    );
    let sent = |kind: StreamKind| {
        let now = pub_now.sent.get(&kind).map_or(0, |c| c.bytes);
        let then = pub_then.sent.get(&kind).map_or(0, |c| c.bytes);
        now.saturating_sub(then)
    };
    let mut local = vec![];
    let mic = snap.local.get(&StreamKind::Audio);
    for kind in [StreamKind::Big, StreamKind::Sub] {
        let video = snap.local.get(&kind);
        let audio = if kind == StreamKind::Big { mic } else { None };
        if video.is_none() && audio.is_none() {
            continue;
        }
        let v = video.copied().unwrap_or_default();
        let frames = v
            .frames
            .saturating_sub(base.local.get(&kind).map_or(0, |c| c.frames));
        local.push(TrtcLocalStatistics {
            stream_type: kind.stream_type(),
            width: v.width,
            height: v.height,
            frame_rate: per_second(frames, secs),
            video_bitrate: if video.is_some() {
                kbps(sent(kind), secs)
            } else {
                0
            },
            audio_sample_rate: audio.map_or(0, |a| a.sample_rate),
            audio_bitrate: audio.map_or(0, |_| kbps(sent(StreamKind::Audio), secs)),
        });
    }
    let lost = pub_now.feedback_lost.saturating_sub(pub_then.feedback_lost);
    let got = pub_now
        .feedback_received
        .saturating_sub(pub_then.feedback_received);

    let mut video = vec![];
    let mut audio = vec![];
    let (mut lost_total, mut expected_total, mut received_total) = (0, 0, 0);
    for (key, c) in &snap.subscriber {
        let then = base.subscriber.get(key).copied().unwrap_or_default();
        received_total += c.bytes;
        let d_lost = c.lost.saturating_sub(then.lost);
        let d_packets = c.packets.saturating_sub(then.packets);
        lost_total += d_lost;
        expected_total += d_lost + d_packets;
        let Some(dec) = snap.decoders.get(key) else {
            continue;
        };
        let dec_then = base.decoders.get(key).copied().unwrap_or_default();
        let n = dec.delay_count.saturating_sub(dec_then.delay_count);
        let delay = dec
            .delay_sum_ms
            .saturating_sub(dec_then.delay_sum_ms)
            .checked_div(n)
            .map_or(dec.last_delay_ms, |d| d as u32);
        let held = c
            .held_us
            .saturating_sub(then.held_us)
            .checked_div(c.units.saturating_sub(then.units))
            .unwrap_or(0);
        let (user, kind) = key;
        let entry = TrtcRemoteStatistics {
            user_id: user.clone(),
            stream_type: kind.stream_type(),
            point2_point_delay: delay,
            decoded_frames: dec.frames,
            ..Default::default()
        };
        let kbps = kbps(c.bytes.saturating_sub(then.bytes), secs);
        let loss = percent(d_lost, d_lost + d_packets);
        if kind.is_video() {
            video.push(TrtcRemoteStatistics {
                width: dec.width,
                height: dec.height,
                frame_rate: per_second(dec.frames.saturating_sub(dec_then.frames), secs),
                video_bitrate: kbps,
                video_packet_loss: loss,
                jitter_buffer_delay: (held / 1000) as u32,
                ..entry
            });
        } else {
            // Audio waits in the playout buffer, which exists only while a speaker plays.
            let queued = if speaker_on {
                snap.audio_queued_ms.get(user).copied().unwrap_or(0)
            } else {
                0
            };
            audio.push(TrtcRemoteStatistics {
                audio_bitrate: kbps,
                audio_packet_loss: loss,
                jitter_buffer_delay: queued,
                ..entry
            });
        }
    }
    TrtcStatistics {
        rtt,
        up_loss: percent(lost, lost + got),
        down_loss: percent(lost_total, expected_total),
        sent_bytes: pub_now.sent.values().map(|c| c.bytes).sum(),
        received_bytes: received_total,
        local_statistics_array: local,
        remote_statistics_array: merge_audio_into_big(video, audio),
    }
}

/// TRTC reports one entry per user and stream type, and a user's audio belongs to the big
/// stream's entry (`audioBitrate` beside `videoBitrate`). Audio and video are measured apart;
/// this folds each user's audio figures into that user's big-stream entry (keeping the video's
/// delay and decoded frames), keeps audio-only users as entries of their own, and sorts by
/// user, then stream type.
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

/// The way up's recent loss, for the audio encoder's in-band FEC: each snapshot's share of
/// packets the server's feedback reported lost, followed quickly when it rises (the next
/// packets need the copies now) and slowly when it falls (loss comes back in waves). The
/// encoder is told only when the figure moves by a couple of points.
#[derive(Debug, Default)]
pub(super) struct UplinkLoss {
    /// Feedback counters (received, lost) at the last snapshot.
    last: (u64, u64),
    percent: f64,
    told: Option<u8>,
}

impl UplinkLoss {
    /// Too few reports in a snapshot say nothing about the share lost.
    const MIN_REPORTS: u64 = 10;
    /// Past this, more FEC only takes bitrate from the frames themselves.
    const MAX_PERCENT: f64 = 30.0;

    /// The loss the encoder should now expect, when it should be told.
    pub(super) fn update(&mut self, received: u64, lost: u64) -> Option<u8> {
        let (got, gone) = (
            received.saturating_sub(self.last.0),
            lost.saturating_sub(self.last.1),
        );
        self.last = (received, lost);
        if got + gone < Self::MIN_REPORTS {
            return None;
        }
        let now = 100.0 * gone as f64 / (got + gone) as f64;
        let weight = if now > self.percent { 0.5 } else { 0.1 };
        self.percent += (now - self.percent) * weight;
        let percent = self.percent.min(Self::MAX_PERCENT).round() as u8;
        let moved = self.told.is_none_or(|t| t.abs_diff(percent) >= 2);
        moved.then(|| {
            self.told = Some(percent);
            percent
        })
    }
}

/// Shares the congestion estimate among the running video encoders (each with the bitrate it
/// is configured for): audio is served first (64 kbps off the top), the screen before the
/// camera, and the screen leaves the camera 40 % when both run. Returns each encoder's target.
pub(crate) fn share_bandwidth(
    target_bps: u64,
    encoders: &[(StreamKind, u64)],
) -> Vec<(StreamKind, u64)> {
    let camera = encoders.iter().any(|(k, _)| *k == StreamKind::Big);
    let mut left = target_bps.saturating_sub(64_000);
    let mut out = vec![];
    for kind in [StreamKind::Sub, StreamKind::Big] {
        let Some(&(_, want)) = encoders.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        let share = if kind == StreamKind::Sub && camera {
            left * 6 / 10
        } else {
            left
        };
        out.push((kind, share.max(1)));
        left = left.saturating_sub(share.min(want));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_encoder_learns_the_uplink_loss_fast_and_forgets_it_slowly() {
        let mut loss = UplinkLoss::default();
        let (mut got, mut lost) = (0, 0);
        let mut step = |g: u64, l: u64| {
            got += g;
            lost += l;
            loss.update(got, lost)
        };
        assert_eq!(step(100, 0), Some(0), "a clean start is said once");
        assert_eq!(step(100, 0), None, "and not again");
        assert_eq!(step(90, 10), Some(5), "10 % lost: half of it at once");
        assert_eq!(step(90, 10), Some(8));
        assert_eq!(step(3, 3), None, "six reports say nothing");
        let mut told = vec![];
        for _ in 0..10 {
            told.extend(step(100, 0));
        }
        assert!(
            told.windows(2).all(|w| w[1] < w[0]) && told.len() >= 2,
            "falls back step by step: {told:?}"
        );
        assert!(*told.last().unwrap() <= 4, "{told:?}");
    }

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

    #[test]
    fn the_screen_is_served_before_the_camera() {
        let both = [(StreamKind::Sub, 1_600_000), (StreamKind::Big, 900_000)];
        assert_eq!(
            share_bandwidth(1_064_000, &both),
            [(StreamKind::Sub, 600_000), (StreamKind::Big, 400_000)]
        );
        assert_eq!(
            share_bandwidth(3_064_000, &both),
            [(StreamKind::Sub, 1_800_000), (StreamKind::Big, 1_400_000)],
            "plenty: the camera gets what the screen does not use"
        );
        assert_eq!(
            share_bandwidth(500_000, &[(StreamKind::Big, 900_000)]),
            [(StreamKind::Big, 436_000)],
            "audio first"
        );
        assert_eq!(
            share_bandwidth(10_000, &[(StreamKind::Big, 1)]),
            [(StreamKind::Big, 1)]
        );
    }

    #[test]
    fn the_round_trip_is_the_media_paths_once_measured() {
        let mut snap = Snapshot::default();
        assert_eq!(round_trip(&snap, None), None);
        assert_eq!(
            round_trip(&snap, Some(3)),
            Some(3),
            "receive-only: the heartbeat's"
        );
        snap.publisher = Some(PublisherStats::default());
        assert_eq!(
            round_trip(&snap, Some(3)),
            Some(3),
            "no report answered yet"
        );
        snap.publisher = Some(PublisherStats {
            rtt_ms: Some(210),
            ..Default::default()
        });
        assert_eq!(round_trip(&snap, Some(3)), Some(210));
    }

    #[test]
    fn figures_are_differences_over_the_interval() {
        use trtc_rtc::client::SentCounters;
        let key = ("b".to_string(), StreamKind::Big);
        let mut a = Snapshot::default();
        a.local.insert(
            StreamKind::Audio,
            LocalCounters {
                sample_rate: 48_000,
                ..Default::default()
            },
        );
        a.publisher = Some(PublisherStats {
            sent: [(
                StreamKind::Audio,
                SentCounters {
                    bytes: 1000,
                    packets: 10,
                },
            )]
            .into(),
            feedback_received: 100,
            feedback_lost: 0,
            ..Default::default()
        });
        a.subscriber.insert(
            key.clone(),
            ReceiveCounters {
                bytes: 0,
                packets: 100,
                ..Default::default()
            },
        );
        a.decoders.insert(
            key.clone(),
            DecodeCounters {
                frames: 10,
                delay_sum_ms: 100,
                delay_count: 10,
                ..Default::default()
            },
        );
        let mut b = a.clone();
        b.publisher = Some(PublisherStats {
            sent: [(
                StreamKind::Audio,
                SentCounters {
                    bytes: 13_500,
                    packets: 110,
                },
            )]
            .into(),
            feedback_received: 195,
            feedback_lost: 5,
            ..Default::default()
        });
        b.subscriber.insert(
            key.clone(),
            ReceiveCounters {
                bytes: 125_000,
                packets: 190,
                lost: 10,
                units: 60,
                held_us: 600_000,
                ..Default::default()
            },
        );
        b.decoders.insert(
            key.clone(),
            DecodeCounters {
                frames: 40,
                width: 640,
                height: 360,
                delay_sum_ms: 100 + 30 * 25,
                delay_count: 40,
                last_delay_ms: 30,
            },
        );
        let r = measure(2.0, &a, &b, false, 7);
        assert_eq!(r.up_loss, 5, "5 of 100 reported packets lost");
        assert_eq!(r.down_loss, 10, "10 lost of 10 + 90");
        assert_eq!(r.rtt, 7);
        let l = &r.local_statistics_array[0];
        assert_eq!(
            (l.audio_sample_rate, l.audio_bitrate),
            (48_000, 50),
            "12 500 bytes in 2 s"
        );
        let v = &r.remote_statistics_array[0];
        assert_eq!(
            (v.video_bitrate, v.frame_rate, v.video_packet_loss),
            (500, 15, 10)
        );
        assert_eq!((v.point2_point_delay, v.jitter_buffer_delay), (25, 10));
    }
}
