//! The session variables the proxy keeps itself rather than the backend: `SET stardust_tenant`,
//! `SET stardust_allow_scan`, and the statement timeout (`SET max_statement_time` / `max_execution_time`).

use sqlparser::ast::{Expr, Set, Value};

use super::classify::last_part;
use super::Error;

/// `SET stardust_tenant = N`, if that is what `set` is.
pub(super) fn tenant_assignment(set: &Set) -> Result<Option<u64>, Error> {
    let (variable, value) = match set {
        Set::SingleAssignment {
            variable, values, ..
        } if values.len() == 1 => (variable, &values[0]),
        _ => return Ok(None),
    };
    if !last_part(variable).eq_ignore_ascii_case("stardust_tenant") {
        return Ok(None);
    }
    let number = match value {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<u64>().ok().filter(|t| *t > 0),
            _ => None,
        },
        _ => None,
    };
    number.map(Some).ok_or_else(|| {
        Error::NotSupported(format!(
            "SET stardust_tenant needs a tenant id, a whole number from 1 up (got {value})"
        ))
    })
}

/// `SET stardust_allow_scan = 0|1`, if that is what `set` is.
pub(super) fn allow_scan_assignment(set: &Set) -> Result<Option<bool>, Error> {
    let (variable, value) = match set {
        Set::SingleAssignment {
            variable, values, ..
        } if values.len() == 1 => (variable, &values[0]),
        _ => return Ok(None),
    };
    if !last_part(variable).eq_ignore_ascii_case("stardust_allow_scan") {
        return Ok(None);
    }
    match value.to_string().to_ascii_uppercase().as_str() {
        "1" | "ON" | "TRUE" => Ok(Some(true)),
        "0" | "OFF" | "FALSE" => Ok(Some(false)),
        other => Err(Error::NotSupported(format!(
            "SET stardust_allow_scan takes 0 or 1 (got {other})"
        ))),
    }
}

/// `SET [SESSION | LOCAL] max_statement_time = s` (MariaDB's, seconds) or `max_execution_time = ms` (MySQL's), in
/// any of their spellings (`@@`, `@@session.`), as milliseconds; `Some(None)` for `= DEFAULT`. A global or
/// persisted assignment is the backend's business, not a session's timeout.
pub(super) fn timeout_assignment(set: &Set) -> Result<Option<Option<u64>>, Error> {
    let (scope, variable, value) = match set {
        Set::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } if values.len() == 1 => (scope, variable, &values[0]),
        _ => return Ok(None),
    };
    if matches!(scope, Some(sqlparser::ast::ContextModifier::Global)) {
        return Ok(None);
    }
    let name = variable.to_string().to_ascii_lowercase();
    let name = name.strip_prefix("@@").unwrap_or(&name);
    let name = name
        .strip_prefix("session.")
        .or_else(|| name.strip_prefix("local."))
        .unwrap_or(name);
    let scale = match name {
        "max_statement_time" => 1000.0,
        "max_execution_time" => 1.0,
        _ => return Ok(None),
    };
    if let Expr::Identifier(word) = value {
        if word.value.eq_ignore_ascii_case("DEFAULT") {
            return Ok(Some(None));
        }
    }
    let number = match value {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse::<f64>().ok(),
            _ => None,
        },
        _ => None,
    };
    let ms = number
        .map(|n| (n * scale).round())
        .filter(|ms| (0.0..=crate::config::MAX_TIMEOUT_MS as f64).contains(ms));
    match ms {
        Some(ms) => Ok(Some(Some(ms as u64))),
        None => Err(Error::WrongValue {
            variable: name.to_string(),
            value: value.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Role;
    use crate::sql::{classify, Context, Error, Route};

    const ADMIN: Context<'static> = Context {
        user: "ops",
        role: Role::Admin,
        home: "app",
    };
    const TENANT: Context<'static> = Context {
        user: "acme",
        role: Role::Tenant(1),
        home: "app",
    };

    #[test]
    fn statement_timeouts_are_the_sessions_own_in_milliseconds() {
        for (sql, ms) in [
            ("SET max_statement_time = 1.5", Some(1500)),
            ("SET SESSION max_statement_time = 0", Some(0)),
            ("SET @@session.max_statement_time=2", Some(2000)),
            ("SET @@max_execution_time = 250", Some(250)),
            ("set local MAX_EXECUTION_TIME = 10", Some(10)),
        ] {
            for ctx in [&ADMIN, &TENANT] {
                assert_eq!(
                    classify(sql, ctx),
                    Ok(Route::SetStatementTimeout(ms)),
                    "{sql}"
                );
            }
        }
        assert_eq!(
            classify("SET max_execution_time = DEFAULT", &TENANT),
            Ok(Route::SetStatementTimeout(None))
        );
        for bad in [
            "SET max_statement_time = -1",
            "SET max_execution_time = 'x'",
            "SET max_statement_time = 1e12",
        ] {
            assert!(
                matches!(classify(bad, &TENANT), Err(Error::WrongValue { .. })),
                "{bad}"
            );
        }
        // A global setting is the backend's, an administrator's to make.
        assert_eq!(
            classify("SET GLOBAL max_statement_time = 1", &ADMIN),
            Ok(Route::Forward)
        );
    }
}
