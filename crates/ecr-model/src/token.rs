//! An ECR login token as the helper holds it: the registry password and its life on the
//! local clock.
//!
//! All times here are local wall-clock times. A token fetched from AWS gets its expiry as
//! "received at + (expiresAt - the response's Date)", so a skewed local clock cannot make a
//! fresh token look stale (see [`Token::from_response`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::secret::Secret;

/// How long a token handed in by `docker login` is trusted when its payload carries no
/// readable expiry.
pub const STORED_TOKEN_DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// No token is trusted for longer than this, whatever its `expiresAt` (ECR's last 12 hours): an
/// absurd expiry, or a hand-edited cache file, cannot make one live for years.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A registry password and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The registry password (the part after `AWS:` in ECR's authorizationToken).
    pub password: Secret,
    /// When it was received, local clock.
    pub received_at: SystemTime,
    /// When it expires, local clock.
    pub expires_at: SystemTime,
}

impl Token {
    /// A token from an API response: `expires_at_server` and `server_date` are on the server's
    /// clock, `received_at` on ours. Without a `Date` header the server's expiry is taken as is.
    pub fn from_response(
        password: Secret,
        expires_at_server: SystemTime,
        server_date: Option<SystemTime>,
        received_at: SystemTime,
    ) -> Token {
        let life = match server_date {
            Some(date) => expires_at_server.duration_since(date),
            None => expires_at_server.duration_since(received_at),
        };
        Token::lasting(password, received_at, life.unwrap_or(Duration::ZERO))
    }

    /// A token handed in by `docker login -u AWS`: the expiry comes from the password's payload
    /// (base64 JSON with a numeric `expiration`, in seconds since the epoch) when it has one,
    /// else [`STORED_TOKEN_DEFAULT_LIFETIME`] from `now`.
    pub fn from_login_password(password: Secret, now: SystemTime) -> Token {
        let life = match payload_expiration(password.expose()) {
            Some(expiration) => expiration.duration_since(now).unwrap_or(Duration::ZERO),
            None => STORED_TOKEN_DEFAULT_LIFETIME,
        };
        Token::lasting(password, now, life)
    }

    /// A token received at `received_at` that lives `life` (at most [`MAX_LIFETIME`]).
    pub fn lasting(password: Secret, received_at: SystemTime, life: Duration) -> Token {
        let expires_at = received_at
            .checked_add(life.min(MAX_LIFETIME))
            .unwrap_or(received_at);
        Token {
            password,
            received_at,
            expires_at,
        }
    }

    /// The same token, aged at least `age` at `now`: when the step-free clock says more time
    /// has passed since it was received than the wall clock does (the wall clock was stepped
    /// back), its times move back by the difference, so that every wall-clock rule after this
    /// (freshness, renewal time) sees its real age.
    pub fn aged_at_least(self, age: Duration, now: SystemTime) -> Token {
        let Some(received_at) = now.checked_sub(age) else {
            return Token::lasting(self.password, SystemTime::UNIX_EPOCH, Duration::ZERO);
        };
        if received_at >= self.received_at {
            return self;
        }
        let life = self.lifetime();
        Token::lasting(self.password, received_at, life)
    }

    /// The whole life it was issued with.
    pub fn lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(self.received_at)
            .unwrap_or(Duration::ZERO)
    }

    /// Life left at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }
}

/// Decodes ECR's `authorizationToken` (base64 of `AWS:<password>`) into the username and the
/// password.
pub fn split_authorization_token(token: &str) -> Option<(String, Secret)> {
    let decoded = STANDARD.decode(token.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    if user.is_empty() || password.is_empty() {
        return None;
    }
    Some((user.to_string(), Secret::new(password)))
}

/// The `expiration` of an ECR password's payload, when it has a readable one. Never required:
/// the payload's format is AWS's business.
fn payload_expiration(password: &str) -> Option<SystemTime> {
    let bytes = STANDARD.decode(password.trim()).ok()?;
    let payload: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let expiration = payload.as_object()?.get("expiration")?.as_f64()?;
    // Milliseconds would put the expiry in the far future: accept seconds only.
    if !expiration.is_finite() || expiration <= 0.0 || expiration > 1e11 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs_f64(expiration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn expiry_is_moved_onto_the_local_clock() {
        // The server's clock is two hours ahead of ours; the token lives 12 h either way.
        let server_now = at(1_000_000 + 7200);
        let token = Token::from_response(
            Secret::new("pw"),
            server_now + Duration::from_secs(12 * 3600),
            Some(server_now),
            at(1_000_000),
        );
        assert_eq!(token.expires_at, at(1_000_000 + 12 * 3600));
        assert_eq!(token.lifetime(), Duration::from_secs(12 * 3600));
    }

    #[test]
    fn an_already_expired_token_has_no_life() {
        let token = Token::from_response(Secret::new("pw"), at(10), Some(at(100)), at(1000));
        assert_eq!(token.lifetime(), Duration::ZERO);
        assert_eq!(token.remaining(at(1000)), Duration::ZERO);
    }

    #[test]
    fn absurd_expiries_neither_panic_nor_outlive_the_cap() {
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        let token = Token::from_response(Secret::new("pw"), far, Some(at(1000)), at(1000));
        assert_eq!(token.lifetime(), MAX_LIFETIME);
        let near_end = UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 2);
        let token = Token::lasting(Secret::new("pw"), near_end, Duration::MAX);
        assert!(token.expires_at >= near_end);
        let payload = STANDARD.encode(br#"{"expiration":99999999999}"#);
        let stored = Token::from_login_password(Secret::new(payload), at(1000));
        assert_eq!(stored.lifetime(), MAX_LIFETIME);
    }

    #[test]
    fn a_token_is_as_old_as_the_longer_measure_says() {
        // Received at 1000 by a wall clock then stepped back by an hour: now reads 1000 again,
        // but 600 s have really passed.
        let token = Token::lasting(Secret::new("pw"), at(1000), Duration::from_secs(900));
        let aged = token
            .clone()
            .aged_at_least(Duration::from_secs(600), at(1000));
        assert_eq!(aged.received_at, at(400));
        assert_eq!(aged.remaining(at(1000)), Duration::from_secs(300));
        // The wall clock already says it is older: unchanged.
        let same = token
            .clone()
            .aged_at_least(Duration::from_secs(10), at(2000));
        assert_eq!(same, token);
        // An age beyond the epoch leaves a dead token, not a panic.
        let dead = token.aged_at_least(Duration::MAX, at(1000));
        assert_eq!(dead.lifetime(), Duration::ZERO);
    }

    #[test]
    fn without_a_date_header_the_server_expiry_is_used() {
        let token = Token::from_response(Secret::new("pw"), at(5000), None, at(1000));
        assert_eq!(token.expires_at, at(5000));
    }

    #[test]
    fn login_password_expiry_comes_from_its_payload_when_readable() {
        let payload = STANDARD.encode(br#"{"payload":"x","expiration":1700003600}"#);
        let token = Token::from_login_password(Secret::new(payload), at(1_700_000_000));
        assert_eq!(token.expires_at, at(1_700_003_600));

        for opaque in [
            "not-base64!",
            &STANDARD.encode(b"{}"),
            &STANDARD.encode(b"[1]"),
        ] {
            let token = Token::from_login_password(Secret::new(opaque), at(1000));
            assert_eq!(
                token.expires_at,
                at(1000) + STORED_TOKEN_DEFAULT_LIFETIME,
                "{opaque}"
            );
        }
    }

    #[test]
    fn authorization_tokens_split_into_user_and_password() {
        let (user, pw) = split_authorization_token(&STANDARD.encode("AWS:s3cr:et")).unwrap();
        assert_eq!(user, "AWS");
        assert_eq!(pw.expose(), "s3cr:et");
        assert!(split_authorization_token("%%%").is_none());
        assert!(split_authorization_token(&STANDARD.encode("no-colon")).is_none());
    }
}
