//! Calls through the emulated link (`trtc-netlab`'s relay in front of the room server's media
//! ports): a server that advertises the relay, and a sender and a receiver in a call.

use trtc_netlab::{Relay, RelayAddrs};
use trtc_sdk::{frame_channel, SourceChoice, TrtcAppScene, TrtcEvent, VideoFrame};
use trtc_server::RunningServer;

/// A room server that advertises a relay in front of its media ports (ten of them from
/// `port_base`), and the relay, passing everything until told otherwise.
pub async fn relayed_server(port_base: u16) -> (Relay, RunningServer) {
    let ports = port_base..=port_base + 9;
    let addrs = RelayAddrs::default();
    let relay = Relay::start(addrs, ports.clone())
        .await
        .expect("relay ports free");
    let mut config = super::config();
    config.media.public_ip = Some(addrs.front);
    config.media.udp_ports = Some((*ports.start(), *ports.end()));
    (relay, trtc_server::spawn(config).await.unwrap())
}

/// A call over signalling at `url`: "sender" publishes the synthetic camera (and the tone when
/// `tone`), "receiver" publishes nothing and views the sender's camera. Returns both and the
/// receiver's pictures.
pub async fn sender_and_receiver(
    url: &str,
    room: u32,
    tone: bool,
) -> (
    super::Client,
    super::Client,
    std::sync::mpsc::Receiver<VideoFrame>,
) {
    sender_and_receiver_playing(url, room, tone, SourceChoice::None).await
}

/// [`sender_and_receiver`], the receiver playing what it hears on `speaker`.
pub async fn sender_and_receiver_playing(
    url: &str,
    room: u32,
    tone: bool,
    speaker: SourceChoice,
) -> (
    super::Client,
    super::Client,
    std::sync::mpsc::Receiver<VideoFrame>,
) {
    let none = SourceChoice::None;
    let mic = if tone { SourceChoice::Synthetic } else { none };
    let mut sender = super::media_client(url, "sender", SourceChoice::Synthetic, mic, none);
    let mut receiver = super::media_client(url, "receiver", none, none, speaker);
    assert!(sender.enter(room, TrtcAppScene::VideoCall).await > 0);
    assert!(receiver.enter(room, TrtcAppScene::VideoCall).await > 0);
    sender.cloud.start_local_preview(None);
    if tone {
        sender.cloud.start_local_audio(Default::default());
    }
    receiver
        .wait_for(|e| {
            matches!(
                e,
                TrtcEvent::UserVideoAvailable {
                    available: true,
                    ..
                }
            )
        })
        .await;
    let (view, pictures) = frame_channel(64);
    receiver.cloud.start_remote_view("sender", 0, Some(view));
    (sender, receiver, pictures)
}
