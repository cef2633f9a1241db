//! Parse with sqlparser's MySQL dialect and decide each statement's route.

use sqlparser::ast::{
    Expr, KillType, ObjectName, ShowCreateObject, ShowStatementFilter, ShowStatementFilterPosition,
    ShowStatementOptions, Statement, Use, Value,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Word};

use super::names::{self, Table};
use super::show::{self, Show};
use super::variables;
use super::{policy, Error};
use crate::catalog::is_virtual;
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
    /// `SET stardust_allow_scan = 0|1`: whether filters on unindexed model fields may scan the JSON.
    SetAllowScan(bool),
    /// `SET [SESSION] max_statement_time = seconds` or `max_execution_time = ms`: the session's statement
    /// timeout in milliseconds (0: none), or `None` for `= DEFAULT` (the configured one).
    SetStatementTimeout(Option<u64>),
    /// `SHOW [FULL] PROCESSLIST`: the proxy's sessions, answered by the proxy.
    ShowProcesslist { full: bool },
    /// `KILL [QUERY | CONNECTION] id`, where id is a proxy connection id.
    Kill { id: u64, query_only: bool },
    /// `SHOW DATABASES` for a tenant login: only its database.
    ShowDatabases,
    /// `SHOW [FULL] TABLES [LIKE …]` of the home database: virtual tables (and, for admins, the backend's).
    ShowTables { full: bool, like: Option<String> },
    /// `SHOW TABLE STATUS [LIKE …]` of the home database.
    ShowTableStatus { like: Option<String> },
    /// `SHOW COLUMNS`, `DESCRIBE`, `SHOW CREATE TABLE`, `SHOW INDEX` of a model table.
    ShowModel(ModelShow),
    /// DDL on a model table: `CREATE`/`ALTER`/`DROP`/`RENAME TABLE`, `CREATE`/`DROP INDEX`.
    ModelDdl(Box<Statement>),
    /// A query on information_schema tables that must list virtual tables too.
    InformationSchema(Box<Statement>),
    /// Any other statement that names a model table.
    Virtual(Box<Statement>),
    /// A read of the `stardust` system schema.
    SystemSchema(Box<Statement>),
    /// `CALL stardust.replay_dlq(id)`: put a dead-lettered entry back on the sync queue.
    ReplayDlq(i64),
    /// `CALL stardust.export('SELECT …', 'csv'|'json')`: submit an export job.
    Export { query: String, format: String },
    /// `CALL stardust.cancel_job(id [, 'import'|'export'])`: cancel one of the tenant's unfinished jobs.
    CancelJob { id: i64, kind: String },
}

/// Introspection of one model table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelShow {
    Columns {
        table: String,
        full: bool,
        like: Option<String>,
    },
    CreateTable {
        table: String,
    },
    Index {
        table: String,
    },
}

/// Routes `sql`. An administrator's plain statement (`scan::plain`: no model, system or information_schema name,
/// no verb the proxy answers) goes to the backend unparsed; everything else is parsed ([`parse_and_route`]).
pub fn classify(sql: &str, ctx: &Context<'_>) -> Result<Route, Error> {
    if ctx.role == Role::Admin && super::scan::plain(sql) {
        return Ok(Route::Forward);
    }
    parse_and_route(sql, ctx)
}

/// Parses `sql` and routes it. Admins' statements that sqlparser cannot read go to the backend, which is the
/// authority on MySQL syntax; tenants' are refused, since the proxy must understand everything a tenant sends.
pub fn parse_and_route(sql: &str, ctx: &Context<'_>) -> Result<Route, Error> {
    // Tokenized once: the parser reads the tokens, and the policy looks among them for INTO.
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize_with_location();
    let mentions_into = tokens.as_ref().ok().map(|tokens| {
        tokens
            .iter()
            .any(|t| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::INTO))
    });
    let parsed = match tokens {
        Ok(tokens) => Parser::new(&MySqlDialect {})
            .with_tokens_with_locations(super::share_lock::normalize(tokens))
            .parse_statements(),
        Err(_) => Parser::parse_sql(&MySqlDialect {}, sql),
    };
    let statements = match parsed {
        Ok(statements) => statements,
        Err(e) => {
            // sqlparser reads SHOW INDEX and SHOW TABLE STATUS loosely or not at all; read them from tokens.
            if let Some(route) = show_route(sql, ctx) {
                return Ok(route);
            }
            if let Some(refusal) = unparsed_refusal(sql) {
                return Err(refusal);
            }
            return match ctx.role {
                Role::Admin => Ok(Route::Forward),
                Role::Tenant(_) => Err(Error::Syntax(e.to_string())),
            };
        }
    };
    // The text's INTO belongs to the statement only when the text holds one statement.
    let into = mentions_into.filter(|_| statements.len() == 1);
    let mut routes = Vec::with_capacity(statements.len());
    for statement in statements {
        if let Statement::ShowVariable { .. } = statement {
            if let Some(route) = show_route(sql, ctx) {
                routes.push(route);
                continue;
            }
        }
        // The proxy's own sessions, shown to every login (each its own): not a backend statement to police.
        if let Statement::ShowProcessList { full } = statement {
            routes.push(Route::ShowProcesslist { full });
            continue;
        }
        if let Some(route) = procedure(&statement)? {
            routes.push(route);
            continue;
        }
        // The rewrite substitutes every `model_*` reference; a CTE of that name would be taken for the model.
        let (tables, ctes) = names::tables_and_ctes(&statement, ctx.home);
        if let Some(cte) = ctes.into_iter().find(|name| is_virtual(name)) {
            return Err(Error::NotSupported(format!(
                "a common table expression may not be named {cte}: model_* names are model tables; rename it"
            )));
        }
        if let Role::Tenant(_) = ctx.role {
            policy::check_tenant(&statement, &tables, ctx, into)?;
        }
        routes.push(route(statement, &tables, ctx, sql)?);
    }
    match routes.as_slice() {
        // Nothing but comments: the backend answers an admin's (OK, or "Query was empty" for a bare `;`); a
        // tenant's text is never sent unread, and gets "Query was empty".
        [] => match ctx.role {
            Role::Admin => Ok(Route::Forward),
            Role::Tenant(_) => Err(Error::Empty),
        },
        [_] => Ok(routes.remove(0)),
        many if many.iter().all(|r| *r == Route::Forward) => Ok(Route::Forward),
        _ => Err(Error::NotSupported(
            "statements on model tables, USE, KILL, SHOW and SET stardust_* must be sent as statements of their \
             own, not in a batch"
                .to_string(),
        )),
    }
}

/// DDL on a model table that sqlparser cannot read because of a clause StarDust refuses anyway: say why.
fn unparsed_refusal(sql: &str) -> Option<Error> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().ok()?;
    let words: Vec<&Word> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w),
            _ => None,
        })
        .collect();
    let creates_model = matches!(words.as_slice(), [create, table, ..]
        if create.keyword == Keyword::CREATE && table.keyword == Keyword::TABLE)
        && words.iter().any(|w| is_virtual(&w.value));
    let partitioned = words.iter().any(|w| w.keyword == Keyword::PARTITION);
    (creates_model && partitioned).then(|| {
        Error::NotSupported(
            "PARTITION BY is not supported for model tables: StarDust lays out their storage itself".to_string(),
        )
    })
}

/// `SHOW INDEX … FROM model_x` and `SHOW TABLE STATUS` of the home database.
fn show_route(sql: &str, ctx: &Context<'_>) -> Option<Route> {
    let home = |db: &Option<String>| db.as_deref().is_none_or(|d| d == ctx.home);
    match show::parse(sql)? {
        Show::Index { table, database } if home(&database) && is_virtual(&table) => {
            Some(Route::ShowModel(ModelShow::Index { table }))
        }
        Show::TableStatus { database, like } if home(&database) => {
            Some(Route::ShowTableStatus { like })
        }
        _ => None,
    }
}

/// `CALL stardust.<procedure>(…)`: the system schema's one procedure. Other CALLs are not StarDust's.
fn procedure(statement: &Statement) -> Result<Option<Route>, Error> {
    let Statement::Call(call) = statement else {
        return Ok(None);
    };
    let parts: Vec<String> = call
        .name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    if parts.first().map(String::as_str) != Some("stardust") {
        return Ok(None);
    }
    let usage = || {
        Error::NotSupported(
            "the stardust schema has three procedures: CALL stardust.replay_dlq(<id from stardust.dlq>), \
             CALL stardust.export('SELECT … FROM model_x [WHERE …]', 'csv' | 'json') and \
             CALL stardust.cancel_job(<id from stardust.jobs> [, 'import' | 'export'])"
                .to_string(),
        )
    };
    let sqlparser::ast::FunctionArguments::List(list) = &call.args else {
        return Err(usage());
    };
    let values: Vec<&Value> = list
        .args
        .iter()
        .filter_map(|arg| match arg {
            sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(
                Expr::Value(v),
            )) => Some(&v.value),
            _ => None,
        })
        .collect();
    if values.len() != list.args.len() || parts.len() != 2 {
        return Err(usage());
    }
    match (parts[1].as_str(), values.as_slice()) {
        ("replay_dlq", [Value::Number(n, _)]) => n
            .parse::<i64>()
            .map(|id| Some(Route::ReplayDlq(id)))
            .map_err(|_| usage()),
        ("export", [query, format]) => match (
            (*query).clone().into_string(),
            (*format).clone().into_string(),
        ) {
            (Some(query), Some(format)) => Ok(Some(Route::Export { query, format })),
            _ => Err(usage()),
        },
        // Imports and exports are numbered apart; without a kind, an import (as `stardust jobs --cancel`).
        ("cancel_job", [Value::Number(n, _), rest @ ..]) if rest.len() <= 1 => {
            let kind = match rest.first() {
                None => Some("import".to_string()),
                Some(kind) => (*kind).clone().into_string(),
            };
            match (n.parse::<i64>(), kind) {
                (Ok(id), Some(kind)) => Ok(Some(Route::CancelJob { id, kind })),
                _ => Err(usage()),
            }
        }
        _ => Err(usage()),
    }
}

/// Takes the statement by value: a Route owns it, and a multi-row INSERT is not worth copying. A statement the
/// route carries is printed for the backend later, so its string literals are made exact here (passthrough
/// statements are forwarded as the client wrote them, and need not be).
fn route(
    mut statement: Statement,
    tables: &[Table],
    ctx: &Context<'_>,
    sql: &str,
) -> Result<Route, Error> {
    if let Some(route) = introspection(&statement, ctx) {
        return Ok(route);
    }
    if tables.iter().any(|t| matches!(t, Table::Virtual(_))) {
        super::labels::label(&mut statement, sql);
    }
    if tables.iter().any(|t| !matches!(t, Table::Backend(_))) {
        super::exact_strings(&mut statement);
    }
    if tables.iter().any(|t| matches!(t, Table::Virtual(_))) {
        return Ok(if crate::ddl::is_model_ddl(&statement) {
            Route::ModelDdl(Box::new(statement))
        } else {
            Route::Virtual(Box::new(statement))
        });
    }
    if tables.iter().any(|t| matches!(t, Table::System(_))) {
        return match statement {
            Statement::Query(_) => Ok(Route::SystemSchema(Box::new(statement))),
            _ => Err(Error::NotSupported(
                "the stardust schema is read-only: its state changes through DDL, writes and the daemons"
                    .to_string(),
            )),
        };
    }
    if tables
        .iter()
        .any(|t| matches!(t, Table::InformationSchema(_)))
    {
        return Ok(Route::InformationSchema(Box::new(statement)));
    }
    Ok(match &statement {
        Statement::Use(Use::Database(name) | Use::Schema(name) | Use::Object(name)) => {
            Route::Use(last_part(name))
        }
        Statement::Kill { modifier, id } => Route::Kill {
            id: *id,
            query_only: matches!(modifier, Some(KillType::Query)),
        },
        Statement::Set(set) => match (
            variables::tenant_assignment(set)?,
            variables::allow_scan_assignment(set)?,
        ) {
            (Some(tenant), _) => Route::SetTenant(tenant),
            (None, Some(allow)) => Route::SetAllowScan(allow),
            (None, None) => match variables::timeout_assignment(set)? {
                Some(timeout) => Route::SetStatementTimeout(timeout),
                None => Route::Forward,
            },
        },
        Statement::ShowDatabases { .. } if matches!(ctx.role, Role::Tenant(_)) => {
            Route::ShowDatabases
        }
        _ => Route::Forward,
    })
}

/// SHOW and DESCRIBE statements the proxy answers from the catalog.
fn introspection(statement: &Statement, ctx: &Context<'_>) -> Option<Route> {
    let model = |name: &ObjectName| match names::table(name, ctx.home) {
        Table::Virtual(table) => Some(table),
        _ => None,
    };
    let in_home = |options: &ShowStatementOptions| {
        options
            .show_in
            .as_ref()
            .and_then(|i| i.parent_name.as_ref())
            .is_none_or(|db| last_part(db) == ctx.home)
    };
    match statement {
        Statement::ShowTables {
            full, show_options, ..
        } if in_home(show_options) => Some(Route::ShowTables {
            full: *full,
            like: like_of(show_options),
        }),
        Statement::ShowColumns {
            full, show_options, ..
        } => {
            let table = model(show_options.show_in.as_ref()?.parent_name.as_ref()?)?;
            Some(Route::ShowModel(ModelShow::Columns {
                table,
                full: *full,
                like: like_of(show_options),
            }))
        }
        Statement::ExplainTable { table_name, .. } => Some(Route::ShowModel(ModelShow::Columns {
            table: model(table_name)?,
            full: false,
            like: None,
        })),
        Statement::ShowCreate {
            obj_type: ShowCreateObject::Table,
            obj_name,
        } => Some(Route::ShowModel(ModelShow::CreateTable {
            table: model(obj_name)?,
        })),
        _ => None,
    }
}

fn like_of(options: &ShowStatementOptions) -> Option<String> {
    match options.filter_position.as_ref()? {
        ShowStatementFilterPosition::Infix(ShowStatementFilter::Like(pattern))
        | ShowStatementFilterPosition::Suffix(ShowStatementFilter::Like(pattern)) => {
            Some(pattern.clone())
        }
        _ => None,
    }
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
    fn show_processlist_is_answered_by_the_proxy_for_every_login() {
        for ctx in [&ADMIN, &TENANT] {
            assert_eq!(
                classify("SHOW PROCESSLIST", ctx),
                Ok(Route::ShowProcesslist { full: false })
            );
            assert_eq!(
                classify("show full processlist", ctx),
                Ok(Route::ShowProcesslist { full: true })
            );
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
            Ok(Route::ShowTables {
                full: false,
                like: None
            })
        );
        assert_eq!(
            classify("SHOW FULL TABLES LIKE 'model%'", &TENANT),
            Ok(Route::ShowTables {
                full: true,
                like: Some("model%".into())
            })
        );
        assert_eq!(
            classify("SHOW TABLES", &ADMIN),
            Ok(Route::ShowTables {
                full: false,
                like: None
            })
        );
        assert_eq!(
            classify("DESCRIBE model_x", &TENANT),
            Ok(Route::ShowModel(ModelShow::Columns {
                table: "model_x".into(),
                full: false,
                like: None
            }))
        );
        assert_eq!(
            classify("SHOW CREATE TABLE app.model_x", &TENANT),
            Ok(Route::ShowModel(ModelShow::CreateTable {
                table: "model_x".into()
            }))
        );
        assert_eq!(
            classify("SHOW INDEX FROM model_x", &TENANT),
            Ok(Route::ShowModel(ModelShow::Index {
                table: "model_x".into()
            }))
        );
        assert_eq!(
            classify("SHOW TABLE STATUS", &TENANT),
            Ok(Route::ShowTableStatus { like: None })
        );
        assert!(matches!(
            classify("CREATE TABLE model_x (a INT)", &TENANT),
            Ok(Route::ModelDdl(_))
        ));
        assert!(matches!(
            classify("DROP TABLE model_x", &ADMIN),
            Ok(Route::ModelDdl(_))
        ));
        assert!(matches!(
            classify("SELECT * FROM model_x", &TENANT),
            Ok(Route::Virtual(_))
        ));
        assert!(matches!(
            classify(
                "SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME = 'model_x'",
                &TENANT
            ),
            Ok(Route::InformationSchema(_))
        ));
        assert_eq!(
            classify("SHOW DATABASES", &TENANT),
            Ok(Route::ShowDatabases)
        );
        assert_eq!(classify("SHOW DATABASES", &ADMIN), Ok(Route::Forward));
    }

    #[test]
    fn a_text_of_comments_only_goes_to_the_backend_for_admins_alone() {
        for text in ["/* line with only comment */", "-- a comment\n", ";"] {
            assert_eq!(classify(text, &ADMIN), Ok(Route::Forward), "{text}");
            assert_eq!(parse_and_route(text, &ADMIN), Ok(Route::Forward), "{text}");
            assert_eq!(parse_and_route(text, &TENANT), Err(Error::Empty), "{text}");
        }
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
