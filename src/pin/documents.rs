//! Documents archived with a desk request (messaggio 4590/2016: the MV35 form and the scan
//! of the identity document; for representatives the decree or self-declaration). Their
//! content is checked, not their name: the bytes must be a PDF, JPEG or PNG from start to
//! end marker, and the stored SHA-256 lets anyone prove later which file was archived.

use sha2::{Digest, Sha256};

/// Why a document is archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Mod. MV35, the signed request form.
    Mv35,
    /// The identity document scan.
    IdDocument,
    /// A self-declaration (parental authority, or the representative's role).
    SelfDeclaration,
    /// The court decree appointing a tutore, curatore or amministratore di sostegno.
    Decree,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::Mv35,
        DocumentKind::IdDocument,
        DocumentKind::SelfDeclaration,
        DocumentKind::Decree,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Mv35 => "mv35",
            DocumentKind::IdDocument => "id_document",
            DocumentKind::SelfDeclaration => "self_declaration",
            DocumentKind::Decree => "decree",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Pdf,
    Jpeg,
    Png,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("the document is empty")]
    Empty,
    #[error("the document is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the document is not a PDF, JPEG or PNG file (or it is truncated)")]
    UnsupportedContent,
}

/// A document whose content was checked.
pub struct CheckedDocument {
    pub kind: DocumentKind,
    pub media_type: MediaType,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for CheckedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedDocument")
            .field("kind", &self.kind)
            .field("media_type", &self.media_type)
            .field("sha256", &self.sha256)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Checks `bytes` (already bounded by the upload limit) and hashes them.
pub fn check(
    kind: DocumentKind,
    bytes: Vec<u8>,
    max: usize,
) -> Result<CheckedDocument, DocumentError> {
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    if bytes.len() > max {
        return Err(DocumentError::TooLarge { max });
    }
    let media_type = sniff(&bytes).ok_or(DocumentError::UnsupportedContent)?;
    Ok(CheckedDocument {
        kind,
        media_type,
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes,
    })
}

/// The format the bytes are, judged by the signature at the start and the end marker.
pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    // IEND chunk: length 0, type, CRC.
    const PNG_END: &[u8] = b"\x00\x00\x00\x00IEND\xaeB`\x82";
    if bytes.starts_with(b"%PDF-") {
        // "%%EOF" within the last 1 KiB (trailing whitespace and incremental updates allowed).
        let tail = bytes
            .get(bytes.len().saturating_sub(1024)..)
            .unwrap_or_default();
        return tail
            .windows(5)
            .any(|w| w == b"%%EOF")
            .then_some(MediaType::Pdf);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let trimmed = trim_trailing_zeros(bytes);
        return trimmed.ends_with(&[0xFF, 0xD9]).then_some(MediaType::Jpeg);
    }
    if bytes.starts_with(PNG_SIGNATURE) && bytes.get(12..16) == Some(b"IHDR".as_slice()) {
        return bytes.ends_with(PNG_END).then_some(MediaType::Png);
    }
    None
}

/// Some scanners pad JPEG files after the end marker.
fn trim_trailing_zeros(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const TINY_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    pub const TINY_JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 0xFF, 0xD9,
    ];

    fn tiny_png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        v.extend_from_slice(&[0; 17]);
        v.extend_from_slice(b"\x00\x00\x00\x00IEND\xaeB`\x82");
        v
    }

    #[test]
    fn accepted_formats_by_content() {
        assert_eq!(sniff(TINY_PDF), Some(MediaType::Pdf));
        assert_eq!(sniff(TINY_JPEG), Some(MediaType::Jpeg));
        assert_eq!(sniff(&tiny_png()), Some(MediaType::Png));
        let mut padded = TINY_JPEG.to_vec();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(sniff(&padded), Some(MediaType::Jpeg));
    }

    #[test]
    fn other_or_truncated_content_is_refused() {
        for bad in [
            b"MZ\x90\x00 an executable".as_slice(),
            b"<html>%PDF-1.4</html>",
            b"%PDF-1.4 truncated",
            &TINY_JPEG[..6],
            &tiny_png()[..20],
            b"GIF89a",
        ] {
            assert_eq!(sniff(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn check_bounds_and_hashes() {
        let doc = check(DocumentKind::Mv35, TINY_PDF.to_vec(), 1024).unwrap();
        assert_eq!(doc.media_type, MediaType::Pdf);
        assert_eq!(doc.sha256, hex::encode(Sha256::digest(TINY_PDF)));
        assert_eq!(
            check(DocumentKind::Mv35, TINY_PDF.to_vec(), 10).unwrap_err(),
            DocumentError::TooLarge { max: 10 }
        );
        assert_eq!(
            check(DocumentKind::Mv35, vec![], 10).unwrap_err(),
            DocumentError::Empty
        );
        assert_eq!(
            check(DocumentKind::Decree, b"hello".to_vec(), 10).unwrap_err(),
            DocumentError::UnsupportedContent
        );
    }
}
