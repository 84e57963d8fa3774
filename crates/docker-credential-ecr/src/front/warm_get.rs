//! A warm `get`: read the address, answer from the cache if its token is fresh (an ECR host's,
//! or for an alias in the product config its registry's).

use std::io::{Read, Write};

use ecr_model::clock::SystemClock;
use ecr_model::helper_protocol::{self, CredentialsAnswer, ECR_USERNAME, MAX_INPUT, NOT_FOUND};
use ecr_model::paths::Paths;
use ecr_model::registry::Registry;
use ecr_model::warm::AliasLookup;

/// What the warm path did.
pub enum Outcome {
    /// The answer is on stdout.
    Answered,
    /// Stdout refused the answer: nothing more can be said there.
    WriteFailed,
    /// "Not found" is on stdout: exit 1, as the full program does.
    NotFound,
    /// Stdin could not be read to its end: this line is the answer (the full program's).
    ReadFailed(String),
    /// The full program must answer; this is what was read from stdin.
    HandOff(Vec<u8>),
}

/// Answers the `get` on stdin from the cache, or gives back what it read.
pub fn answer() -> Outcome {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin()
        .lock()
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut input)
    {
        return Outcome::ReadFailed(format!("cannot read stdin: {e}"));
    }
    if input.len() > MAX_INPUT {
        // The full program refuses it, in its own words.
        return Outcome::HandOff(input);
    }
    let Some(address) = std::str::from_utf8(&input)
        .ok()
        .and_then(|text| helper_protocol::server_address(text).ok())
        .map(str::to_string)
    else {
        return Outcome::HandOff(input);
    };
    // An ECR host, or else maybe an alias of one in the product config.
    let registry = Registry::parse(&address).ok();
    let Some(paths) = Paths::for_current_user() else {
        return Outcome::HandOff(input);
    };
    let env = |name: &str| std::env::var(name).ok();
    let token = match &registry {
        Some(registry) => {
            crate::guard::arm(&address);
            ecr_model::warm::cached_answer(&paths, registry, &env, &SystemClock)
        }
        None => {
            crate::guard::arm_with(format!("{NOT_FOUND}\n"));
            match ecr_model::warm::alias_answer(&paths, &address, &env, &SystemClock) {
                AliasLookup::Served(token) => Some(token),
                AliasLookup::FullPath => None,
                // What the full program answers too, without starting it.
                AliasLookup::NotAnAlias => return not_found(),
            }
        }
    };
    let Some(token) = token else {
        crate::guard::disarm();
        return Outcome::HandOff(input);
    };
    if !crate::guard::claim_answer() {
        // Unreachable in practice: the guard answered and ended the process.
        return Outcome::WriteFailed;
    }
    let written = write_answer(&CredentialsAnswer {
        server_url: &address,
        username: ECR_USERNAME,
        secret: token.password.expose(),
    });
    match written {
        true => Outcome::Answered,
        false => Outcome::WriteFailed,
    }
}

/// "Not found" on stdout (exit 1): a host that is neither ECR nor an alias.
fn not_found() -> Outcome {
    if !crate::guard::claim_answer() {
        return Outcome::WriteFailed;
    }
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(format!("{NOT_FOUND}\n").as_bytes())
        .and_then(|()| out.flush());
    Outcome::NotFound
}

/// Writes the answer and a newline in one write; `false` if stdout refused it.
fn write_answer(answer: &CredentialsAnswer<'_>) -> bool {
    let Ok(mut line) = serde_json::to_vec(answer) else {
        return false;
    };
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line).and_then(|()| out.flush()).is_ok()
}
