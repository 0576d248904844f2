//! A real browser for the page tests: Debian's headless Chromium driven through Debian's
//! ChromeDriver (WebDriver, with the `fantoccini` crate), at a desktop or a phone viewport,
//! with axe-core (from npm, `node_modules/axe-core`) injected into every page checked.
//!
//! Installed by `scripts/browser-deps.sh` (run by `scripts/test.sh`). Without them the tests
//! fail under CI (`CI` set) and are skipped with a loud message elsewhere.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A viewport the pages are tested at.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub phone: bool,
}

pub const DESKTOP: Viewport = Viewport {
    name: "desktop-1366x900",
    width: 1366,
    height: 900,
    phone: false,
};
pub const PHONE: Viewport = Viewport {
    name: "phone-390x844",
    width: 390,
    height: 844,
    phone: true,
};

/// A browser walk as two tests, at desktop and at phone size; each skips (outside CI) when
/// the browser cannot run here.
macro_rules! at_both_sizes {
    ($desktop:ident, $phone:ident, $walk:path) => {
        #[actix_web::test]
        async fn $desktop() {
            if $crate::browser_support::available() {
                $walk($crate::browser_support::DESKTOP).await;
            }
        }

        #[actix_web::test]
        async fn $phone() {
            if $crate::browser_support::available() {
                $walk($crate::browser_support::PHONE).await;
            }
        }
    };
}
pub(crate) use at_both_sizes;

/// Logs `code` in with the personal PIN on the broker's login page the browser is at.
pub async fn pin_login(b: &Browser, code: &procura::person::CodiceFiscale) {
    b.fill("#f-codice_fiscale", code.as_str()).await;
    b.fill("#f-pin", crate::oidc_support::PERSONAL_PIN).await;
    b.click_text("Accedi con il PIN").await;
}

/// Whether the browser can run here; `false` (skip) only outside CI.
pub fn available() -> bool {
    let ok =
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() && axe_path().exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "browser tests need {CHROMIUM}, {CHROMEDRIVER} and node_modules/axe-core: run \
             scripts/browser-deps.sh and scripts/assets.sh"
        );
        eprintln!(
            "SKIPPED: browser tests need {CHROMIUM}, {CHROMEDRIVER} and node_modules/axe-core \
             (scripts/test.sh installs them)"
        );
    }
    ok
}

fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js")
}

/// ChromeDriver and one Chromium session, ended on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    axe: String,
    pub viewport: Viewport,
    /// Where Chromium saves downloads (PDFs are downloaded, not shown).
    pub downloads: PathBuf,
    shots: PathBuf,
    shot_no: usize,
    /// Every page checked with axe (path, title).
    pub checked: Vec<String>,
}

impl Browser {
    pub async fn start(viewport: Viewport) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=it-IT".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let mut options = json!({ "binary": CHROMIUM, "prefs": {
            "download.default_directory": downloads.display().to_string(),
            "download.prompt_for_download": false,
            "plugins.always_open_pdf_externally": true,
        } });
        if viewport.phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": viewport.width, "height": viewport.height,
                                   "pixelRatio": 3.0, "mobile": true, "touch": true },
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
            });
        } else {
            args.push(format!(
                "--window-size={},{}",
                viewport.width, viewport.height
            ));
        }
        options["args"] = json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session");
        if !viewport.phone {
            // Make the viewport (not the window) the size asked for.
            let inner = client
                .execute("return [window.innerWidth, window.innerHeight];", vec![])
                .await
                .unwrap();
            let (iw, ih) = (
                inner[0].as_u64().unwrap_or(0) as u32,
                inner[1].as_u64().unwrap_or(0) as u32,
            );
            client
                .set_window_size(
                    viewport.width + viewport.width.saturating_sub(iw),
                    viewport.height + viewport.height.saturating_sub(ih),
                )
                .await
                .unwrap();
        }
        let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/browser-screenshots")
            .join(viewport.name);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            client,
            driver,
            _profile: profile,
            axe: std::fs::read_to_string(axe_path()).unwrap(),
            viewport,
            downloads,
            shots,
            shot_no: 0,
            checked: Vec::new(),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn path(&self) -> String {
        let u = self.client.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// The document's content type (what the browser was answered).
    pub async fn content_type(&self) -> String {
        self.js("return document.contentType;")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn h1(&self) -> String {
        self.js("const h = document.querySelector('h1'); return h ? h.innerText : '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn text(&self) -> String {
        self.js("return document.body ? document.body.innerText : '';")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let url = self.url().await;
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on {url}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        let url = self.url().await;
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on {url}: {e}"));
        self.press(el).await;
    }

    /// Clicks `el`; a link or a button loads a new page, which is waited for.
    async fn press(&self, el: fantoccini::elements::Element) {
        let navigates = matches!(el.tag_name().await.unwrap().as_str(), "a" | "button");
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'}); \
                 window.__procuraOld = true;",
                vec![serde_json::to_value(&el).unwrap()],
            )
            .await
            .unwrap();
        el.click().await.unwrap();
        if navigates {
            let started = Instant::now();
            loop {
                let done = self
                    .client
                    .execute(
                        "return !window.__procuraOld && document.readyState === 'complete';",
                        vec![],
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                if done {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "no new page after a click on {}",
                    self.url().await
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    }

    /// Clicks the link or button whose text contains `text`.
    pub async fn click_text(&self, text: &str) {
        let xpath = format!(
            "//*[self::a or self::button or self::summary][contains(normalize-space(.), \"{text}\")]"
        );
        let el = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("nothing to click saying {text:?}: {e}"));
        self.press(el).await;
    }

    /// Clicks the button saying `text` whose answer is a PDF (downloaded, not shown), and
    /// returns the file once Chromium has finished writing it (renamed to `*.pdf`).
    pub async fn download_by_clicking(&self, text: &str) -> PathBuf {
        let xpath = format!("//button[contains(normalize-space(.), \"{text}\")]");
        let el = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button saying {text:?}: {e}"));
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
                vec![serde_json::to_value(&el).unwrap()],
            )
            .await
            .unwrap();
        el.click().await.unwrap();
        let started = Instant::now();
        loop {
            let done: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
                .collect();
            if let [file] = done.as_slice() {
                return file.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no download after a click on {text:?}: {done:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page is HTML, has zero axe-core violations at WCAG 2.1 AA, and is kept as a
    /// screenshot (`target/browser-screenshots/<viewport>/NN-name.png`).
    /// axe-core's WCAG 2.1 A/AA violations on the page shown, one line each.
    pub async fn violations(&self) -> Vec<String> {
        self.client.execute(&self.axe, vec![]).await.unwrap();
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag',
                     values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                   .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help
                       + ' — ' + v.nodes.map(n => n.target.join(' ')).join(' | '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .unwrap();
        violations
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn check(&mut self, name: &str) {
        let ct = self.content_type().await;
        let url = self.url().await;
        assert_eq!(ct, "text/html", "{url} answered {ct} to a browser");
        let list = self.violations().await;
        self.shot_no += 1;
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(
            self.shots.join(format!("{:02}-{name}.png", self.shot_no)),
            png,
        )
        .unwrap();
        assert!(
            list.is_empty(),
            "{} at {}: axe-core WCAG 2.1 AA violations on {url}:\n{}",
            name,
            self.viewport.name,
            list.join("\n")
        );
        self.checked.push(format!("{name} {url}"));
    }

    pub async fn forget_cookies(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    /// Says how many pages `walk` checked with axe-core at this viewport, and closes.
    pub async fn finish(self, walk: &str) {
        eprintln!(
            "{walk} {}: {} pages checked with axe-core",
            self.viewport.name,
            self.checked.len()
        );
        self.close().await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
