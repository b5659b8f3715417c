//! Janus's WebSocket API (the `janus-protocol` subprotocol), as much as the capacity comparison
//! needs: one session, plugin handles on it, requests matched to their replies by transaction,
//! and everything else (a new publisher in the room, a hangup) as events.
//!
//! A plugin `message` is answered twice: an `ack` at once, then an `event` carrying the
//! plugin's reply under the same transaction. Requests here wait for the first reply that is
//! not an `ack`, so one call is one exchange whichever way Janus answers.

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const VIDEOROOM: &str = "janus.plugin.videoroom";
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Janus ends a session after 60 s without a request on it (`session_timeout`).
pub const KEEPALIVE: Duration = Duration::from_secs(25);

type Pending = Arc<parking_lot::Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// One session on one WebSocket.
pub struct Session {
    id: u64,
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next: AtomicU64,
    /// Messages no request waits for.
    pub events: mpsc::UnboundedReceiver<Value>,
}

/// A plugin's reply: its data and the SDP it came with, if any.
#[derive(Debug)]
pub struct Reply {
    pub data: Value,
    pub sdp: Option<String>,
}

impl Session {
    /// Connects and creates a session.
    pub async fn open(url: &str) -> anyhow::Result<Session> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "janus-protocol".parse()?);
        let (ws, _) =
            tokio::time::timeout(REPLY_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .context("connecting to Janus timed out")?
                .context("connecting to Janus")?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = outgoing.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let pending: Pending = Arc::default();
        let (events_tx, events) = mpsc::unbounded_channel();
        let waiting = Arc::clone(&pending);
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(text) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if v["janus"] == "ack" {
                    continue;
                }
                let waiter = v["transaction"]
                    .as_str()
                    .and_then(|t| waiting.lock().remove(t));
                match waiter {
                    Some(w) => {
                        let _ = w.send(v);
                    }
                    None => {
                        let _ = events_tx.send(v);
                    }
                }
            }
            // The socket is gone: every waiter's sender drops, so each request fails now.
            waiting.lock().clear();
        });
        let mut session = Session {
            id: 0,
            out,
            pending,
            next: AtomicU64::new(1),
            events,
        };
        let created = session.request(json!({"janus": "create"})).await?;
        session.id = created["data"]["id"]
            .as_u64()
            .context("Janus created no session id")?;
        Ok(session)
    }

    /// Sends `body` (with a transaction and this session's id) and waits for its reply; a
    /// Janus `error` is an error.
    async fn request(&self, mut body: Value) -> anyhow::Result<Value> {
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = json!(transaction);
        if self.id != 0 {
            body["session_id"] = json!(self.id);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(transaction.clone(), tx);
        self.out
            .send(Message::Text(body.to_string().into()))
            .context("the Janus connection is closed")?;
        let reply = tokio::time::timeout(REPLY_TIMEOUT, rx).await;
        self.pending.lock().remove(&transaction);
        let reply = reply
            .with_context(|| format!("no reply from Janus to {}", body["janus"]))?
            .context("the Janus connection closed")?;
        if reply["janus"] == "error" {
            anyhow::bail!(
                "Janus: {} {}",
                reply["error"]["code"],
                reply["error"]["reason"]
            );
        }
        Ok(reply)
    }

    /// A new VideoRoom handle.
    pub async fn attach(&self) -> anyhow::Result<u64> {
        let reply = self
            .request(json!({"janus": "attach", "plugin": VIDEOROOM}))
            .await?;
        reply["data"]["id"]
            .as_u64()
            .context("Janus attached no handle")
    }

    /// A VideoRoom request on `handle`, with an SDP offer or answer; a plugin error is an
    /// error.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<(&str, &str)>,
    ) -> anyhow::Result<Reply> {
        let mut request = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some((kind, sdp)) = jsep {
            // Every candidate is in the SDP already: Janus need not wait for trickled ones.
            request["jsep"] = json!({"type": kind, "sdp": sdp, "trickle": false});
        }
        let reply = self.request(request).await?;
        let data = reply["plugindata"]["data"].clone();
        if let Some(code) = data.get("error_code") {
            anyhow::bail!("VideoRoom: {code} {}", data["error"]);
        }
        let sdp = reply["jsep"]["sdp"].as_str().map(str::to_owned);
        Ok(Reply { data, sdp })
    }

    /// Keeps the session alive (see [`KEEPALIVE`]). Janus answers with an `ack`, which is
    /// not waited for: a lost session shows as its handles' hangups.
    pub fn keepalive(&self) -> anyhow::Result<()> {
        let body = json!({"janus": "keepalive", "session_id": self.id, "transaction": "keepalive"});
        self.out
            .send(Message::Text(body.to_string().into()))
            .context("the Janus connection is closed")
    }

    /// Ends the session; Janus hangs up its handles' peer connections.
    pub async fn destroy(&self) {
        let _ = self.request(json!({"janus": "destroy"})).await;
    }
}

/// Creates the rooms a run uses (an existing one is fine: a previous run's), from a session of
/// its own.
pub async fn create_rooms(url: &str, rooms: &[u32], publishers: usize) -> anyhow::Result<()> {
    let session = Session::open(url).await?;
    let handle = session.attach().await?;
    for room in rooms {
        let body = json!({
            "request": "create",
            "room": room.to_string(),
            "publishers": publishers.max(1),
            "audiocodec": "opus",
            "videocodec": "h264",
            // No cap sent back by REMB: the publishers' rate is the clip's, as with ours.
            "bitrate": 0,
            "notify_joining": false,
        });
        match session.message(handle, body, None).await {
            Ok(_) => {}
            Err(e) if e.to_string().contains("427") => {} // already exists
            Err(e) => return Err(e.context(format!("creating Janus room {room}"))),
        }
    }
    session.destroy().await;
    Ok(())
}

/// Janus's answer to a publisher, with the offer's transport-wide congestion-control lines
/// restored on audio m-lines.
///
/// Janus 1.1 accepts the transport-wide sequence number on video m-lines only, while it reads
/// the extension per connection. With that answer our sender's accounting and Janus's feedback
/// disagree about the audio packets: the feedback read as ~15 % loss on loopback, and the
/// congestion controller fell to its floor (100 kbps): Janus carried a quarter of the clip. With the answer saying what actually
/// happens, the sender's estimate tracks Janus's feedback as it does ours (about 2.2 Mbps for
/// the 720p clip, nothing reported lost).
pub fn answer_with_audio_transport_cc(offer: &str, answer: &str) -> String {
    let audio_lines = |sdp: &str| -> Vec<String> {
        let mut audio = false;
        let mut out = vec![];
        for line in sdp.lines() {
            if line.starts_with("m=") {
                if audio {
                    break;
                }
                audio = line.starts_with("m=audio");
            } else if audio
                && (line.starts_with("a=extmap:") && line.contains("transport-wide-cc")
                    || line.starts_with("a=rtcp-fb:") && line.ends_with(" transport-cc"))
            {
                out.push(line.to_owned());
            }
        }
        out
    };
    let wanted = audio_lines(offer);
    if wanted.is_empty() || !audio_lines(answer).is_empty() {
        return answer.to_owned();
    }
    let mut out = String::with_capacity(answer.len() + 200);
    for line in answer.split_inclusive('\n') {
        out.push_str(line);
        if line.starts_with("m=audio") {
            for w in &wanted {
                out.push_str(w);
                out.push_str("\r\n");
            }
        }
    }
    out
}

/// The streams a subscriber asks of each publisher listed in a VideoRoom event: its audio and
/// its first video (the camera; our publisher's second video, the screen, carries nothing).
pub fn wanted_streams(data: &Value, me: &str) -> Vec<(String, String)> {
    let mut wanted = vec![];
    for p in data["publishers"].as_array().into_iter().flatten() {
        let Some(feed) = p["id"].as_str().filter(|id| *id != me) else {
            continue;
        };
        let mut video = false;
        for s in p["streams"].as_array().into_iter().flatten() {
            let (Some(kind), Some(mid)) = (s["type"].as_str(), s["mid"].as_str()) else {
                continue;
            };
            if s["disabled"] == true {
                continue;
            }
            let take = match kind {
                "audio" => true,
                "video" if !video => {
                    video = true;
                    true
                }
                _ => false,
            };
            if take {
                wanted.push((feed.to_owned(), mid.to_owned()));
            }
        }
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::{answer_with_audio_transport_cc, wanted_streams};
    use serde_json::json;

    #[test]
    fn the_answer_gets_the_offers_audio_transport_cc_when_janus_left_it_out() {
        let twcc =
            "a=extmap:1 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
        let offer = format!(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-fb:111 transport-cc\r\n{twcc}\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtcp-fb:102 transport-cc\r\n{twcc}\r\n"
        );
        let answer = format!(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtcp-fb:102 transport-cc\r\n{twcc}\r\n"
        );
        let fixed = answer_with_audio_transport_cc(&offer, &answer);
        assert_eq!(
            fixed,
            format!(
                "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-fb:111 transport-cc\r\n{twcc}\r\n\
                 a=setup:active\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtcp-fb:102 transport-cc\r\n{twcc}\r\n"
            )
        );
        // An answer that has them already is left alone.
        assert_eq!(answer_with_audio_transport_cc(&offer, &fixed), fixed);
    }

    #[test]
    fn a_subscriber_asks_for_everyone_elses_audio_and_camera() {
        let event = json!({"videoroom": "event", "publishers": [
            {"id": "p0-0", "streams": [
                {"type": "audio", "mid": "0"}, {"type": "video", "mid": "1"},
                {"type": "video", "mid": "2"}]},
            {"id": "p0-1", "streams": [
                {"type": "audio", "mid": "0", "disabled": true}, {"type": "video", "mid": "1"}]},
        ]});
        assert_eq!(
            wanted_streams(&event, "p0-1"),
            [("p0-0".into(), "0".into()), ("p0-0".into(), "1".into())]
        );
        assert_eq!(
            wanted_streams(&event, "s0-0"),
            [
                ("p0-0".into(), "0".into()),
                ("p0-0".into(), "1".into()),
                ("p0-1".into(), "1".into())
            ]
        );
    }
}
