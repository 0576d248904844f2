//! Post: one PDF letter per recipient, written to the print spool with a manifest line for
//! the print provider. The letter is laid out for a window envelope (see [`WINDOW_X_MM`]).

use super::channel::{Outgoing, SendError, Sender, file_stem, io_error, write_once};
use super::pdf::{self, Font, Page};
use super::templates::{Block, Rendered, SIGNATURE};
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The recipient block sits where a right-hand window envelope shows it: the common Italian
/// "busta a finestra" (DL, 110 × 230 mm, window about 90 × 45 mm on the right) takes an A4
/// sheet folded in three with the address block starting about 110 mm from the left edge and
/// 50 mm from the top (the positions asked for by the print provider brief; check against the
/// provider's envelope specification before production).
pub const WINDOW_X_MM: f64 = 110.0;
pub const WINDOW_Y_MM: f64 = 50.0;
const LEFT_MM: f64 = 20.0;
const TEXT_WIDTH_MM: f64 = 170.0;
const BOTTOM_MM: f64 = 270.0;
const BODY_SIZE: f64 = 10.5;
const LEADING_MM: f64 = 5.0;

/// The sender block, top left (outside the window).
const SENDER: [&str; 3] = [
    "Istituto Nazionale della Previdenza Sociale",
    "Via Ciro il Grande, 21 - 00144 Roma",
    "www.inps.it - Contact Center 803 164 (rete fissa) - 06 164 164 (rete mobile)",
];

const MONTHS: [&str; 12] = [
    "gennaio",
    "febbraio",
    "marzo",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "agosto",
    "settembre",
    "ottobre",
    "novembre",
    "dicembre",
];

/// The letter as PDF bytes. `letter_code` (the spool file name) is printed in the footer so
/// that the provider and the contact centre can name a letter without its content.
pub fn letter_pdf(
    content: &Rendered,
    letter_code: &str,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, SendError> {
    let address = content.address.as_ref().ok_or_else(|| {
        SendError::Permanent("a letter needs params.address (a postal address)".into())
    })?;
    let mut done: Vec<Page> = Vec::new();
    let mut page = Page::default();
    let mut y;
    {
        fold_marks(&mut page);
        page.text(LEFT_MM, 20.0, Font::Bold, 16.0, "INPS");
        for (i, line) in SENDER.iter().enumerate() {
            page.text(LEFT_MM, 26.0 + 4.0 * i as f64, Font::Regular, 8.0, line);
        }
        // Poste Italiane asks for the last line in capitals: CAP, municipality, province.
        let last_line = format!(
            "{} {} {}",
            address.postal_code.trim(),
            address.municipality.trim().to_uppercase(),
            address.province.trim().to_uppercase()
        );
        let lines = [address.name.trim(), address.street.trim(), &last_line];
        for (i, line) in lines.iter().enumerate() {
            let size = 11.0;
            page.text(
                WINDOW_X_MM,
                WINDOW_Y_MM + 4.0 + 5.0 * i as f64,
                Font::Regular,
                size,
                line,
            );
        }
        let month = MONTHS
            .get(now.month0() as usize)
            .copied()
            .unwrap_or_default();
        let date = format!("Roma, {} {month} {}", now.day(), now.year());
        page.text(LEFT_MM, 105.0, Font::Regular, BODY_SIZE, &date);
        y = 115.0;
        for line in pdf::wrap(
            &format!("Oggetto: {}", content.subject),
            Font::Bold,
            BODY_SIZE,
            TEXT_WIDTH_MM,
        ) {
            page.text(LEFT_MM, y, Font::Bold, BODY_SIZE, &line);
            y += LEADING_MM;
        }
        if let Some(reference) = &content.reference {
            page.text(
                LEFT_MM,
                y,
                Font::Regular,
                BODY_SIZE,
                &format!("Riferimento della richiesta: {reference}"),
            );
            y += LEADING_MM;
        }
        y += 5.0;
        page.text(LEFT_MM, y, Font::Regular, BODY_SIZE, &content.greeting);
        y += LEADING_MM + 2.0;
    }

    let mut blocks: Vec<Block> = content.body.clone();
    blocks.push(Block::Text(SIGNATURE.replace('\n', " \u{1}")));
    for block in &blocks {
        match block {
            Block::Text(text) => {
                // \u{1} marks a forced line break (the signature).
                for part in text.split(" \u{1}") {
                    for line in pdf::wrap(part, Font::Regular, BODY_SIZE, TEXT_WIDTH_MM) {
                        if y > BOTTOM_MM {
                            new_page(&mut done, &mut page, &mut y, letter_code);
                        }
                        page.text(LEFT_MM, y, Font::Regular, BODY_SIZE, &line);
                        y += LEADING_MM;
                    }
                }
                y += 2.5;
            }
            Block::Secret => {
                if y + 22.0 > BOTTOM_MM {
                    new_page(&mut done, &mut page, &mut y, letter_code);
                }
                let secret = content.secret.as_deref().unwrap_or_default();
                // One space between characters, three between the groups of four: easy to
                // read aloud and to type, and nothing to confuse.
                let spaced = spaced(secret);
                let size = 22.0;
                let width = pdf::text_width_mm(&spaced, Font::Mono, size);
                let x = LEFT_MM + (TEXT_WIDTH_MM - width) / 2.0;
                page.rect(x - 6.0, y, width + 12.0, 16.0, 1.0);
                page.text(x, y + 11.0, Font::Mono, size, &spaced);
                y += 22.0;
            }
        }
    }
    footer(&mut page, letter_code, done.len() + 1);
    done.push(page);
    Ok(pdf::document(&done, &content.subject))
}

fn spaced(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|group| {
            group
                .iter()
                .map(char::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("   ")
}

fn new_page(done: &mut Vec<Page>, page: &mut Page, y: &mut f64, code: &str) {
    footer(page, code, done.len() + 1);
    done.push(std::mem::take(page));
    fold_marks(page);
    *y = 25.0;
}

/// Fold marks for the three-panel fold of a DL envelope (99 and 198 mm from the top).
fn fold_marks(page: &mut Page) {
    page.line(4.0, 99.0, 9.0, 99.0, 0.3);
    page.line(4.0, 198.0, 9.0, 198.0, 0.3);
}

fn footer(page: &mut Page, code: &str, page_no: usize) {
    page.line(LEFT_MM, 280.0, LEFT_MM + TEXT_WIDTH_MM, 280.0, 0.3);
    page.text(
        LEFT_MM,
        285.0,
        Font::Regular,
        7.0,
        &format!("Lettera generata automaticamente - codice {code} - pagina {page_no}"),
    );
}

/// `live` post: the letter goes to `print_spool_dir/<key>.pdf`, and a line describing it
/// (never its secret) to `print_spool_dir/manifest.jsonl`, where the provider picks it up.
pub struct PrintSpool {
    dir: PathBuf,
}

/// One line of the manifest.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    pub file: String,
    pub sha256: String,
    pub addressee: String,
    pub postal_code: String,
    pub municipality: String,
    pub province: String,
    pub reference: Option<String>,
    pub idempotency_key: String,
    pub created_at: String,
}

pub const MANIFEST: &str = "manifest.jsonl";

impl PrintSpool {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }
}

impl Sender for PrintSpool {
    fn send(&self, msg: &Outgoing<'_>) -> Result<(), SendError> {
        let stem = file_stem(msg.idempotency_key);
        let file = format!("{stem}.pdf");
        let path = self.dir.join(&file);
        // A resend after a crash: keep the letter already spooled (the provider may have
        // read its checksum) and only make sure the manifest names it.
        if !path.exists() {
            let bytes = letter_pdf(msg.content, &stem, msg.now)?;
            write_once(&path, &bytes).map_err(|e| io_error("the letter", &path, &e))?;
        }
        let manifest = self.dir.join(MANIFEST);
        if manifest_names(&manifest, &file).map_err(|e| io_error("the manifest", &manifest, &e))? {
            return Ok(());
        }
        let sha256 = file_sha256(&path).map_err(|e| io_error("the letter", &path, &e))?;
        let address = msg.content.address.as_ref().ok_or_else(|| {
            SendError::Permanent("a letter needs params.address (a postal address)".into())
        })?;
        let entry = ManifestEntry {
            file,
            sha256,
            addressee: address.name.clone(),
            postal_code: address.postal_code.clone(),
            municipality: address.municipality.clone(),
            province: address.province.clone(),
            reference: msg.content.reference.clone(),
            idempotency_key: msg.idempotency_key.to_owned(),
            created_at: msg.now.to_rfc3339(),
        };
        let mut line = serde_json::to_string(&entry)
            .map_err(|e| SendError::Permanent(format!("manifest entry: {e}")))?;
        line.push('\n');
        // One write of one line with O_APPEND: lines from several dispatchers never interleave.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&manifest)
            .map_err(|e| io_error("the manifest", &manifest, &e))?;
        f.write_all(line.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| io_error("the manifest", &manifest, &e))
    }
}

/// Whether the manifest already has a line for `file` (read line by line: it only grows).
fn manifest_names(manifest: &Path, file: &str) -> std::io::Result<bool> {
    let f = match std::fs::File::open(manifest) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(f).lines() {
        let line = line?;
        if let Ok(entry) = serde_json::from_str::<ManifestEntry>(&line)
            && entry.file == file
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_spaced_in_groups_of_four() {
        assert_eq!(spaced("K7QM2XHT"), "K 7 Q M   2 X H T");
    }
}
