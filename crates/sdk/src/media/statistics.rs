//! Shaping onStatistics the way TRTC reports it.

use trtc_protocol::events::TrtcRemoteStatistics;

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
