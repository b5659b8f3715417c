//! `TrtcCloud`, the facade: a cheap handle whose methods send commands to the driver task.
//! Events flow driver → dispatcher task → listeners (in order) and event streams.

use crate::driver::{Command, Driver};
use crate::listener::{deliver, TrtcCloudListener};
use crate::media::{self, MediaCommand, MediaHandle, SourceChoice};
use crate::session::SessionTiming;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::mpsc;
use trtc_protocol::{EntryParams, TrtcAppScene, TrtcEvent, TrtcRole};

/// The room server the SDK talks to unless told otherwise.
pub const DEFAULT_SERVER_URL: &str = "ws://127.0.0.1:8080";

/// Settings of one TrtcCloud instance.
#[derive(Debug, Clone)]
pub struct TrtcCloudConfig {
    /// The room server's signalling URL, `ws://` or `wss://`.
    pub server_url: String,
    /// Timeouts and reconnection pacing.
    pub timing: SessionTiming,
    /// Extra trusted root certificates (DER) for `wss://` servers with a private CA.
    pub extra_root_certs: Vec<Vec<u8>>,
    /// Where camera pictures come from.
    pub camera: SourceChoice,
    /// Where microphone audio comes from.
    pub mic: SourceChoice,
    /// Where remote audio plays: `Device` (the default output) or `None` (not played; custom
    /// rendering through `set_remote_audio_sink` still works).
    pub speaker: SourceChoice,
}

impl Default for TrtcCloudConfig {
    /// Server from `TRTC_SERVER_URL`, else [`DEFAULT_SERVER_URL`].
    fn default() -> Self {
        TrtcCloudConfig {
            server_url: std::env::var("TRTC_SERVER_URL")
                .unwrap_or_else(|_| DEFAULT_SERVER_URL.into()),
            timing: SessionTiming::default(),
            extra_root_certs: Vec::new(),
            camera: SourceChoice::Device,
            mic: SourceChoice::Device,
            speaker: SourceChoice::Device,
        }
    }
}

impl TrtcCloudConfig {
    /// The same settings with another server.
    pub fn with_server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = url.into();
        self
    }

    /// The same settings with these camera and microphone sources.
    pub fn with_sources(mut self, camera: SourceChoice, mic: SourceChoice) -> Self {
        self.camera = camera;
        self.mic = mic;
        self
    }

    /// The same settings with an extra trusted root certificate (DER).
    pub fn with_root_cert(mut self, der: Vec<u8>) -> Self {
        self.extra_root_certs.push(der);
        self
    }
}

type Listeners = Arc<Mutex<Vec<Arc<dyn TrtcCloudListener>>>>;
type Subscribers = Arc<Mutex<Vec<mpsc::UnboundedSender<TrtcEvent>>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Listener lists are only pushed to and retained; a poisoned lock holds a valid list.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SDK's own runtime: like a native SDK's threads, it makes every method callable from any
/// thread, async or not, and keeps media and signalling off the app's executor.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trtc-sdk")
            .enable_all()
            .build()
            .expect("the SDK cannot run without its runtime (thread creation failed)")
    })
}

/// The main TRTC object: enter and leave rooms, receive events.
///
/// A cheap handle: clones share one instance. When the last clone is dropped the instance
/// leaves its room. Use [`TrtcCloud::shared_instance`] like TRTC's singleton, or
/// [`TrtcCloud::new`] for several independent clients in one process.
#[derive(Clone)]
#[doc(alias = "TRTCCloud")]
pub struct TrtcCloud {
    inner: Arc<Inner>,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    media: MediaHandle,
    devices: media::DeviceSelection,
    listeners: Listeners,
    subscribers: Subscribers,
}

impl std::fmt::Debug for TrtcCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrtcCloud")
            .field("listeners", &lock(&self.inner.listeners).len())
            .finish()
    }
}

static SHARED: Mutex<Option<TrtcCloud>> = Mutex::new(None);

impl TrtcCloud {
    /// The process-wide instance, created on first use with [`TrtcCloudConfig::default`].
    #[doc(alias = "sharedInstance")]
    #[doc(alias = "getTRTCShareInstance")]
    pub fn shared_instance() -> TrtcCloud {
        lock(&SHARED)
            .get_or_insert_with(|| TrtcCloud::new(TrtcCloudConfig::default()))
            .clone()
    }

    /// Releases the process-wide instance; call after onExitRoom. Other handles stay valid.
    #[doc(alias = "destroySharedInstance")]
    pub fn destroy_shared_instance() {
        lock(&SHARED).take();
    }

    /// An independent instance.
    pub fn new(config: TrtcCloudConfig) -> TrtcCloud {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, mut event_rx) = mpsc::unbounded_channel::<TrtcEvent>();
        let listeners: Listeners = Arc::default();
        let subscribers: Subscribers = Arc::default();
        let tls = crate::tls::client_config(&config.extra_root_certs);
        let rt = runtime();
        let (media_out, media_out_rx) = mpsc::unbounded_channel();
        let devices = media::DeviceSelection::default();
        let media = {
            let _in_runtime = rt.enter();
            let sources = media::Sources {
                camera: config.camera,
                mic: config.mic,
                speaker: config.speaker,
                devices: devices.clone(),
            };
            media::spawn(sources, events.clone(), media_out)
        };
        let driver = Driver::new(config.server_url, config.timing, tls, events, media.clone());
        rt.spawn(driver.run(command_rx, media_out_rx));
        let (l, s) = (Arc::clone(&listeners), Arc::clone(&subscribers));
        rt.spawn(async move {
            while let Some(event) = event_rx.recv().await {
                // Snapshot, then call without the lock: a listener may add or remove listeners.
                let current: Vec<_> = lock(&l).clone();
                for listener in &current {
                    deliver(listener.as_ref(), &event);
                }
                lock(&s).retain(|tx| tx.send(event.clone()).is_ok());
            }
        });
        TrtcCloud {
            inner: Arc::new(Inner {
                commands,
                media,
                devices,
                listeners,
                subscribers,
            }),
        }
    }

    pub(crate) fn media(&self, c: MediaCommand) {
        self.inner.media.command(c);
    }

    pub(crate) fn device_selection(&self) -> media::DeviceSelection {
        self.inner.devices.clone()
    }

    fn command(&self, c: Command) {
        // The driver lives as long as any handle does, so this cannot fail while `self` exists.
        let _ = self.inner.commands.send(c);
    }

    /// Registers a listener. Registering the same listener twice delivers each event twice.
    #[doc(alias = "addCallback")]
    #[doc(alias = "registerListener")]
    pub fn add_listener(&self, listener: Arc<dyn TrtcCloudListener>) {
        lock(&self.inner.listeners).push(listener);
    }

    /// Unregisters every registration of `listener`.
    #[doc(alias = "removeCallback")]
    #[doc(alias = "unRegisterListener")]
    pub fn remove_listener(&self, listener: &Arc<dyn TrtcCloudListener>) {
        lock(&self.inner.listeners).retain(|l| !Arc::ptr_eq(l, listener));
    }

    /// Every event from now on, in order, as a stream (also usable as `recv().await`).
    pub fn events(&self) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.inner.subscribers).push(tx);
        EventStream { rx }
    }

    /// Points the instance at another room server; takes effect at the next connection.
    pub fn set_server_url(&self, url: impl Into<String>) {
        self.command(Command::SetServer(url.into()));
    }

    /// Enters a room. The parameters are checked first (nothing is sent if a check fails);
    /// the result arrives as onEnterRoom: elapsed ms, or the error code after onError.
    #[doc(alias = "enterRoom")]
    pub fn enter_room(&self, params: &EntryParams, scene: TrtcAppScene) {
        self.command(Command::EnterRoom(params.clone(), scene));
    }

    /// Leaves the room; onExitRoom(0) follows once everything is released.
    #[doc(alias = "exitRoom")]
    pub fn exit_room(&self) {
        self.command(Command::ExitRoom);
    }

    /// Live scenes: become anchor or audience; the answer arrives as onSwitchRole.
    #[doc(alias = "switchRole")]
    pub fn switch_role(&self, role: TrtcRole) {
        self.command(Command::SwitchRole(role));
    }
}

/// The instance's events in order. Dropping it unsubscribes.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<TrtcEvent>,
}

impl EventStream {
    /// The next event; `None` once the instance is gone.
    pub async fn recv(&mut self) -> Option<TrtcEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<TrtcEvent> {
        self.rx.try_recv().ok()
    }

    /// Blocks the calling thread for the next event: for code outside any async runtime.
    pub fn blocking_recv(&mut self) -> Option<TrtcEvent> {
        self.rx.blocking_recv()
    }
}

impl futures_util::Stream for EventStream {
    type Item = TrtcEvent;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<TrtcEvent>> {
        self.rx.poll_recv(cx)
    }
}
