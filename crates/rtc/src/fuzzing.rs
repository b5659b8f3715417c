//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): what the network hands
//! this crate, driven with arbitrary bytes. Each must return, whatever the bytes.

use crate::client::assembler::Assembler;
use crate::setup::Flow;
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

/// Datagrams (each prefixed by a length byte and a time step) as a media lane routes them (the
/// STUN ufrag reader) and, as RTP, through the depacketiser and the reassembler of a video and
/// an audio stream.
pub fn rtp_reassembly(mut data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut video = Assembler::new(Arc::from("fuzz"), StreamKind::Big);
    let mut audio = Assembler::new(Arc::from("fuzz"), StreamKind::Audio);
    // A jittery path's wait, so audio is held and reordered too.
    audio.set_audio_wait(20.0);
    let deliver = |_frame: crate::client::RemoteFrame| {};
    while data.len() >= 2 {
        let (len, step) = (usize::from(data[0]), data[1]);
        data = &data[2..];
        let take = len.min(data.len());
        let (mut raw, rest) = data.split_at(take);
        data = rest;
        now += Duration::from_millis(u64::from(step));
        if let Some(ufrag) = crate::sfu::driver::wire::stun_ufrag(raw) {
            assert!(
                ufrag.len() < raw.len(),
                "a ufrag is read from inside the datagram"
            );
        }
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

/// How far an input got through [`negotiation`]: a fuzzer that only ever reaches `Refused`
/// is testing the parser, not the negotiation (the unit tests hold it to real SDP).
#[derive(Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// Not applied: not UTF-8, not SDP, or refused by the connection.
    Refused,
    /// A publisher's offer applied and answered.
    Answered,
    /// A subscriber's answer applied and a later publisher's track offered on top.
    Renegotiated,
}

/// A client's SDP through the negotiation the server runs, on the same peer connection (codecs,
/// interceptors, ICE settings; the library's sans-I/O core that the server's connections
/// drive). The first byte picks the side:
/// - even: a publisher's offer, which the server applies and answers, then advertises;
/// - odd: a subscriber's answer to the server's offer of forwarded tracks (the byte's bits pick
///   which), after which a later publisher's track is offered again, as the server renegotiates.
pub fn negotiation(data: &[u8]) -> Negotiated {
    let Some((&mode, rest)) = data.split_first() else {
        return Negotiated::Refused;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return Negotiated::Refused;
    };
    let now = Instant::now();
    let flow = if mode % 2 == 0 {
        Flow::Receives
    } else {
        Flow::Sends
    };
    let Some(mut pc) = server_connection(now, flow) else {
        return Negotiated::Refused;
    };
    if mode % 2 == 0 {
        let Ok(offer) = RTCSessionDescription::offer(text.to_owned()) else {
            return Negotiated::Refused;
        };
        if pc.set_remote_description(now, offer).is_err() {
            return Negotiated::Refused;
        }
        let Ok(answer) = pc.create_answer(None) else {
            return Negotiated::Refused;
        };
        let sdp = answer.sdp.clone();
        if pc.set_local_description(now, answer).is_err() {
            return Negotiated::Refused;
        }
        let _ = crate::setup::advertise(&sdp, Some([203, 0, 113, 7].into()));
        return Negotiated::Answered;
    }
    if offer_forwarded(&mut pc, mode, now).is_none() {
        return Negotiated::Refused;
    }
    let Ok(answer) = RTCSessionDescription::answer(text.to_owned()) else {
        return Negotiated::Refused;
    };
    if pc.set_remote_description(now, answer).is_err() {
        return Negotiated::Refused;
    }
    let later = crate::sfu::forward::forwarded_track("p2", StreamKind::Big, 2000);
    let renegotiated = pc.add_track(later).is_ok()
        && pc
            .create_offer(None)
            .and_then(|offer| pc.set_local_description(now, offer))
            .is_ok();
    if renegotiated {
        Negotiated::Renegotiated
    } else {
        Negotiated::Refused
    }
}

/// A sans-I/O peer connection set up as the server sets up each of its own.
fn server_connection(now: Instant, flow: Flow) -> Option<rtc::peer_connection::RTCPeerConnection> {
    let mut engine = crate::setup::media_engine().ok()?;
    let registry =
        crate::setup::interceptors(rtc::interceptor::Registry::new(), &mut engine, flow).ok()?;
    let config = rtc::peer_connection::configuration::RTCConfigurationBuilder::new()
        .with_certificates(vec![certificate()?])
        .build();
    rtc::peer_connection::RTCPeerConnectionBuilder::new()
        .with_configuration(config)
        .with_media_engine(engine)
        .with_setting_engine(crate::setup::settings(
            true,
            crate::setup::AnswerAs::DtlsClient,
            crate::setup::Ice::Lite,
        ))
        .with_interceptor_registry(registry)
        .build(now)
        .ok()
}

/// Adds the forwarded tracks `mode`'s bits pick (at least one) and sets the offer locally;
/// returns the offer's SDP.
fn offer_forwarded(
    pc: &mut rtc::peer_connection::RTCPeerConnection,
    mode: u8,
    now: Instant,
) -> Option<String> {
    let kinds = [StreamKind::Big, StreamKind::Audio, StreamKind::Sub];
    for (i, kind) in kinds.into_iter().enumerate() {
        if i == 0 || mode & (2 << i) != 0 {
            let track = crate::sfu::forward::forwarded_track("p1", kind, 1000 + i as u32);
            pc.add_track(track).ok()?;
        }
    }
    let offer = pc.create_offer(None).ok()?;
    let sdp = offer.sdp.clone();
    pc.set_local_description(now, offer).ok()?;
    Some(sdp)
}

/// One DTLS certificate for every input: generating a key pair per connection would be most of
/// the target's time, and the certificate plays no part in the negotiation.
fn certificate() -> Option<rtc::peer_connection::certificate::RTCCertificate> {
    use rtc::peer_connection::certificate::{CertificateParams, RTCCertificate};
    static CERT: std::sync::OnceLock<Option<RTCCertificate>> = std::sync::OnceLock::new();
    CERT.get_or_init(|| {
        let provider = rtc::crypto::default_provider().ok()?;
        let params = CertificateParams::new(vec!["fuzz".to_owned()]).ok()?;
        RTCCertificate::generate(
            provider.crypto(),
            rtc::crypto::SignatureScheme::EcdsaP256Sha256,
            params,
        )
        .ok()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client connection as the SDK makes one (the same codecs), with no tracks of its own.
    fn client(now: Instant, flow: Flow) -> rtc::peer_connection::RTCPeerConnection {
        server_connection(now, flow).expect("a client connection")
    }

    #[test]
    fn a_publishers_real_offer_is_answered() {
        let now = Instant::now();
        let mut publisher = client(now, Flow::Sends);
        let sdp = offer_forwarded(&mut publisher, 0b110, now).expect("an offer");
        let input = [&[0u8][..], sdp.as_bytes()].concat();
        assert_eq!(negotiation(&input), Negotiated::Answered);
    }

    #[test]
    fn a_subscribers_real_answer_is_applied_and_renegotiated() {
        let now = Instant::now();
        // The answer a subscriber gives to an offer shaped as the target's own (same mids).
        let mut server = client(now, Flow::Sends);
        let offer = offer_forwarded(&mut server, 0b111, now).expect("an offer");
        let mut subscriber = client(now, Flow::Receives);
        let offer = RTCSessionDescription::offer(offer).expect("parses");
        subscriber
            .set_remote_description(now, offer)
            .expect("applies");
        let answer = subscriber.create_answer(None).expect("answers");
        let input = [&[0b111u8][..], answer.sdp.as_bytes()].concat();
        assert_eq!(negotiation(&input), Negotiated::Renegotiated);
    }

    #[test]
    fn garbage_is_refused_on_both_sides() {
        for mode in [0u8, 1] {
            let input = [&[mode][..], b"v=0\r\nm=video 9 nonsense\r\n"].concat();
            assert_eq!(negotiation(&input), Negotiated::Refused);
        }
    }
}
