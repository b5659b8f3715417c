//! The real app under its own Xvfb display, driven through tauri-driver + WebKitWebDriver, the
//! way a QA engineer's WebDriver script drives it. Every prerequisite that is missing is a
//! failure that says how to install it, never a skip.

use super::Display;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: WebKit on a loaded 2-core machine can take seconds to start.
pub const UI_WAIT: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn find_tool(name: &str, hint: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo").into()))
    {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: {hint}"))
}

/// The app, its WebDriver session, and its config folder.
pub struct Gui {
    pub client: Client,
    driver: Child,
    /// The app's own X display.
    pub display: Display,
    /// This app's `--config-dir`.
    pub config_dir: PathBuf,
    _owned_dir: Option<tempfile::TempDir>,
}

impl Gui {
    /// Launches the app with `args` plus its own `--config-dir`.
    pub async fn launch(args: &[&str]) -> Gui {
        let dir = tempfile::tempdir().unwrap();
        let mut gui = Self::launch_in(dir.path(), args).await;
        gui._owned_dir = Some(dir);
        gui
    }

    /// Launches the app with `args` and the given `--config-dir`, which may be shared.
    pub async fn launch_in(config_dir: &std::path::Path, args: &[&str]) -> Gui {
        Self::launch_on(config_dir, &[], args).await
    }

    /// Launches the app on an Xvfb started with `xvfb_extra` (for example without MIT-SHM).
    pub async fn launch_on(
        config_dir: &std::path::Path,
        xvfb_extra: &[&str],
        args: &[&str],
    ) -> Gui {
        let display = Display::start("1280x800x24", xvfb_extra);
        let tauri_driver = find_tool(
            "tauri-driver",
            "run scripts/setup.sh (cargo install tauri-driver --locked)",
        );
        find_tool(
            "WebKitWebDriver",
            "run scripts/setup.sh (apt package webkit2gtk-driver)",
        );
        let (port, native) = (free_port(), free_port());
        let driver = Command::new(tauri_driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("DISPLAY", format!(":{}", display.number))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + UI_WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut all_args: Vec<String> =
            vec!["--config-dir".into(), config_dir.display().to_string()];
        all_args.extend(args.iter().map(|a| a.to_string()));
        let app = env!("CARGO_BIN_EXE_trtc-meeting");
        let caps = serde_json::json!({ "tauri:options": { "application": app, "args": all_args } });
        let caps = caps.as_object().unwrap().clone();
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let gui = Gui {
            client,
            driver,
            display,
            config_dir: config_dir.to_path_buf(),
            _owned_dir: None,
        };
        // The page is ready once start() filled in the connection line.
        gui.wait_text("connection-info", |t| t.contains("app "))
            .await;
        gui
    }

    fn css(testid: &str) -> String {
        format!("[data-testid='{testid}']")
    }

    /// The element, waiting for it to exist.
    pub async fn el(&self, testid: &str) -> Element {
        self.client
            .wait()
            .at_most(UI_WAIT)
            .for_element(Locator::Css(&Self::css(testid)))
            .await
            .unwrap_or_else(|e| panic!("no element {testid}: {e}"))
    }

    /// Whether an element exists and is shown.
    pub async fn visible(&self, testid: &str) -> bool {
        match self.client.find(Locator::Css(&Self::css(testid))).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits until `testid` is shown (or, with `false`, gone or hidden).
    pub async fn wait_visible(&self, testid: &str, shown: bool) {
        let deadline = Instant::now() + UI_WAIT;
        while self.visible(testid).await != shown {
            assert!(
                Instant::now() < deadline,
                "{testid} never became {}",
                if shown { "visible" } else { "hidden" }
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the shown text of `testid` satisfies `pred`, returning it.
    pub async fn wait_text(&self, testid: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + UI_WAIT;
        let mut last = String::new();
        loop {
            if let Ok(e) = self.client.find(Locator::Css(&Self::css(testid))).await {
                last = e.text().await.unwrap_or_default();
                if pred(&last) {
                    return last;
                }
            }
            if Instant::now() >= deadline {
                let page = self
                    .client
                    .execute("const t = document.querySelector(\"[data-testid='toast']\"); return document.body.innerText + ' | toast: ' + t.textContent + ' hidden=' + t.hidden + ' log=' + (window.__log || []).join(';')", vec![])
                    .await
                    .unwrap_or_default();
                panic!("{testid}: text never matched; last {last:?}; the page shows {page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, testid: &str) {
        self.el(testid)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {testid}: {e}"));
    }

    /// Clears a field and types into it.
    pub async fn fill(&self, testid: &str, text: &str) {
        let e = self.el(testid).await;
        e.clear().await.unwrap();
        if !text.is_empty() {
            e.send_keys(text).await.unwrap();
        }
    }

    pub async fn select(&self, testid: &str, value: &str) {
        self.el(testid).await.select_by_value(value).await.unwrap();
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Runs `script` until its result satisfies `pred`, returning that result; panics with
    /// `what` and the last result after [`UI_WAIT`].
    pub async fn wait_js(
        &self,
        script: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + UI_WAIT;
        loop {
            let v = self.js(script, vec![]).await;
            if pred(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: last {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `attr` of `testid` equals `value`.
    pub async fn wait_attr(&self, testid: &str, attr: &str, value: &str) {
        let deadline = Instant::now() + UI_WAIT;
        loop {
            let now = self.attr(testid, attr).await;
            if now.as_deref() == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{testid}[{attr}] never became {value:?}; last {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn attr(&self, testid: &str, name: &str) -> Option<String> {
        self.el(testid).await.attr(name).await.unwrap()
    }

    /// Fills the join form and presses Enter the meeting.
    pub async fn join(&self, room: &str, user: &str) {
        self.fill("room-id", room).await;
        self.fill("user-id", user).await;
        self.click("enter-room").await;
    }

    /// Ends the WebDriver session (closing the app) and stops the driver with SIGTERM, which
    /// is what stops WebKitWebDriver too.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = Command::new("kill")
            .args(["-TERM", &self.driver.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.driver.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gui {
    fn drop(&mut self) {
        // A panicking test still must not leave a driver holding ports and pipes.
        if self.driver.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.driver.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(500));
            let _ = self.driver.kill();
        }
        let _ = self.driver.wait();
    }
}
