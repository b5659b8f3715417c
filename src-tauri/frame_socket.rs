//! The loopback WebSocket that carries pictures to the page.
//!
//! Why not Tauri's IPC: on WebKitGTK a 921 600-byte RGBA picture took ~70 ms to cross as a
//! raw invoke response (the custom-scheme path copies it several times), against 3 ms to
//! render it, so a single 640x360 tile could not reach 15 fps. A WebSocket's binary message
//! goes through WebKit's network process in one piece.
//!
//! One socket per tile, pull-based: the page sends `{"after":N,"maxWidth":W,"maxHeight":H}`
//! as text, the server answers with one binary message ([`crate::video::Videos::next`]:
//! header + RGBA, or empty when nothing new came), so a slow page gets fewer, newer pictures.
//! The server listens on 127.0.0.1 only, on a port the OS picks, and refuses any request
//! without the random token it was started with: other local users cannot watch the call.

use crate::video::Videos;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// Where the page connects: `{base}/{token}/{view}`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameEndpoint {
    /// `ws://127.0.0.1:PORT/video`.
    pub base: String,
    /// The secret every request carries.
    pub token: String,
}

#[derive(Clone)]
struct Shared {
    videos: Arc<Videos>,
    token: Arc<str>,
}

/// A pull: the picture wanted and the size it is shown at.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pull {
    after: u64,
    max_width: usize,
    max_height: usize,
}

/// Requests are tiny; anything bigger is not a pull.
const MAX_REQUEST: usize = 1024;

/// Starts the server on Tauri's runtime; it lives as long as the app.
pub fn start(videos: Arc<Videos>) -> anyhow::Result<FrameEndpoint> {
    let token: String = {
        use rand::Rng;
        let bytes: [u8; 16] = rand::thread_rng().gen();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    std_listener.set_nonblocking(true)?;
    let port = std_listener.local_addr()?.port();
    let shared = Shared {
        videos,
        token: token.clone().into(),
    };
    let app = Router::new()
        .route("/video/{token}/{view}", get(upgrade))
        .with_state(shared);
    tauri::async_runtime::spawn(async move {
        let served = async {
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            axum::serve(listener, app).await
        };
        if let Err(e) = served.await {
            tracing::error!(error = %e, "the frame socket stopped; video tiles stay dark");
        }
    });
    Ok(FrameEndpoint {
        base: format!("ws://127.0.0.1:{port}/video"),
        token,
    })
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Path((token, view)): Path<(String, String)>,
    State(shared): State<Shared>,
) -> Response {
    if token.as_bytes() != shared.token.as_bytes() {
        return StatusCode::FORBIDDEN.into_response();
    }
    ws.max_message_size(MAX_REQUEST)
        .on_upgrade(move |socket| serve(socket, view, shared.videos))
        .into_response()
}

async fn serve(mut socket: WebSocket, view: String, videos: Arc<Videos>) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(pull) = serde_json::from_str::<Pull>(text.as_str()) else {
            tracing::debug!(view, "frame socket: not a pull; closing");
            break;
        };
        match videos
            .next(&view, pull.after, pull.max_width, pull.max_height)
            .await
        {
            Ok(body) => {
                if socket.send(Message::Binary(body.into())).await.is_err() {
                    break;
                }
            }
            // The view is gone: closing tells the tile to stop.
            Err(_) => break,
        }
    }
}
