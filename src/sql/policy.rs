//! What a tenant login may send: session statements and table-less queries; never a backend table.

use std::ops::ControlFlow;

use sqlparser::ast::{visit_expressions, ContextModifier, Expr, Set, Statement, Use};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::classify::{last_part, Context};
use super::names::Table;
use super::Error;

/// Functions that reach outside the session: files on the server, or the advisory locks the daemons rely on.
const DENIED_FUNCTIONS: [&str; 7] = [
    "load_file",
    "get_lock",
    "release_lock",
    "release_all_locks",
    "is_free_lock",
    "is_used_lock",
    "master_pos_wait",
];

/// Why only SELECTs on model tables can be explained.
pub const EXPLAIN_WRITES: &str = "EXPLAIN of INSERT, UPDATE and DELETE on model tables is not supported: each runs as \
     several backend statements; EXPLAIN a SELECT with the same WHERE to see the plan that finds the rows";

/// Refuses what a tenant login may not send. A tenant reaches its own model tables (in its home database) and
/// the information_schema tables the proxy answers with its virtual rows — never a backend table. `into` says
/// whether the statement's own text holds the keyword INTO, when the caller tokenized it; `None` looks for it in
/// the printed statement. `tables` are the statement's tables (`names::tables`).
pub fn check_tenant(
    statement: &Statement,
    tables: &[Table],
    ctx: &Context<'_>,
    into: Option<bool>,
) -> Result<(), Error> {
    // SHOW TABLES names a database, not a table; the proxy answers it from the tenant's own models.
    if let Statement::ShowTables { show_options, .. } = statement {
        return match show_options
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
        {
            Some(database) if last_part(database) != ctx.home => {
                Err(database_denied(ctx, last_part(database)))
            }
            _ => Ok(()),
        };
    }
    if let Some(Table::Backend(table)) = tables.iter().find(|t| matches!(t, Table::Backend(_))) {
        return Err(Error::TableDenied {
            command: command_name(statement),
            user: ctx.user.to_string(),
            table: table.clone(),
        });
    }
    let on_models = tables.iter().any(|t| matches!(t, Table::Virtual(_)));
    if let ControlFlow::Break(function) = visit_expressions(statement, |expr| match expr {
        Expr::Function(f) if is_denied(&last_part(&f.name)) => {
            ControlFlow::Break(f.name.to_string())
        }
        _ => ControlFlow::Continue(()),
    }) {
        return Err(Error::PrivilegeDenied(format!(
            "{function}() is not available to tenant logins"
        )));
    }
    match statement {
        Statement::Query(_) if into.unwrap_or_else(|| has_into(statement)) => Err(
            Error::PrivilegeDenied("SELECT … INTO is not available to tenant logins".to_string()),
        ),
        Statement::Query(_) => Ok(()),
        // The plan of a SELECT on the tenant's own model tables, as the backend would run it.
        Statement::Explain { statement, .. }
            if on_models && matches!(statement.as_ref(), Statement::Query(_)) =>
        {
            Ok(())
        }
        Statement::Explain { .. } if on_models => {
            Err(Error::NotSupported(EXPLAIN_WRITES.to_string()))
        }
        // Statements on the tenant's own model tables (the relation check above admitted nothing else).
        Statement::Insert(_)
        | Statement::Update { .. }
        | Statement::Delete(_)
        | Statement::CreateTable(_)
        | Statement::AlterTable(_)
        | Statement::CreateIndex(_)
        | Statement::RenameTable(_)
        | Statement::Drop { .. }
        | Statement::ShowColumns { .. }
        | Statement::ExplainTable { .. }
        | Statement::ShowCreate { .. }
            if on_models =>
        {
            Ok(())
        }
        Statement::Set(set) => check_set(set),
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCollation { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowDatabases { .. }
        | Statement::ShowTables { .. }
        | Statement::Kill { .. } => Ok(()),
        Statement::Use(Use::Database(name) | Use::Schema(name) | Use::Object(name)) => {
            let database = last_part(name);
            if database == ctx.home {
                Ok(())
            } else {
                Err(database_denied(ctx, database))
            }
        }
        other => Err(Error::PrivilegeDenied(format!(
            "tenant logins may not run {}: they may query and change their model_* tables, \
             run table-less SELECTs, SET session variables and use transactions",
            command_name(other)
        ))),
    }
}

fn database_denied(ctx: &Context<'_>, database: String) -> Error {
    Error::DatabaseDenied {
        user: ctx.user.to_string(),
        database,
        home: ctx.home.to_string(),
    }
}

/// Whether a query writes its result somewhere (`INTO @var`, `INTO OUTFILE`, `INTO DUMPFILE`), at any depth:
/// the keyword is looked for among the printed statement's tokens, where no string literal can hide it.
fn has_into(statement: &Statement) -> bool {
    // Printed exactly: sqlparser's own printing of `'\\'` would leave the string unterminated.
    let mut statement = statement.clone();
    super::exact_strings(&mut statement);
    let text = statement.to_string();
    Tokenizer::new(&MySqlDialect {}, &text)
        .tokenize()
        .map(|tokens| {
            tokens
                .iter()
                .any(|t| matches!(t, Token::Word(w) if w.keyword == Keyword::INTO))
        })
        .unwrap_or(true)
}

fn is_denied(function: &str) -> bool {
    DENIED_FUNCTIONS
        .iter()
        .any(|denied| denied.eq_ignore_ascii_case(function))
}

/// Session variables are the tenant's own; global, persisted and role or authorization changes are not.
fn check_set(set: &Set) -> Result<(), Error> {
    let global = |scope: &Option<ContextModifier>, name: &str| {
        let name = name.to_ascii_lowercase();
        matches!(scope, Some(ContextModifier::Global))
            || name.starts_with("@@global.")
            || name.starts_with("@@persist")
    };
    let refused = match set {
        Set::SingleAssignment {
            scope, variable, ..
        } => global(scope, &variable.to_string()),
        Set::MultipleAssignments { assignments } => assignments
            .iter()
            .any(|a| global(&a.scope, &a.name.to_string())),
        Set::ParenthesizedAssignments { variables, .. } => {
            variables.iter().any(|v| global(&None, &v.to_string()))
        }
        Set::SetRole { .. } | Set::SetSessionAuthorization(_) => true,
        Set::SetSessionParam(_)
        | Set::SetTimeZone { .. }
        | Set::SetNames { .. }
        | Set::SetNamesDefault {}
        | Set::SetTransaction { .. } => false,
    };
    if refused {
        return Err(Error::PrivilegeDenied(
            "tenant logins may set session variables only, not global, persisted or role settings"
                .to_string(),
        ));
    }
    Ok(())
}

/// The verb MySQL names in its access-denied messages.
fn command_name(statement: &Statement) -> String {
    let text = statement.to_string();
    let verb = text.split_whitespace().next().unwrap_or("");
    match verb.to_ascii_uppercase().as_str() {
        "WITH" | "(" => "SELECT".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Role;
    use crate::sql::{classify, Context, Error, Route};

    const TENANT: Context<'static> = Context {
        user: "acme",
        role: Role::Tenant(1),
        home: "app",
    };

    fn denied_table(sql: &str) -> String {
        match classify(sql, &TENANT) {
            Err(Error::TableDenied { table, .. }) => table,
            other => panic!("{sql}: expected a table refusal, got {other:?}"),
        }
    }

    #[test]
    fn tenants_reach_no_backend_table() {
        assert_eq!(denied_table("SELECT * FROM entry_data"), "entry_data");
        assert_eq!(
            denied_table("select fields from app.entry_data"),
            "app.entry_data"
        );
        assert_eq!(
            denied_table("SELECT 1 FROM dual WHERE EXISTS (SELECT 1 FROM stardust_models)"),
            "stardust_models"
        );
        assert_eq!(
            denied_table("SELECT (SELECT id FROM orders LIMIT 1)"),
            "orders"
        );
        assert_eq!(denied_table("SELECT 1 UNION SELECT id FROM users"), "users");
        assert_eq!(
            denied_table("WITH x AS (SELECT * FROM secrets) SELECT * FROM x"),
            "secrets"
        );
        // A CTE shadows a table only within its scope; outside it, or in its own plain body, the name is the table.
        assert_eq!(
            denied_table(
                "SELECT * FROM entry_data WHERE EXISTS (WITH entry_data AS (SELECT 1) SELECT * FROM entry_data)"
            ),
            "entry_data"
        );
        assert_eq!(
            denied_table("WITH entry_data AS (SELECT * FROM entry_data) SELECT * FROM entry_data"),
            "entry_data"
        );
        assert!(matches!(
            classify(
                "WITH t AS (SELECT name FROM model_x) SELECT * FROM t",
                &TENANT
            ),
            Ok(Route::Virtual(_))
        ));
        assert!(matches!(
            classify("WITH model_y AS (SELECT 1) SELECT * FROM model_y", &TENANT),
            Err(Error::NotSupported(_))
        ));
        assert_eq!(
            denied_table("INSERT INTO entry_data (id) VALUES (1)"),
            "entry_data"
        );
        assert_eq!(
            denied_table("UPDATE stardust_models SET name = 'x'"),
            "stardust_models"
        );
        assert_eq!(denied_table("DELETE FROM entry_data"), "entry_data");
        assert_eq!(denied_table("DROP TABLE entry_data"), "entry_data");
        assert_eq!(
            denied_table("SELECT * FROM information_schema.PROCESSLIST"),
            "information_schema.PROCESSLIST"
        );
        assert_eq!(
            denied_table("SELECT * FROM /* hide */ `entry_data`"),
            "entry_data"
        );
        match classify("SELECT * FROM entry_data", &TENANT) {
            Err(e) => assert!(
                e.to_string()
                    .starts_with("SELECT command denied to user 'acme'"),
                "{e}"
            ),
            Ok(r) => panic!("{r:?}"),
        }
    }

    #[test]
    fn tenants_explain_selects_on_their_models_only() {
        for sql in [
            "EXPLAIN SELECT * FROM model_x WHERE a = 1",
            "EXPLAIN FORMAT=JSON SELECT a FROM model_x",
            "DESCRIBE SELECT COUNT(*) FROM model_x",
        ] {
            assert!(
                matches!(classify(sql, &TENANT), Ok(Route::Virtual(_))),
                "{sql}"
            );
        }
        assert_eq!(
            denied_table("EXPLAIN SELECT * FROM entry_data"),
            "entry_data"
        );
        assert_eq!(
            denied_table("EXPLAIN SELECT * FROM model_x WHERE id IN (SELECT entry_id FROM entry_slots_page_1)"),
            "entry_slots_page_1"
        );
        for sql in [
            "EXPLAIN UPDATE model_x SET a = 1",
            "EXPLAIN DELETE FROM model_x",
        ] {
            assert_eq!(
                classify(sql, &TENANT),
                Err(Error::NotSupported(super::EXPLAIN_WRITES.to_string())),
                "{sql}"
            );
        }
        assert!(matches!(
            classify("EXPLAIN SELECT 1", &TENANT),
            Err(Error::PrivilegeDenied(_))
        ));
    }

    #[test]
    fn tenants_keep_session_statements() {
        for sql in [
            "SELECT 1",
            "SELECT @@version_comment LIMIT 1",
            "SELECT DATABASE(), USER(), NOW()",
            "SET NAMES utf8mb4",
            "SET autocommit = 0",
            "SET SESSION sql_mode = 'ANSI'",
            "SET @x = 5",
            "SET character_set_results = NULL",
            "BEGIN",
            "START TRANSACTION",
            "COMMIT",
            "ROLLBACK",
            "SHOW VARIABLES LIKE 'sql_mode'",
            "SELECT 1 FROM dual",
            "SELECT 'INTO @x' /* INTO @y */",
        ] {
            assert_eq!(classify(sql, &TENANT), Ok(Route::Forward), "{sql}");
        }
        assert_eq!(classify("USE app", &TENANT), Ok(Route::Use("app".into())));
        assert_eq!(
            classify("SHOW TABLES FROM app", &TENANT),
            Ok(Route::ShowTables {
                full: false,
                like: None
            })
        );
        assert_eq!(
            classify("SELECT 'into'", &TENANT),
            Ok(Route::Forward),
            "a literal is not a keyword"
        );
    }

    #[test]
    fn tenants_cannot_escalate() {
        for sql in [
            "SET GLOBAL max_connections = 1",
            "SET @@global.sql_mode = ''",
            "SET PERSIST max_connections = 1",
            "SELECT GET_LOCK('stardust_watcher', 0)",
            "SELECT LOAD_FILE('/etc/passwd')",
            "CREATE USER x",
            "GRANT ALL ON *.* TO acme",
            "CREATE DATABASE other",
            "SELECT 1 UNION SELECT 'x' INTO OUTFILE '/tmp/x'",
            "(SELECT 1) INTO @x",
            "SELECT 1 INTO @x",
            "SELECT 1; SELECT 2 INTO @x",
            "SHOW ENGINE INNODB STATUS",
            "SHOW GRANTS",
            "SHOW INDEX FROM entry_data",
            "SHOW CREATE TABLE entry_data",
            "SHOW TABLES FROM mysql",
        ] {
            assert!(
                matches!(
                    classify(sql, &TENANT),
                    Err(Error::PrivilegeDenied(_)
                        | Error::TableDenied { .. }
                        | Error::DatabaseDenied { .. }
                        | Error::Syntax(_))
                ),
                "{sql}: {:?}",
                classify(sql, &TENANT)
            );
        }
        assert!(matches!(
            classify("USE mysql", &TENANT),
            Err(Error::DatabaseDenied { .. })
        ));
        assert!(matches!(
            classify("SELECT 1; SELECT * FROM entry_data", &TENANT),
            Err(Error::TableDenied { .. })
        ));
    }
}
