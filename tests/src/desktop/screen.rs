//! Pixels of screenshots: a PNG read through ImageMagick (`convert FILE -depth 8 ppm:-`, a
//! binary PPM parsed here), counted or located by colour.
//!
//! # Colour matching
//!
//! A pixel matches `rgb` with `fuzz_percent` when each of its channels is within
//! `fuzz_percent` % of 255 of the wanted value: 0 means exactly that colour; a few percent absorbs
//! the panel's scaling and blending at an icon's edges.

use std::path::Path;
use std::process::{Command, Stdio};

/// An 8-bit RGB image.
#[derive(Clone, Debug)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// Row-major, three bytes per pixel.
    pub rgb: Vec<u8>,
}

/// Where pixels of a colour lie on an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelBox {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
    /// How many pixels inside the box match.
    pub count: usize,
}

impl PixelBox {
    /// The middle of the box, in screen coordinates.
    pub fn centre(&self) -> (usize, usize) {
        (self.x + self.width / 2, self.y + self.height / 2)
    }

    /// The first row below the box.
    pub fn bottom(&self) -> usize {
        self.y + self.height
    }
}

impl Image {
    /// Reads `png` (any format ImageMagick reads).
    pub fn read(png: &Path) -> Image {
        let out = Command::new("convert")
            .arg(png)
            .args(["-depth", "8", "ppm:-"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run convert (ImageMagick) on {}: {e}", png.display()));
        assert!(
            out.status.success(),
            "convert {} failed: {}",
            png.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Image::from_ppm(&out.stdout)
            .unwrap_or_else(|e| panic!("convert's PPM of {}: {e}", png.display()))
    }

    /// Parses a binary PPM (`P6`, maximum value 255).
    pub fn from_ppm(bytes: &[u8]) -> Result<Image, String> {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while at < bytes.len() && bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            if bytes.get(at) == Some(&b'#') {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
                continue;
            }
            let start = at;
            while at < bytes.len() && !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            if start == at {
                return Err("truncated header".into());
            }
            fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
        }
        // Exactly one whitespace byte separates the header from the pixels.
        at += 1;
        if fields[0] != "P6" || fields[3] != "255" {
            return Err(format!("not an 8-bit binary PPM: {fields:?}"));
        }
        let number = |s: &String| s.parse::<usize>().map_err(|e| format!("{s:?}: {e}"));
        let (width, height) = (number(&fields[1])?, number(&fields[2])?);
        let rgb = bytes.get(at..).unwrap_or_default().to_vec();
        if rgb.len() != width * height * 3 {
            return Err(format!(
                "{width}x{height} needs {} bytes of pixels, got {}",
                width * height * 3,
                rgb.len()
            ));
        }
        Ok(Image { width, height, rgb })
    }

    /// The coordinates of every pixel that matches.
    fn matching(
        &self,
        rgb: (u8, u8, u8),
        fuzz_percent: u8,
    ) -> impl Iterator<Item = (usize, usize)> {
        let tolerance = u16::from(fuzz_percent.min(100)) * 255 / 100;
        let wanted = [rgb.0, rgb.1, rgb.2];
        let width = self.width;
        self.rgb
            .chunks_exact(3)
            .enumerate()
            .filter(move |(_, px)| {
                px.iter()
                    .zip(wanted)
                    .all(|(&have, want)| u16::from(have.abs_diff(want)) <= tolerance)
            })
            .map(move |(i, _)| (i % width, i / width))
    }

    pub fn count(&self, rgb: (u8, u8, u8), fuzz_percent: u8) -> usize {
        self.matching(rgb, fuzz_percent).count()
    }

    /// The bounding box of the matching pixels, if any.
    pub fn locate(&self, rgb: (u8, u8, u8), fuzz_percent: u8) -> Option<PixelBox> {
        let mut found: Option<(usize, usize, usize, usize, usize)> = None;
        for (x, y) in self.matching(rgb, fuzz_percent) {
            let (x0, y0, x1, y1, n) = found.unwrap_or((x, y, x, y, 0));
            found = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y), n + 1));
        }
        found.map(|(x0, y0, x1, y1, count)| PixelBox {
            x: x0,
            y: y0,
            width: x1 - x0 + 1,
            height: y1 - y0 + 1,
            count,
        })
    }
}

/// How many pixels of `png` match `rgb` (see the module doc for `fuzz_percent`).
pub fn count_pixels(png: &Path, rgb: (u8, u8, u8), fuzz_percent: u8) -> usize {
    Image::read(png).count(rgb, fuzz_percent)
}

/// The bounding box of the pixels of `png` that match `rgb`, if any.
pub fn locate_colour(png: &Path, rgb: (u8, u8, u8), fuzz_percent: u8) -> Option<PixelBox> {
    Image::read(png).locate(rgb, fuzz_percent)
}

/// Saves the `width` x `height` region of `png` at (`x`, `y`) as `out` (a PNG).
pub fn crop(png: &Path, out: &Path, (x, y): (usize, usize), (width, height): (usize, usize)) {
    let status = Command::new("convert")
        .arg(png)
        .arg("-crop")
        .arg(format!("{width}x{height}+{x}+{y}"))
        .arg("+repage")
        .arg(out)
        .stdin(Stdio::null())
        .status()
        .expect("run convert (ImageMagick)");
    assert!(status.success(), "convert -crop {} failed", png.display());
}

/// Parses `#RRGGBB` (or `RRGGBB`).
pub fn hex_colour(hex: &str) -> (u8, u8, u8) {
    let hex = hex.trim_start_matches('#');
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| panic!("not a #RRGGBB colour: {hex:?}"))
    };
    assert_eq!(hex.len(), 6, "not a #RRGGBB colour: {hex:?}");
    (byte(0), byte(2), byte(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_pixels_are_counted_and_located_with_fuzz() {
        // 3x2: green, near-green, black / black, green, white.
        let mut ppm = b"P6\n# a comment\n3 2\n255\n".to_vec();
        ppm.extend_from_slice(&[
            0x1E, 0x9E, 0x4A, 0x22, 0x9A, 0x4A, 0, 0, 0, //
            0, 0, 0, 0x1E, 0x9E, 0x4A, 255, 255, 255,
        ]);
        let image = Image::from_ppm(&ppm).unwrap();
        let green = hex_colour("#1E9E4A");
        assert_eq!(image.count(green, 0), 2);
        assert_eq!(image.count(green, 3), 3);
        assert_eq!(
            image.locate(green, 3),
            Some(PixelBox {
                x: 0,
                y: 0,
                width: 2,
                height: 2,
                count: 3
            })
        );
        assert_eq!(image.locate((1, 2, 3), 0), None);
        assert!(Image::from_ppm(b"P6\n3 2\n255\n\x00").is_err());
        assert!(Image::from_ppm(b"P3\n1 1\n255\n").is_err());
    }
}
