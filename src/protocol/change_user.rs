//! COM_CHANGE_USER and COM_RESET_CONNECTION, as connection pools use them: the session starts afresh, on the
//! same backend connection reset to a new session, for the same user or (after a new password check) another.

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::Queryable;
use mysql_common::io::ParseBuf;
use mysql_common::misc::raw::bytes::{NullBytes, U8Bytes};
use mysql_common::misc::raw::int::LeU16;
use mysql_common::misc::raw::{RawBytes, RawInt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::auth;
use super::login;
use super::relay::gone;
use super::session::{client_charset, Session};
use super::Error;
use crate::config::{Role, User};
use crate::sql;

/// A COM_CHANGE_USER request: who the client now says it is and how it proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeUser {
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    /// The new connection collation, when the client sends one (every client since MySQL 4.1 does).
    pub collation: Option<u16>,
    /// The plugin that computed `auth_response`; none means mysql_native_password.
    pub plugin: Option<String>,
}

/// Parses a COM_CHANGE_USER body (after the command byte); connection attributes that follow are ignored.
pub fn parse(body: &[u8]) -> Option<ChangeUser> {
    let mut buf = ParseBuf(body);
    let user: RawBytes<'_, NullBytes> = buf.parse(()).ok()?;
    let auth_response: RawBytes<'_, U8Bytes> = buf.parse(()).ok()?;
    let database: RawBytes<'_, NullBytes> = buf.parse(()).ok()?;
    let collation = (!buf.is_empty())
        .then(|| buf.parse::<RawInt<LeU16>>(()).ok().map(|c| c.0))
        .flatten();
    let plugin = (!buf.is_empty())
        .then(|| buf.parse::<RawBytes<'_, NullBytes>>(()).ok())
        .flatten()
        .map(|p| p.as_str().into_owned())
        .filter(|p| !p.is_empty());
    let database = database.as_str().into_owned();
    Some(ChangeUser {
        user: user.as_str().into_owned(),
        auth_response: auth_response.as_bytes().to_vec(),
        database: (!database.is_empty()).then_some(database),
        collation,
        plugin,
    })
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Session<R, W> {
    /// COM_CHANGE_USER: checks the new login, then starts a fresh session as that user. A failed check leaves the
    /// session as it was, logged in as before (as MariaDB does), and answers ER_ACCESS_DENIED_ERROR.
    pub(super) async fn change_user(&mut self, body: &[u8]) -> Result<(), crate::Error> {
        let request = parse(body).ok_or(Error::Malformed("COM_CHANGE_USER"))?;
        let user = self.authenticate(&request).await?;
        let home = self.state.backend.database().to_string();
        let database = request.database.clone().unwrap_or(home.clone());
        // A tenant login is refused another database before anything changes, as a failed login would be.
        if matches!(user.role(), Role::Tenant(_)) && database != home {
            return Err(sql::Error::DatabaseDenied {
                user: user.name.clone(),
                database,
                home,
            }
            .into());
        }
        self.state.sessions.rename(self.id, &user.name);
        tracing::Span::current().record("user", user.name.as_str());
        self.user = user;
        if let Some(collation) = request.collation.and_then(|c| u8::try_from(c).ok()) {
            self.collation = collation;
        }
        self.restart(&database).await?;
        self.ok().await
    }

    /// COM_RESET_CONNECTION: the same user and database, everything else as after login.
    pub(super) async fn reset(&mut self) -> Result<(), crate::Error> {
        let database = self
            .database
            .clone()
            .unwrap_or_else(|| self.state.backend.database().to_string());
        self.restart(&database).await?;
        self.ok().await
    }

    /// Resets the backend session (temporary tables, variables, transaction, prepared statements) and the proxy's
    /// session state with it: no tenant chosen, the user's scan setting, the client's character set.
    async fn restart(&mut self, database: &str) -> Result<(), crate::Error> {
        self.conn.reset().await?;
        self.statements.clear();
        self.shadows.clear();
        self.twins.clear();
        self.warnings = None;
        self.tenant = None;
        self.activity.set_tenant(match self.user.role() {
            Role::Tenant(tenant) => Some(tenant),
            Role::Admin => None,
        });
        let timeout = self.state.config.statement_timeout_ms;
        self.timeout = (timeout > 0).then(|| std::time::Duration::from_millis(timeout));
        self.allow_scan = self.user.allow_scan;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        self.switch_database(database).await?;
        if let Some(charset) = client_charset(self.collation) {
            let set_names = format!("SET NAMES {}", sql::quote_identifier(&charset));
            self.conn.query_drop(set_names).await?;
        }
        Ok(())
    }

    /// Checks the new login against the greeting's scramble, as servers do; a client answering with a plugin
    /// other than the two the proxy knows is asked, with a fresh scramble, for mysql_native_password.
    async fn authenticate(&mut self, request: &ChangeUser) -> Result<User, crate::Error> {
        let config = &self.state.config;
        let response = &request.auth_response;
        let user = match request.plugin.as_deref() {
            None | Some(auth::NATIVE_PASSWORD) => {
                auth::verify(config, &request.user, &self.salt, response).cloned()
            }
            Some(auth::CACHING_SHA2_PASSWORD) => {
                let user =
                    auth::verify_sha256(config, &request.user, &self.salt, response).cloned();
                if user.is_some() {
                    self.wire
                        .raw(&auth::FAST_AUTH_SUCCESS)
                        .await
                        .map_err(gone)?;
                }
                user
            }
            Some(_) => {
                let salt = auth::new_salt();
                self.wire
                    .raw(&auth::switch_request(&salt))
                    .await
                    .map_err(gone)?;
                self.wire.flush().await.map_err(gone)?;
                let (seq, answer) = login::read(&mut self.reader).await?;
                self.wire.set_seq(seq.wrapping_add(1));
                auth::verify(&self.state.config, &request.user, &salt, &answer).cloned()
            }
        };
        user.ok_or_else(|| {
            Error::AccessDenied {
                user: request.user.clone(),
                using_password: !response.is_empty(),
            }
            .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_request_is_parsed() {
        let mut body = b"acme\0".to_vec();
        body.push(3);
        body.extend_from_slice(b"abc");
        body.extend_from_slice(b"app\0");
        body.extend_from_slice(&45u16.to_le_bytes());
        body.extend_from_slice(b"mysql_native_password\0");
        body.extend_from_slice(&[0x00]);
        let request = parse(&body).unwrap();
        assert_eq!(request.user, "acme");
        assert_eq!(request.auth_response, b"abc");
        assert_eq!(request.database.as_deref(), Some("app"));
        assert_eq!(request.collation, Some(45));
        assert_eq!(request.plugin.as_deref(), Some("mysql_native_password"));
    }

    #[test]
    fn an_old_request_has_no_collation_or_plugin() {
        let request = parse(b"ops\0\0\0").unwrap();
        assert_eq!(request.user, "ops");
        assert!(request.auth_response.is_empty());
        assert_eq!(request.database, None);
        assert_eq!(request.collation, None);
        assert_eq!(request.plugin, None);
    }

    #[test]
    fn a_truncated_request_is_refused() {
        assert!(parse(b"acme").is_none());
        assert!(parse(b"acme\0\x05ab").is_none());
    }
}
