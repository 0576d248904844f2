//! The static files procura serves itself: Bootstrap Italia's stylesheet, the Titillium Web
//! typeface and the icon sprite (from the npm package `bootstrap-italia`, installed by
//! `scripts/assets.sh` with `npm ci` into `node_modules/` and never committed), and procura's
//! own stylesheet (compiled in).
//!
//! They are read once at start-up from `web.assets_dir` and kept in memory (about 0.9 MB,
//! plus a gzip copy of the text files). Each is served at `/static/<name>.<hash>.<ext>`, the
//! hash being the first 16 hex digits of the SHA-256 of its content, with a one-year
//! `immutable` cache lifetime: a new package version gives new URLs, and an old URL is never
//! answered with different bytes. Missing files are not fatal: the service starts, logs what
//! to run, and the pages fall back to the browser's styles (they stay usable).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// procura's own stylesheet: the SPID button, the focus ring, small layout helpers.
const PROCURA_CSS: &str = include_str!("procura.css");

/// The Titillium Web weights the pages use (as in Bootstrap Italia's own font loader).
const FONTS: &[(&str, &str, &str)] = &[
    (
        "300",
        "normal",
        "titillium-web-v10-latin-ext_latin-300.woff2",
    ),
    (
        "400",
        "normal",
        "titillium-web-v10-latin-ext_latin-regular.woff2",
    ),
    (
        "400",
        "italic",
        "titillium-web-v10-latin-ext_latin-italic.woff2",
    ),
    (
        "600",
        "normal",
        "titillium-web-v10-latin-ext_latin-600.woff2",
    ),
    (
        "700",
        "normal",
        "titillium-web-v10-latin-ext_latin-700.woff2",
    ),
];

/// One served file.
struct Asset {
    body: web::Bytes,
    /// The same bytes gzipped, for text files that shrink.
    gzip: Option<web::Bytes>,
    content_type: &'static str,
}

/// Every static file, by its fingerprinted name, and the URLs the pages link to.
pub struct Assets {
    files: HashMap<String, Asset>,
    /// `/static/bootstrap-italia.<hash>.min.css`, when the package is installed.
    pub bootstrap_css: Option<String>,
    /// `/static/procura.<hash>.css` (always).
    pub procura_css: String,
    /// `/static/sprites.<hash>.svg`, when the package is installed.
    pub sprites: Option<String>,
}

/// Why the Bootstrap Italia files could not be read (the service starts anyway).
#[derive(Debug, thiserror::Error)]
#[error(
    "Bootstrap Italia assets not found in {dir} ({cause}): pages are served without the \
     INPS look. Install them with `scripts/assets.sh` (npm ci), or set web.assets_dir to the \
     `dist` directory of the bootstrap-italia npm package"
)]
pub struct MissingAssets {
    pub dir: String,
    pub cause: String,
}

fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
        .chars()
        .take(16)
        .collect()
}

fn gzip(bytes: &[u8]) -> Option<web::Bytes> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).ok()?;
    let out = enc.finish().ok()?;
    (out.len() < bytes.len()).then(|| web::Bytes::from(out))
}

impl Assets {
    /// Reads the package files under `dir` (Bootstrap Italia's `dist`). Returns the assets,
    /// and the reason when the package files are missing (then only procura's own
    /// stylesheet is served).
    pub fn load(dir: &Path) -> (Self, Option<MissingAssets>) {
        let mut assets = Self {
            files: HashMap::new(),
            bootstrap_css: None,
            procura_css: String::new(),
            sprites: None,
        };
        let missing = match assets.load_package(dir) {
            Ok(()) => None,
            Err(cause) => {
                assets.files.clear();
                assets.bootstrap_css = None;
                assets.sprites = None;
                Some(MissingAssets {
                    dir: dir.display().to_string(),
                    cause,
                })
            }
        };
        let fonts: Vec<(&str, &str, String)> = FONTS
            .iter()
            .filter_map(|(weight, style, file)| {
                let url = assets
                    .files
                    .keys()
                    .find(|k| k.starts_with(&format!("{}.", font_stem(file))))?;
                Some((*weight, *style, format!("/static/{url}")))
            })
            .collect();
        let css = procura_stylesheet(&fonts);
        assets.procura_css = assets.add("procura", "css", css.into_bytes(), "text/css");
        (assets, missing)
    }

    fn load_package(&mut self, dir: &Path) -> Result<(), String> {
        let read = |rel: &str| {
            let path = dir.join(rel);
            std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
        };
        let css = read("css/bootstrap-italia.min.css")?;
        self.bootstrap_css = Some(self.add(
            "bootstrap-italia.min",
            "css",
            css,
            "text/css; charset=utf-8",
        ));
        let sprites = read("svg/sprites.svg")?;
        self.sprites = Some(self.add("sprites", "svg", sprites, "image/svg+xml"));
        for (_, _, file) in FONTS {
            let bytes = read(&format!("fonts/Titillium_Web/{file}"))?;
            self.add(&font_stem(file), "woff2", bytes, "font/woff2");
        }
        Ok(())
    }

    /// Stores `bytes` as `<stem>.<hash>.<ext>`; returns the URL path.
    fn add(&mut self, stem: &str, ext: &str, bytes: Vec<u8>, content_type: &'static str) -> String {
        let name = format!("{stem}.{}.{ext}", fingerprint(&bytes));
        let gz = if content_type.starts_with("font/") {
            None
        } else {
            gzip(&bytes)
        };
        self.files.insert(
            name.clone(),
            Asset {
                body: web::Bytes::from(bytes),
                gzip: gz,
                content_type,
            },
        );
        format!("/static/{name}")
    }

    /// Answers `GET /static/{file}`.
    pub fn serve(&self, req: &HttpRequest, file: &str) -> Option<HttpResponse> {
        let asset = self.files.get(file)?;
        let accepts_gzip = req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut resp = HttpResponse::Ok();
        resp.insert_header((header::CONTENT_TYPE, asset.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header((header::VARY, "Accept-Encoding"));
        Some(match &asset.gzip {
            Some(gz) if accepts_gzip => resp
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(gz.clone()),
            _ => resp.body(asset.body.clone()),
        })
    }
}

/// `titillium-web-v10-latin-ext_latin-300.woff2` → `titillium-web-300`.
fn font_stem(file: &str) -> String {
    let variant = file
        .trim_end_matches(".woff2")
        .rsplit('-')
        .next()
        .unwrap_or("regular");
    format!("titillium-web-{variant}")
}

/// procura's stylesheet with the `@font-face` rules for the fonts that were found.
fn procura_stylesheet(fonts: &[(&str, &str, String)]) -> String {
    let mut css = String::new();
    for (weight, style, url) in fonts {
        css.push_str(&format!(
            "@font-face{{font-family:\"Titillium Web\";font-style:{style};font-weight:{weight};\
             font-display:swap;src:url(\"{url}\") format(\"woff2\")}}\n"
        ));
    }
    css.push_str(PROCURA_CSS);
    css
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_package_still_serves_procura_css() {
        let (assets, missing) = Assets::load(Path::new("/nonexistent/dist"));
        assert!(missing.is_some_and(|m| m.to_string().contains("scripts/assets.sh")));
        assert!(assets.bootstrap_css.is_none());
        assert!(assets.procura_css.starts_with("/static/procura."));
        assert_eq!(assets.files.len(), 1);
    }

    #[test]
    fn names_are_content_hashes() {
        assert_eq!(fingerprint(b"a"), fingerprint(b"a"));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
        assert_eq!(fingerprint(b"a").len(), 16);
        assert_eq!(
            font_stem("titillium-web-v10-latin-ext_latin-600.woff2"),
            "titillium-web-600"
        );
        assert_eq!(
            font_stem("titillium-web-v10-latin-ext_latin-regular.woff2"),
            "titillium-web-regular"
        );
    }
}
