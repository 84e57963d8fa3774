//! A warm `get`: read the address, answer from the cache if its token is fresh (an ECR host's,
//! or for an alias in the product config its registry's).

use std::io::{Read, Write};

use ecr_model::clock::SystemClock;
use ecr_model::helper_protocol::{self, CredentialsAnswer, ECR_USERNAME, MAX_INPUT};
use ecr_model::paths::Paths;
use ecr_model::registry::Registry;

/// What the warm path did.
pub enum Outcome {
    /// The answer is on stdout.
    Answered,
    /// Stdout refused the answer: nothing more can be said there.
    WriteFailed,
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
    crate::guard::arm(&address);
    let env = |name: &str| std::env::var(name).ok();
    let token = match &registry {
        Some(registry) => ecr_model::warm::cached_answer(&paths, registry, &env, &SystemClock),
        None => ecr_model::warm::cached_alias_answer(&paths, &address, &env, &SystemClock),
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

/// Writes the answer and a newline in one write; `false` if stdout refused it.
fn write_answer(answer: &CredentialsAnswer<'_>) -> bool {
    let Ok(mut line) = serde_json::to_vec(answer) else {
        return false;
    };
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line).and_then(|()| out.flush()).is_ok()
}
