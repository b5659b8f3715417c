//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): what the network hands
//! this crate, driven with arbitrary bytes. Each must return, whatever the bytes.

use crate::client::assembler::Assembler;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::shared::marshal::Unmarshal;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trtc_protocol::rtp::StreamKind;

/// A remote party's SDP as the server's negotiation reads it: our ICE-ufrag and advertising
/// helpers, then the library's parse of it as an offer and as an answer.
pub fn sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::setup::ice_ufrag(text);
    let _ = crate::setup::advertise(text, Some([203, 0, 113, 7].into()));
    let _ = RTCSessionDescription::offer(text.to_owned());
    let _ = RTCSessionDescription::answer(text.to_owned());
}

/// RTP packets (each prefixed by a length byte and a time step) through the depacketiser and
/// the reassembler of a video and an audio stream.
pub fn rtp_reassembly(mut data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut video = Assembler::new(Arc::from("fuzz"), StreamKind::Big);
    let mut audio = Assembler::new(Arc::from("fuzz"), StreamKind::Audio);
    let deliver = |_frame: crate::client::RemoteFrame| {};
    while data.len() >= 2 {
        let (len, step) = (usize::from(data[0]), data[1]);
        data = &data[2..];
        let take = len.min(data.len());
        let (mut raw, rest) = data.split_at(take);
        data = rest;
        now += Duration::from_millis(u64::from(step));
        let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut raw) else {
            continue;
        };
        let target = if step % 2 == 0 {
            &mut video
        } else {
            &mut audio
        };
        target.push(&packet, now, &deliver);
    }
}
