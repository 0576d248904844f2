//! A minimal PDF 1.4 writer for letters: A4 pages, text in the standard 14 fonts
//! (Helvetica, Helvetica-Bold, Courier-Bold; no embedding needed) with WinAnsiEncoding so
//! Italian accents render, and thin lines. A letter is a few kilobytes, so it is built in
//! memory; no dependency on a PDF library.

use std::fmt::Write as _;

pub const A4_WIDTH_PT: f64 = 595.28;
pub const A4_HEIGHT_PT: f64 = 841.89;
const PT_PER_MM: f64 = 72.0 / 25.4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }
}

/// A page under construction, positioned in millimetres from the top-left corner (as
/// envelope windows and fold marks are specified).
#[derive(Default)]
pub struct Page {
    ops: String,
}

impl Page {
    pub fn text(&mut self, x_mm: f64, y_mm: f64, font: Font, size: f64, text: &str) {
        let (x, y) = (mm(x_mm), A4_HEIGHT_PT - mm(y_mm));
        let _ = writeln!(
            self.ops,
            "BT /{} {size:.1} Tf {x:.2} {y:.2} Td ({}) Tj ET",
            font.resource(),
            pdf_string(text)
        );
    }

    pub fn line(&mut self, x1_mm: f64, y1_mm: f64, x2_mm: f64, y2_mm: f64, width_pt: f64) {
        let _ = writeln!(
            self.ops,
            "{width_pt:.2} w {:.2} {:.2} m {:.2} {:.2} l S",
            mm(x1_mm),
            A4_HEIGHT_PT - mm(y1_mm),
            mm(x2_mm),
            A4_HEIGHT_PT - mm(y2_mm)
        );
    }

    pub fn rect(&mut self, x_mm: f64, y_mm: f64, w_mm: f64, h_mm: f64, width_pt: f64) {
        let _ = writeln!(
            self.ops,
            "{width_pt:.2} w {:.2} {:.2} {:.2} {:.2} re S",
            mm(x_mm),
            A4_HEIGHT_PT - mm(y_mm + h_mm),
            mm(w_mm),
            mm(h_mm)
        );
    }
}

pub fn mm(v: f64) -> f64 {
    v * PT_PER_MM
}

/// The width of `text` in millimetres at `size` points.
pub fn text_width_mm(text: &str, font: Font, size: f64) -> f64 {
    let units: u32 = text
        .chars()
        .map(|c| match font {
            Font::Mono => 600,
            Font::Regular | Font::Bold => helvetica_width(c),
        })
        .sum();
    f64::from(units) * size / 1000.0 / PT_PER_MM
}

/// Splits `text` into lines no wider than `width_mm`.
pub fn wrap(text: &str, font: Font, size: f64, width_mm: f64) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width_mm(&candidate, font, size) > width_mm {
            lines.push(std::mem::replace(&mut line, word.to_owned()));
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The whole document.
pub fn document(pages: &[Page], title: &str) -> Vec<u8> {
    // Objects: 1 catalog, 2 pages, 3-5 fonts, 6 info, then a page and its content per page.
    let first_page = 7;
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    let mut objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
        font_object("Helvetica"),
        font_object("Helvetica-Bold"),
        font_object("Courier-Bold"),
        format!("<< /Producer (procura) /Title ({}) >>", pdf_string(title)).into_bytes(),
    ];
    for (i, page) in pages.iter().enumerate() {
        let content = first_page + 2 * i + 1;
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4_WIDTH_PT} {A4_HEIGHT_PT}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >> \
                 /Contents {content} 0 R >>"
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", page.ops.len()).into_bytes();
        stream.extend_from_slice(page.ops.as_bytes());
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    // A binary comment after the header tells transfer tools the file is binary.
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

fn font_object(base: &str) -> Vec<u8> {
    format!("<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>")
        .into_bytes()
}

/// A PDF literal string in WinAnsiEncoding, every non-ASCII byte as an octal escape so the
/// content stream stays ASCII. Characters outside WinAnsi become `?`.
fn pdf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match winansi(c) {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(c);
            }
            b @ 0x20..=0x7e => out.push(char::from(b)),
            b => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out
}

fn winansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        // WinAnsi agrees with Latin-1 from 0xA0 on.
        '\u{a0}'..='\u{ff}' => c as u8,
        '€' => 0x80,
        '…' => 0x85,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        _ => b'?',
    }
}

/// Helvetica advance widths (Adobe AFM, 1/1000 em); Bold is close enough for wrapping.
fn helvetica_width(c: char) -> u32 {
    const ASCII: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
        278, // ' '..'/'
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584,
        556, // '0'..'?'
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722,
        778, // '@'..'O'
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
        556, // 'P'..'_'
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556,
        556, // '`'..'o'
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 'p'..'~'
    ];
    let base = match c {
        'à' | 'á' | 'è' | 'é' | 'ò' | 'ó' | 'ù' | 'ú' => 'a',
        'ì' | 'í' => 'i',
        'À' | 'È' | 'É' => 'E',
        'Ì' => 'I',
        'Ò' => 'O',
        'Ù' => 'U',
        other => other,
    };
    (base as usize)
        .checked_sub(0x20)
        .and_then(|i| ASCII.get(i))
        .map_or(556, |w| u32::from(*w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_are_winansi_octal_escapes_and_parentheses_are_escaped() {
        assert_eq!(pdf_string("è (ok) \\"), "\\350 \\(ok\\) \\\\");
        assert_eq!(pdf_string("€ ☃"), "\\200 ?");
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let mut page = Page::default();
        page.text(20.0, 20.0, Font::Regular, 11.0, "Ciao, è una prova");
        let pdf = document(&[page], "prova");
        let tail_at = pdf.windows(9).rposition(|w| w == b"startxref").unwrap();
        let tail = std::str::from_utf8(&pdf[tail_at..]).unwrap();
        let start: usize = tail.lines().nth(1).unwrap().parse().unwrap();
        assert!(pdf[start..].starts_with(b"xref"));
        let text = std::str::from_utf8(&pdf[start..]).unwrap();
        let entries: Vec<&str> = text.lines().skip(3).take(8).collect();
        for (i, e) in entries.iter().enumerate() {
            let off: usize = e[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }

    #[test]
    fn wrapping_respects_the_width() {
        let lines = wrap(&"parola ".repeat(60), Font::Regular, 11.0, 170.0);
        assert!(lines.len() > 1);
        assert!(
            lines
                .iter()
                .all(|l| text_width_mm(l, Font::Regular, 11.0) <= 170.0)
        );
    }
}
