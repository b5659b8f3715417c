//! The same participant as [`crate::participant`], in a Janus VideoRoom: the same clip through
//! the same publisher connection, the same counting subscriber, so the two servers get
//! identical load. It does what a VideoRoom client does: joins the room as a (possibly
//! passive) publisher, which is its onEnterRoom, publishes if it should, and subscribes on a
//! second handle to every other publisher the room announces, adding each new one by
//! renegotiating that handle.

use crate::janus::{self, Session};
use crate::participant::{Media, Phase, Plan, Probe};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use trtc_rtc::client::Subscriber;

/// Runs until told to leave, or until Janus or the network ends the participant.
pub async fn run(plan: Plan, probe: Arc<Probe>, phase: watch::Receiver<Phase>) {
    if let Err(e) = participate(&plan, &probe, phase).await {
        probe.fail(&e);
    }
}

async fn participate(
    plan: &Plan,
    probe: &Probe,
    mut phase: watch::Receiver<Phase>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut session = Session::open(&plan.url).await?;
    let room = plan.room.to_string();
    let main = session.attach().await?;
    let joined = session
        .message(
            main,
            json!({"request": "join", "ptype": "publisher", "room": room,
                   "id": plan.user, "display": plan.user}),
            None,
        )
        .await
        .context("joining the room")?;
    let _ = probe.entered.set(Ok(started.elapsed()));

    let (mut media, mut events) = Media::new(probe);
    if let Some(offer) = media.publish(plan, probe, &phase).await? {
        let reply = session
            .message(main, json!({"request": "publish"}), Some(("offer", &offer)))
            .await
            .context("publishing")?;
        let answer = reply
            .sdp
            .context("Janus answered the publish without SDP")?;
        tracing::debug!(%offer, %answer, "publishing to Janus");
        if let Some(p) = &media.publisher {
            p.apply_answer(janus::answer_with_audio_transport_cc(&offer, &answer))
                .await
                .context("applying the publish answer")?;
        }
    }

    let mut feeds = Feeds {
        me: plan.user.clone(),
        room,
        handle: None,
        subscribed: BTreeSet::new(),
    };
    feeds
        .add(&session, &mut media.subscriber, plan, &joined.data)
        .await?;
    let mut keepalive = tokio::time::interval(janus::KEEPALIVE);
    loop {
        tokio::select! {
            event = session.events.recv() => {
                let event = event.context("the Janus connection closed")?;
                if event["janus"] == "hangup" && event["sender"] == main {
                    anyhow::bail!("Janus hung up the publisher ({})", event["reason"]);
                }
                let data = &event["plugindata"]["data"];
                if data.get("publishers").is_some() {
                    feeds.add(&session, &mut media.subscriber, plan, data).await?;
                }
            }
            _ = keepalive.tick() => session.keepalive()?,
            Some(event) = events.recv() => media.handle(event),
            changed = phase.changed() => {
                if changed.is_err() || *phase.borrow() == Phase::Leave {
                    session.destroy().await;
                    media.close().await;
                    return Ok(());
                }
            }
        }
    }
}

/// What this participant subscribes to, on its subscriber handle.
struct Feeds {
    me: String,
    room: String,
    handle: Option<u64>,
    subscribed: BTreeSet<(String, String)>,
}

impl Feeds {
    /// Subscribes to the streams of the publishers a VideoRoom event lists that this
    /// participant has not subscribed to yet: the first time by joining as a subscriber, then
    /// by renegotiating (`subscribe`, answered with `start` each time).
    async fn add(
        &mut self,
        session: &Session,
        subscriber: &mut Subscriber,
        plan: &Plan,
        data: &Value,
    ) -> anyhow::Result<()> {
        let new: Vec<(String, String)> = janus::wanted_streams(data, &self.me)
            .into_iter()
            .filter(|s| !self.subscribed.contains(s))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let streams: Vec<Value> = new
            .iter()
            .map(|(feed, mid)| json!({"feed": feed, "mid": mid}))
            .collect();
        let (handle, body) = match self.handle {
            Some(h) => (h, json!({"request": "subscribe", "streams": streams})),
            None => {
                let h = session.attach().await?;
                self.handle = Some(h);
                let body = json!({"request": "join", "ptype": "subscriber", "room": self.room,
                                  "streams": streams, "use_msid": true});
                (h, body)
            }
        };
        let reply = session
            .message(handle, body, None)
            .await
            .context("subscribing")?;
        self.subscribed.extend(new);
        let Some(offer) = reply.sdp else {
            return Ok(());
        };
        let answer = subscriber
            .handle_offer(plan.bind_ip, offer)
            .await
            .context("answering Janus's offer")?;
        session
            .message(
                handle,
                json!({"request": "start"}),
                Some(("answer", &answer)),
            )
            .await
            .context("starting the subscription")?;
        Ok(())
    }
}
