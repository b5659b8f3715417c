//! The frame path from the SDK to the tiles' canvases.
//!
//! Every view (own camera, a remote camera, a remote screen) owns a bounded frame channel the
//! SDK fills; a small thread keeps only the newest picture. The web page pulls (through
//! `frame_socket`): each tile asks for a picture newer than the one it drew, at the size it
//! is shown, and gets raw RGBA bytes back, never JSON. Pulling rather than pushing gives
//! back-pressure for free: a page that draws slowly gets fewer, newer frames instead of a
//! queue. Scaling happens here, before the bytes cross, so a tile costs what it shows, not
//! what was decoded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use trtc_media::render::Renderer;
use trtc_media::sink::frame_channel;
use trtc_media::VideoFrame;
use trtc_sdk::VideoView;

/// How long a pull waits for a new picture before answering "nothing new", so a page never
/// keeps a request open on a view that went quiet (video muted, sender gone).
const PULL_WAIT: Duration = Duration::from_millis(1000);

/// Bytes before the pixels: width, height (u32 LE), picture number (u64 LE).
pub const HEADER_BYTES: usize = 16;

/// The newest picture of a view. Numbers come from one counter for all views, so a view
/// reopened under the same name (camera restarted) continues above what the page drew.
type Latest = (u64, Option<Arc<VideoFrame>>);

struct ViewSlot {
    latest: watch::Sender<Latest>,
    renderer: Mutex<Renderer>,
}

/// Per-frame cost of the path, for the statistics overlay and the benchmark.
#[derive(Debug, Default)]
pub struct PathCost {
    frames: AtomicU64,
    render_us: AtomicU64,
    bytes: AtomicU64,
}

/// What the path has cost so far, on average per frame.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathCostSummary {
    /// Pictures sent to the page.
    pub frames: u64,
    /// Scaling and colour conversion, µs per picture.
    pub render_us_per_frame: u64,
    /// Bytes crossing to the page per picture.
    pub bytes_per_frame: u64,
}

/// All views, by the page's name for them (`local`, `<userId>:0`, `<userId>:2`).
#[derive(Default)]
pub struct Videos {
    views: Mutex<HashMap<String, Arc<ViewSlot>>>,
    numbers: Arc<AtomicU64>,
    cost: PathCost,
}

impl std::fmt::Debug for Videos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Videos")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

fn views(
    v: &Mutex<HashMap<String, Arc<ViewSlot>>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ViewSlot>>> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

impl Videos {
    /// A fresh view named `name` (replacing one of the same name) and the sink to give the SDK.
    pub fn open(&self, name: &str) -> VideoView {
        // Two pictures of slack: the decoder never waits on the page, and a picture in
        // flight plus the newest one is all the page could ever want.
        let (sink, rx) = frame_channel::<VideoFrame>(2);
        let (latest, _) = watch::channel((0, None));
        let slot = Arc::new(ViewSlot {
            latest,
            renderer: Mutex::new(Renderer::new()),
        });
        views(&self.views).insert(name.to_string(), Arc::clone(&slot));
        let thread_name = format!("view-{name}");
        let numbers = Arc::clone(&self.numbers);
        let spawned = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                // Ends when the SDK drops the sink (view stopped, user left).
                while let Ok(frame) = rx.recv() {
                    let n = numbers.fetch_add(1, Ordering::Relaxed) + 1;
                    slot.latest.send_replace((n, Some(Arc::new(frame))));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, view = name, "could not start a view thread; the tile stays dark");
        }
        sink
    }

    /// Forgets a view; a page still pulling from it gets an error and stops.
    pub fn close(&self, name: &str) {
        views(&self.views).remove(name);
    }

    /// Forgets every view (leaving the room).
    pub fn close_all(&self) {
        views(&self.views).clear();
    }

    /// The first picture of `name` numbered above `after`, scaled to fit `max_width ×
    /// max_height`, as header + RGBA; an empty body when none came within [`PULL_WAIT`].
    pub async fn next(
        &self,
        name: &str,
        after: u64,
        max_width: usize,
        max_height: usize,
    ) -> Result<Vec<u8>, String> {
        let slot = views(&self.views)
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no video view {name:?}"))?;
        let mut rx = slot.latest.subscribe();
        let wait = rx.wait_for(|(n, _)| *n > after);
        let (n, frame) = match tokio::time::timeout(PULL_WAIT, wait).await {
            Ok(Ok(latest)) => latest.clone(),
            // The view's thread ended or nothing came: nothing new to draw.
            Ok(Err(_)) | Err(_) => return Ok(Vec::new()),
        };
        let Some(frame) = frame else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let body = tauri::async_runtime::spawn_blocking(move || {
            let picture = slot
                .renderer
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .render(&frame, max_width, max_height)
                .map_err(|e| e.to_string())?;
            let mut body = Vec::with_capacity(HEADER_BYTES + picture.rgba.len());
            body.extend_from_slice(&(picture.width as u32).to_le_bytes());
            body.extend_from_slice(&(picture.height as u32).to_le_bytes());
            body.extend_from_slice(&n.to_le_bytes());
            body.extend_from_slice(&picture.rgba);
            Ok::<_, String>(body)
        })
        .await
        .map_err(|e| e.to_string())??;
        self.cost.frames.fetch_add(1, Ordering::Relaxed);
        self.cost
            .render_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.cost
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(body)
    }

    /// The path's cost so far.
    pub fn cost(&self) -> PathCostSummary {
        let frames = self.cost.frames.load(Ordering::Relaxed);
        let per = |total: &AtomicU64| total.load(Ordering::Relaxed) / frames.max(1);
        PathCostSummary {
            frames,
            render_us_per_frame: per(&self.cost.render_us),
            bytes_per_frame: per(&self.cost.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trtc_media::synthetic::SyntheticVideo;

    #[tokio::test]
    async fn a_pull_gets_the_newest_picture_scaled_and_then_waits_for_a_newer_one() {
        let videos = Videos::default();
        let sink = videos.open("local");
        for i in 0..2 {
            sink.push(SyntheticVideo::draw(640, 360, i, 0)).unwrap();
        }
        // Let the view thread take both; only the newest is kept.
        let mut body = Vec::new();
        for _ in 0..100 {
            body = videos.next("local", 1, 320, 320).await.unwrap();
            if !body.is_empty() {
                break;
            }
        }
        let word = |i: usize| u32::from_le_bytes(body[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!((word(0), word(1), word(2)), (320, 180, 2));
        // Reopened, the view's numbers continue above what was drawn.
        let sink = videos.open("local");
        sink.push(SyntheticVideo::draw(640, 360, 0, 0)).unwrap();
        let mut again = Vec::new();
        for _ in 0..100 {
            again = videos.next("local", 2, 320, 320).await.unwrap();
            if !again.is_empty() {
                break;
            }
        }
        assert_eq!(u32::from_le_bytes(again[8..12].try_into().unwrap()), 3);
        assert_eq!(body.len(), HEADER_BYTES + 320 * 180 * 4);
        assert!(videos.next("local", 3, 320, 320).await.unwrap().is_empty());
        assert_eq!(videos.cost().frames, 2);
        videos.close("local");
        assert!(videos.next("local", 0, 320, 320).await.is_err());
    }
}
