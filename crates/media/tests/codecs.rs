//! Codecs on synthetic media: what goes in comes out — stamps readable and in order after
//! H.264, the tone's frequency after Opus — and garbage never panics a decoder.

use trtc_media::analysis::{dominant_frequency, rms};
use trtc_media::codec::h264::{ContentHint, H264Config, H264Decoder, H264Encoder};
use trtc_media::codec::opus::{frame_samples, OpusDecoder, OpusEncoder};
use trtc_media::params::{TrtcAudioQuality, TrtcVideoEncParam, TrtcVideoResolution};
use trtc_media::stamp;
use trtc_media::synthetic::{SyntheticAudio, SyntheticVideo};
use trtc_media::AudioFrame;

fn param(res: TrtcVideoResolution, fps: u32) -> TrtcVideoEncParam {
    TrtcVideoEncParam {
        video_resolution: res,
        video_fps: fps,
        video_bitrate: res.recommended_kbps(false),
        ..Default::default()
    }
}

#[test]
fn h264_keeps_stamps_in_order_and_keyframes_on_request() {
    for (res, content) in [
        (TrtcVideoResolution::R640x360, ContentHint::Camera),
        (TrtcVideoResolution::R1280x720, ContentHint::Screen),
    ] {
        let p = param(res, 15);
        let (w, h) = p.encoded_size();
        let mut enc = H264Encoder::new(H264Config::from_trtc(&p, content)).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        let mut counters = vec![];
        let mut keyframes = vec![];
        let mut bytes = 0usize;
        for i in 0..75u32 {
            if i == 20 {
                enc.request_keyframe();
            }
            let t = 1_764_000_000_000_000 + u64::from(i) * 66_666;
            let frame = SyntheticVideo::draw(w, h, i, t);
            let encoded = enc.encode(&frame).unwrap().expect("frame skipping is off");
            if encoded.keyframe {
                keyframes.push(i);
            }
            bytes += encoded.data.len();
            let decoded = dec
                .decode(&encoded.data, encoded.capture_time_us)
                .unwrap()
                .expect("one frame in, one out");
            assert_eq!((decoded.width, decoded.height), (w, h));
            let s = stamp::read(&decoded)
                .unwrap_or_else(|| panic!("stamp unreadable in frame {i} ({res:?})"));
            assert_eq!(s.capture_time_us, t);
            counters.push(s.counter);
        }
        assert_eq!(counters, (0..75).collect::<Vec<_>>());
        // A keyframe first, one on request, and no other within five seconds: the periodic
        // one is a safety net ten seconds apart (whoever needs one asks).
        assert_eq!(keyframes, [0, 20], "{res:?}");
        // Five seconds at 15 fps: the rate control lands near the target, not several times over.
        let kbps = bytes as f64 * 8.0 / 5.0 / 1000.0;
        let target = f64::from(p.video_bitrate);
        assert!(
            kbps < target * 2.0,
            "{res:?}: {kbps:.0} kbps for a {target} kbps target"
        );
    }
}

/// The encoder follows a new target at once and without a keyframe: a sender can track every
/// congestion estimate without a picture of keyframe cost each time.
#[test]
fn h264_bitrate_changes_take_effect_without_a_keyframe() {
    let p = param(TrtcVideoResolution::R640x360, 15);
    // A keyframe every 2 s, so each window starts as far from one as the others: OpenH264
    // spends the pictures after a keyframe refining it, whatever the target.
    let config = H264Config {
        keyframe_interval: 30,
        ..H264Config::from_trtc(&p, ContentHint::Camera)
    };
    let mut enc = H264Encoder::new(config).unwrap();
    let (w, h) = p.encoded_size();
    // Every frame in order (the encoder counts them for its periodic keyframes); each window
    // is frames `from..from + 25`, between the periodic keyframes at 0, 30, 60 …: its bytes,
    // and whether any of its frames was a keyframe.
    let mut next = 0;
    let mut window = |enc: &mut H264Encoder, from: u32| -> (usize, bool) {
        let (mut bytes, mut keyframe) = (0, false);
        while next < from + 25 {
            let e = enc.encode(&SyntheticVideo::draw(w, h, next, 0)).unwrap();
            if let Some(e) = e.filter(|_| next >= from) {
                bytes += e.data.len();
                keyframe |= e.keyframe;
            }
            next += 1;
        }
        (bytes, keyframe)
    };
    let (high, _) = window(&mut enc, 5);
    enc.set_bitrate(120_000);
    let (low, low_key) = window(&mut enc, 35);
    enc.set_bitrate(p.video_bitrate * 1000);
    let (back, back_key) = window(&mut enc, 65);
    assert!(
        low * 2 < high,
        "lowering the bitrate shrank the stream: {high} → {low} bytes"
    );
    assert!(
        back > low * 2,
        "raising it again grew the stream: {high} → {low} → {back} bytes"
    );
    assert!(
        !low_key && !back_key,
        "a change of bitrate forced a keyframe"
    );
}

#[test]
fn h264_decoder_survives_garbage() {
    let mut dec = H264Decoder::new().unwrap();
    let mut seed = 7u32;
    for len in [0usize, 1, 4, 5, 100, 5000] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        let _ = dec.decode(&junk, 0);
        let mut with_start_code = vec![0, 0, 0, 1, 0x65];
        with_start_code.extend(&junk);
        let _ = dec.decode(&with_start_code, 0);
    }
}

#[test]
fn opus_keeps_the_tone_at_every_quality() {
    for quality in [
        TrtcAudioQuality::Speech,
        TrtcAudioQuality::Default,
        TrtcAudioQuality::Music,
    ] {
        let mut enc = OpusEncoder::new(quality).unwrap();
        let (rate, ch) = enc.format();
        let mut dec = OpusDecoder::new(rate, ch).unwrap();
        let mut out = vec![];
        let mut bytes = 0;
        for i in 0..50u64 {
            let frame = tone_frame(rate, ch, i);
            assert_eq!(frame.samples.len(), frame_samples(rate) * usize::from(ch));
            let packet = enc.encode(&frame).unwrap();
            bytes += packet.len();
            let pcm = dec.decode(&packet, 0).unwrap();
            // Keep the left channel only.
            out.extend(pcm.samples.iter().step_by(usize::from(ch)));
        }
        let steady = &out[out.len() / 2..];
        let f = dominant_frequency(steady, rate, 100, 2000).unwrap();
        assert!((435..=445).contains(&f), "{quality:?}: heard {f} Hz");
        let (_, _, bps) = quality.format();
        let got = bytes as f64 * 8.0 / 1.0;
        assert!(
            got < f64::from(bps) * 1.5,
            "{quality:?}: {got} bps for {bps}"
        );
    }
}

#[test]
fn opus_refuses_a_frame_of_the_wrong_shape() {
    let mut enc = OpusEncoder::new(TrtcAudioQuality::Default).unwrap();
    let ten_ms = SyntheticAudio::tone(440.0, 48_000, 1, 0, 0);
    assert!(enc.encode(&ten_ms).is_err());
}

/// 20 ms of the 440 Hz tone (two of the synthetic source's 10 ms frames), the `i`-th since it
/// started.
fn tone_frame(rate: u32, ch: u16, i: u64) -> AudioFrame {
    let a = SyntheticAudio::tone(440.0, rate, ch, 2 * i, 0);
    let b = SyntheticAudio::tone(440.0, rate, ch, 2 * i + 1, 0);
    AudioFrame {
        samples: [a.samples, b.samples].concat(),
        ..a
    }
}

#[test]
fn opus_fills_lost_packets_in_so_the_tone_goes_on() {
    let mut enc = OpusEncoder::new(TrtcAudioQuality::Default).unwrap();
    enc.expect_loss(10).unwrap();
    let (rate, ch) = enc.format();
    let packets: Vec<Vec<u8>> = (0..100)
        .map(|i| enc.encode(&tone_frame(rate, ch, i)).unwrap())
        .collect();
    // Stamped from the capture clock, as our senders do: up to ~1 ms off the 20 ms grid.
    let ts = |i: usize| (i * 960 + (i * 37) % 41) as u32;
    let mut dec = OpusDecoder::new(rate, ch).unwrap();
    let mut frames = vec![];
    for (i, p) in packets.iter().enumerate() {
        // One in ten lost, and once two in a row.
        if i % 10 == 5 || i == 56 {
            continue;
        }
        let got = dec.receive(ts(i), p, 0).unwrap();
        assert!(!got.late);
        frames.extend(got.frames);
    }
    assert_eq!(frames.len(), 100, "every 20 ms has a frame");
    assert_eq!(dec.concealed(), 11);
    // Past the codec's start, every frame carries the tone, filled-in ones included: in full
    // for a lone loss; two in a row fade (a steady tone carries no FEC, see `expect_loss`)
    // but never break off.
    for (i, f) in frames.iter().enumerate().skip(5) {
        let left: Vec<i16> = f.samples.iter().step_by(usize::from(ch)).copied().collect();
        let least = if i == 56 { 0.05 } else { 0.15 };
        assert!(rms(&left) > least, "frame {i}: rms {}", rms(&left));
    }

    // A packet after its place was filled is dropped; one after a long pause (a muted sender)
    // plays at once, nothing made up before it.
    let late = dec.receive(ts(55), &packets[55], 0).unwrap();
    assert!(late.late && late.frames.is_empty());
    let resumed = dec.receive(ts(99 + 50), &packets[99], 0).unwrap();
    assert_eq!(resumed.frames.len(), 1);
}
