//! The lines `docker-credential-ecr mirror` prints per image when stdout is not a terminal, read
//! strictly: a line that does not have exactly the documented shape is an error, not a guess.
//!
//! ```text
//! {source} -> {target} {digest} copied {k}/{n} blobs ({bytes} bytes), {m}/{mm} manifests in {secs} s
//! {source} -> {target} {digest} up to date
//! ```

/// One image's line.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorLine {
    pub source: String,
    pub target: String,
    pub digest: String,
    pub outcome: Outcome,
}

/// What the mirror did for that image.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Copied {
        blobs_copied: u64,
        blobs: u64,
        bytes: u64,
        manifests_copied: u64,
        manifests: u64,
        secs: f64,
    },
    UpToDate,
}

impl MirrorLine {
    /// Reads one line (without its newline).
    pub fn parse(line: &str) -> Result<MirrorLine, String> {
        let bad = |why: &str| format!("{why}: {line:?}");
        let (source, rest) = line.split_once(" -> ").ok_or_else(|| bad("no ` -> `"))?;
        let words: Vec<&str> = rest.split(' ').collect();
        let [target, digest, outcome @ ..] = words.as_slice() else {
            return Err(bad("no target and digest"));
        };
        if !is_digest(digest) {
            return Err(bad("not a sha256 digest after the target"));
        }
        let outcome = match outcome {
            ["up", "to", "date"] => Outcome::UpToDate,
            [
                "copied",
                blobs,
                "blobs",
                bytes,
                "bytes),",
                manifests,
                "manifests",
                "in",
                secs,
                "s",
            ] => {
                let (blobs_copied, blobs) = fraction(blobs).ok_or_else(|| bad("blobs k/n"))?;
                let bytes = bytes
                    .strip_prefix('(')
                    .and_then(number)
                    .ok_or_else(|| bad("(bytes"))?;
                let (manifests_copied, manifests) =
                    fraction(manifests).ok_or_else(|| bad("manifests m/mm"))?;
                let secs = seconds(secs).ok_or_else(|| bad("seconds"))?;
                Outcome::Copied {
                    blobs_copied,
                    blobs,
                    bytes,
                    manifests_copied,
                    manifests,
                    secs,
                }
            }
            _ => return Err(bad("neither `copied ...` nor `up to date`")),
        };
        if source.is_empty() || target.is_empty() {
            return Err(bad("an empty reference"));
        }
        Ok(MirrorLine {
            source: source.to_string(),
            target: target.to_string(),
            digest: digest.to_string(),
            outcome,
        })
    }

    /// Every line of `stdout`, each of which must parse.
    pub fn parse_all(stdout: &str) -> Result<Vec<MirrorLine>, String> {
        stdout.lines().map(MirrorLine::parse).collect()
    }
}

fn is_digest(word: &str) -> bool {
    word.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A plain decimal integer (no sign, no separators).
fn number(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// `k/n` with k <= n.
fn fraction(word: &str) -> Option<(u64, u64)> {
    let (k, n) = word.split_once('/')?;
    let (k, n) = (number(k)?, number(n)?);
    (k <= n).then_some((k, n))
}

/// A duration in seconds written as digits with at most one decimal point.
fn seconds(word: &str) -> Option<f64> {
    let (whole, fraction) = word.split_once('.').unwrap_or((word, "0"));
    number(whole)?;
    number(fraction)?;
    word.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_copied_line_is_read_field_by_field() {
        let line = format!(
            "SRC/vendor/app:1.0 -> DST/acme/app:1.0 {DIGEST} copied 2/3 blobs (1048576 bytes), 1/1 manifests in 0.4 s"
        );
        assert_eq!(
            MirrorLine::parse(&line),
            Ok(MirrorLine {
                source: "SRC/vendor/app:1.0".into(),
                target: "DST/acme/app:1.0".into(),
                digest: DIGEST.into(),
                outcome: Outcome::Copied {
                    blobs_copied: 2,
                    blobs: 3,
                    bytes: 1048576,
                    manifests_copied: 1,
                    manifests: 1,
                    secs: 0.4,
                },
            })
        );
    }

    #[test]
    fn an_up_to_date_line_is_read() {
        let line = format!("S/a:1 -> T/a:1 {DIGEST} up to date");
        assert_eq!(
            MirrorLine::parse(&line).map(|l| l.outcome),
            Ok(Outcome::UpToDate)
        );
    }

    #[test]
    fn lines_of_another_shape_are_refused() {
        for line in [
            format!("S/a:1 -> T/a:1 {DIGEST} copied 2/3 blobs, 1/1 manifests in 0.4 s"),
            format!("S/a:1 -> T/a:1 {DIGEST} copied 4/3 blobs (1 bytes), 1/1 manifests in 0.4 s"),
            format!("S/a:1 -> T/a:1 {DIGEST} copied 2/3 blobs (1 bytes), 1/1 manifests in 0.4s"),
            format!("S/a:1 -> T/a:1 {DIGEST} up to date."),
            format!("S/a:1 => T/a:1 {DIGEST} up to date"),
            "S/a:1 -> T/a:1 sha256:abc up to date".to_string(),
            format!("S/a:1 -> T/a:1  {DIGEST} up to date"),
        ] {
            assert!(MirrorLine::parse(&line).is_err(), "accepted {line:?}");
        }
    }
}
