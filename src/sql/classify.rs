//! Parse with sqlparser's MySQL dialect and decide each statement's route.

use sqlparser::ast::{Expr, KillType, ObjectName, Set, Statement, Use, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::{policy, Error};
use crate::config::Role;

/// Who is asking, and where.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub user: &'a str,
    pub role: Role,
    /// The database named in `backend_url`.
    pub home: &'a str,
}

/// Where a statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To the backend session unchanged.
    Forward,
    /// `USE db`: checked, then forwarded, and remembered by the session.
    Use(String),
    /// `SET stardust_tenant = N`: the tenant an admin acts for on virtual tables.
    SetTenant(u64),
    /// `KILL [QUERY | CONNECTION] id`, where id is a proxy connection id.
    Kill { id: u64, query_only: bool },
    /// `SHOW DATABASES` for a tenant login: only its database.
    ShowDatabases,
    /// `SHOW [FULL] TABLES` for a tenant login: only its virtual tables.
    ShowTables { full: bool },
}

/// Parses `sql` and routes it. Admins' statements that sqlparser cannot read go to the backend, which is the
/// authority on MySQL syntax; tenants' are refused, since the proxy must understand everything a tenant sends.
pub fn classify(sql: &str, ctx: &Context<'_>) -> Result<Route, Error> {
    let statements = match Parser::parse_sql(&MySqlDialect {}, sql) {
        Ok(statements) => statements,
        Err(_) if ctx.role == Role::Admin => return Ok(Route::Forward),
        Err(e) => return Err(Error::Syntax(e.to_string())),
    };
    let mut routes = Vec::with_capacity(statements.len());
    for statement in &statements {
        if let Role::Tenant(_) = ctx.role {
            policy::check_tenant(statement, ctx)?;
        }
        routes.push(route(statement, ctx)?);
    }
    match routes.as_slice() {
        [] => Err(Error::Empty),
        [single] => Ok(single.clone()),
        many if many.iter().all(|r| *r == Route::Forward) => Ok(Route::Forward),
        _ => Err(Error::NotSupported(
            "USE, KILL, SHOW and SET stardust_* must be sent as statements of their own, not in a batch"
                .to_string(),
        )),
    }
}

fn route(statement: &Statement, ctx: &Context<'_>) -> Result<Route, Error> {
    let tenant = matches!(ctx.role, Role::Tenant(_));
    Ok(match statement {
        Statement::Use(Use::Database(name) | Use::Schema(name) | Use::Object(name)) => {
            Route::Use(last_part(name))
        }
        Statement::Kill { modifier, id } => Route::Kill {
            id: *id,
            query_only: matches!(modifier, Some(KillType::Query)),
        },
        Statement::Set(set) => match tenant_assignment(set)? {
            Some(tenant) => Route::SetTenant(tenant),
            None => Route::Forward,
        },
        Statement::ShowDatabases { .. } if tenant => Route::ShowDatabases,
        Statement::ShowTables { full, .. } if tenant => Route::ShowTables { full: *full },
        _ => Route::Forward,
    })
}

/// `SET stardust_tenant = N`, if that is what `set` is.
fn tenant_assignment(set: &Set) -> Result<Option<u64>, Error> {
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

/// The unquoted last part of a dotted name.
pub(super) fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn admins_forward_everything_ordinary() {
        for sql in [
            "SELECT * FROM entry_data",
            "CREATE TABLE t (a INT)",
            "INSERT INTO t VALUES (1)",
            "SELECT 1; SELECT 2",
            "this is not sql at all",
            "SET GLOBAL max_connections = 10",
        ] {
            assert_eq!(classify(sql, &ADMIN), Ok(Route::Forward), "{sql}");
        }
    }

    #[test]
    fn proxy_owned_statements_are_routed() {
        assert_eq!(
            classify("USE `other`", &ADMIN),
            Ok(Route::Use("other".into()))
        );
        assert_eq!(
            classify("SET stardust_tenant = 7", &ADMIN),
            Ok(Route::SetTenant(7))
        );
        assert_eq!(
            classify("KILL QUERY 12", &ADMIN),
            Ok(Route::Kill {
                id: 12,
                query_only: true
            })
        );
        assert_eq!(
            classify("KILL 12", &ADMIN),
            Ok(Route::Kill {
                id: 12,
                query_only: false
            })
        );
        assert!(matches!(
            classify("SET stardust_tenant = 'x'", &ADMIN),
            Err(Error::NotSupported(_))
        ));
        assert_eq!(
            classify("SHOW TABLES", &TENANT),
            Ok(Route::ShowTables { full: false })
        );
        assert_eq!(
            classify("SHOW FULL TABLES", &TENANT),
            Ok(Route::ShowTables { full: true })
        );
        assert_eq!(
            classify("SHOW DATABASES", &TENANT),
            Ok(Route::ShowDatabases)
        );
        assert_eq!(classify("SHOW DATABASES", &ADMIN), Ok(Route::Forward));
    }

    #[test]
    fn tenants_get_syntax_errors_for_unparseable_sql() {
        assert!(matches!(
            classify("SELEC 1", &TENANT),
            Err(Error::Syntax(_))
        ));
    }

    #[test]
    fn batches_of_special_statements_are_refused() {
        assert!(matches!(
            classify("USE app; SELECT 1", &ADMIN),
            Err(Error::NotSupported(_))
        ));
    }
}
