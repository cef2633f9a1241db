//! The one place where MySQL and MariaDB differ: engine detection from `VERSION()` and the minimum versions.

use std::fmt;

/// Which server family the backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MySql,
    MariaDb,
}

/// The backend's engine and version, as read from `SELECT VERSION()` at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub flavor: Flavor,
    pub version: (u16, u16, u16),
    /// The full string the server reported, e.g. `10.11.6-MariaDB-0+deb12u1`.
    pub version_string: String,
}

pub const MIN_MYSQL: (u16, u16, u16) = (8, 0, 13);
pub const MIN_MARIADB: (u16, u16, u16) = (10, 6, 0);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("cannot read a version from the backend's VERSION() = {0:?}")]
    Unreadable(String),
    #[error(
        "the backend is {found}; StarDust needs MySQL {} or newer, or MariaDB {} or newer",
        dotted(MIN_MYSQL),
        dotted(MIN_MARIADB)
    )]
    TooOld { found: String },
}

fn dotted(v: (u16, u16, u16)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

impl Engine {
    /// Parses `VERSION()` and refuses engines older than the supported minimum.
    pub fn detect(version: &str) -> Result<Engine, Error> {
        let unreadable = || Error::Unreadable(version.to_string());
        let flavor = if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        };
        // MariaDB may report a "5.5.5-" compatibility prefix before its real version.
        let text = version.strip_prefix("5.5.5-").unwrap_or(version);
        let numeric: String = text
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = numeric.split('.').map(|p| p.parse::<u16>());
        let major = parts.next().and_then(Result::ok).ok_or_else(unreadable)?;
        let minor = parts.next().and_then(Result::ok).ok_or_else(unreadable)?;
        let patch = parts.next().and_then(Result::ok).unwrap_or(0);
        let engine = Engine {
            flavor,
            version: (major, minor, patch),
            version_string: version.to_string(),
        };
        let minimum = match flavor {
            Flavor::MySql => MIN_MYSQL,
            Flavor::MariaDb => MIN_MARIADB,
        };
        // TiDB reports MySQL 8.0.11 compatibility ("8.0.11-TiDB-v7.5.1") and is a supported scale-out backend.
        let tidb = text.contains("-TiDB-");
        if engine.version < minimum && !tidb {
            return Err(Error::TooOld {
                found: engine.to_string(),
            });
        }
        Ok(engine)
    }

    /// The version the proxy announces in its greeting. MariaDB servers prefix `5.5.5-` so that
    /// old clients do not read "10" or "11" as a MySQL major version; we do the same.
    pub fn greeting_version(&self) -> String {
        match self.flavor {
            Flavor::MariaDb if !self.version_string.starts_with("5.5.5-") => {
                format!("5.5.5-{}", self.version_string)
            }
            _ => self.version_string.clone(),
        }
    }

    /// The utf8mb4 collation id the server defaults to, announced in the greeting.
    pub fn default_collation_id(&self) -> u8 {
        match self.flavor {
            Flavor::MySql => 255,  // utf8mb4_0900_ai_ci
            Flavor::MariaDb => 45, // utf8mb4_general_ci
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.flavor {
            Flavor::MySql => "MySQL",
            Flavor::MariaDb => "MariaDB",
        };
        write!(f, "{name} {}", dotted(self.version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_supported_engines() {
        let maria = Engine::detect("10.11.6-MariaDB-0+deb12u1").unwrap();
        assert_eq!(maria.flavor, Flavor::MariaDb);
        assert_eq!(maria.version, (10, 11, 6));
        assert_eq!(maria.greeting_version(), "5.5.5-10.11.6-MariaDB-0+deb12u1");
        let mysql = Engine::detect("8.0.36").unwrap();
        assert_eq!(mysql.flavor, Flavor::MySql);
        assert_eq!(mysql.greeting_version(), "8.0.36");
        assert_eq!(Engine::detect("8.0.13-log").unwrap().version, (8, 0, 13));
        assert_eq!(
            Engine::detect("10.6.0-MariaDB").unwrap().version,
            (10, 6, 0)
        );
        assert_eq!(
            Engine::detect("5.5.5-11.4.2-MariaDB").unwrap().version,
            (11, 4, 2)
        );
        assert_eq!(Engine::detect("9.1.0").unwrap().version, (9, 1, 0));
        assert_eq!(
            Engine::detect("8.0.11-TiDB-v7.5.1").unwrap().flavor,
            Flavor::MySql
        );
    }

    #[test]
    fn refuses_old_engines_naming_version_and_minimum() {
        for old in [
            "8.0.12",
            "5.7.44-log",
            "10.5.23-MariaDB",
            "10.4.0-MariaDB-log",
        ] {
            let message = Engine::detect(old).unwrap_err().to_string();
            assert!(message.contains("MySQL 8.0.13"), "{message}");
            assert!(message.contains("MariaDB 10.6.0"), "{message}");
            let shown = Engine::detect(old).unwrap_err();
            let Error::TooOld { found } = shown else {
                panic!("{old} should be too old")
            };
            let numeric: String = old.chars().take_while(|c| *c != '-').collect();
            assert!(found.ends_with(&numeric), "{found} names {numeric}");
        }
    }

    #[test]
    fn refuses_unreadable_versions() {
        assert!(matches!(
            Engine::detect("garbage"),
            Err(Error::Unreadable(_))
        ));
        assert!(matches!(Engine::detect(""), Err(Error::Unreadable(_))));
    }
}
