//! The tray's pictures: one PNG per [`IconState`], embedded in the binary from
//! `assets/icons/png/64/`, decoded to RGBA for the tray and written out as files for
//! notifications (which name their icon by path).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use crate::model::IconState;

/// An image as 8-bit RGBA rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Why an embedded picture could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IconError {
    #[error("cannot decode the {state} icon: {source}")]
    Decode {
        state: &'static str,
        source: png::DecodingError,
    },
    #[error("the {state} icon is not 8-bit RGBA")]
    Format { state: &'static str },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The PNG of `state`, as shipped in `assets/`.
pub fn png(state: IconState) -> &'static [u8] {
    match state {
        IconState::Ok => include_bytes!("../../../assets/icons/png/64/ecr-tray-ok.png"),
        IconState::Expiring => include_bytes!("../../../assets/icons/png/64/ecr-tray-expiring.png"),
        IconState::Refreshing => {
            include_bytes!("../../../assets/icons/png/64/ecr-tray-refreshing.png")
        }
        IconState::Error => include_bytes!("../../../assets/icons/png/64/ecr-tray-error.png"),
        IconState::Unconfigured => {
            include_bytes!("../../../assets/icons/png/64/ecr-tray-unconfigured.png")
        }
    }
}

/// The picture of `state` as RGBA.
pub fn rgba(state: IconState) -> Result<Rgba, IconError> {
    let name = state.name();
    let decode = |source| IconError::Decode {
        state: name,
        source,
    };
    let mut decoder = png::Decoder::new(Cursor::new(png(state)));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(decode)?;
    let size = reader
        .output_buffer_size()
        .ok_or(IconError::Format { state: name })?;
    let mut pixels = vec![0; size];
    let info = reader.next_frame(&mut pixels).map_err(decode)?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(IconError::Format { state: name });
    }
    pixels.truncate(info.buffer_size());
    Ok(Rgba {
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// Writes the PNG of `state` into `dir` (unless the same bytes are there) and returns its path.
pub fn file(state: IconState, dir: &Path) -> Result<PathBuf, IconError> {
    let path = dir.join(format!("ecr-tray-{}.png", state.name()));
    let bytes = png(state);
    if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
        return Ok(path);
    }
    let write = |source| IconError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write)?;
    std::fs::write(&path, bytes).map_err(write)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The badge colours of `assets/README.md`, which the desktop tests look for on screen.
    fn badge(state: IconState) -> [u8; 3] {
        match state {
            IconState::Ok => [0x1E, 0x9E, 0x4A],
            IconState::Expiring => [0xF2, 0x99, 0x00],
            IconState::Refreshing => [0x1E, 0x88, 0xE5],
            IconState::Error => [0xD9, 0x30, 0x25],
            IconState::Unconfigured => [0x8A, 0x8A, 0x8A],
        }
    }

    fn count(image: &Rgba, colour: [u8; 3]) -> usize {
        image
            .pixels
            .chunks_exact(4)
            .filter(|p| p[..3] == colour && p[3] == 0xFF)
            .count()
    }

    #[test]
    fn every_state_decodes_to_a_square_rgba_image_with_its_own_badge() {
        for state in IconState::ALL {
            let image = rgba(state).unwrap();
            assert_eq!((image.width, image.height), (64, 64), "{state:?}");
            assert_eq!(image.pixels.len(), 64 * 64 * 4);
            assert!(count(&image, badge(state)) > 100, "{state:?} badge");
            for other in IconState::ALL.into_iter().filter(|o| *o != state) {
                assert_eq!(count(&image, badge(other)), 0, "{other:?} in {state:?}");
            }
        }
    }

    #[test]
    fn files_are_written_once_and_rewritten_when_different() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(IconState::Error, &dir.path().join("icons")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), png(IconState::Error));
        std::fs::write(&path, b"stale").unwrap();
        let again = file(IconState::Error, &dir.path().join("icons")).unwrap();
        assert_eq!(again, path);
        assert_eq!(std::fs::read(&path).unwrap(), png(IconState::Error));
    }
}
