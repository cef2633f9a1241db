//! Result column names as the server gives them. MySQL names an unaliased expression by its text as the client
//! wrote it (`qty+1`, `COUNT( * )`, `BINARY name`), a column by its name and a quoted string by its value.
//! sqlparser prints expressions in its own spelling (`qty + 1`, `CAST(name AS BINARY)`), so a statement the
//! proxy prints for the backend would name its columns differently. [`label`] gives every such item of the
//! top-level SELECT an alias: the text it was written with, cut from the client's SQL along sqlparser's tokens.

use sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr, Statement, Value};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// The longest name MySQL keeps for a column; a longer text is left to the backend.
const LONGEST: usize = 255;

/// Aliases each unaliased expression of the statement's top-level projection (the first SELECT of a UNION,
/// which names the columns) with the text `sql` wrote it with. Bare columns are left alone; so are
/// quoted strings, unless printing changes them (see `super::exact_strings`), when the alias is their value.
pub fn label(statement: &mut Statement, sql: &str) {
    let Statement::Query(query) = statement else {
        return;
    };
    let Some(select) = first_select(query) else {
        return;
    };
    let needs_label = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(expr) => !named_by_server(expr),
        _ => false,
    };
    if !select.projection.iter().any(needs_label) {
        return;
    }
    let Some(texts) = item_texts(sql, select.select_token.0.span.start) else {
        return;
    };
    if texts.len() != select.projection.len() {
        return;
    }
    for (item, text) in select.projection.iter_mut().zip(texts) {
        let SelectItem::UnnamedExpr(expr) = item else {
            continue;
        };
        let reprinted = match &*expr {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) if super::needs_hex(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let name = match reprinted {
            Some(value) => value,
            None if named_by_server(expr) => continue,
            None => text,
        };
        if name.is_empty() || name.chars().count() > LONGEST {
            continue;
        }
        *item = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: Ident::with_quote('`', name),
        };
    }
}

/// The SELECT whose items name a query's columns.
fn first_select(query: &mut Query) -> Option<&mut sqlparser::ast::Select> {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => return Some(select),
            SetExpr::SetOperation { left, .. } => body = left.as_mut(),
            SetExpr::Query(inner) => body = inner.body.as_mut(),
            _ => return None,
        }
    }
}

/// Whether the backend names the item as MySQL would whatever its printing: a column (`name`, `t.name`,
/// `(name)`), a string literal sqlparser prints as written, a number, NULL or a boolean it prints alike.
fn named_by_server(expr: &Expr) -> bool {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) => matches!(
            inner.as_ref(),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_)
        ),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => !super::needs_hex(s),
            Value::DoubleQuotedString(_) | Value::Null => true,
            _ => false,
        },
        _ => false,
    }
}

/// The text of each item of the select list that starts at the `SELECT` keyword at `start`: the tokens after
/// the keyword and its modifiers, split at commas outside parentheses, up to the clause that ends the list.
fn item_texts(sql: &str, start: Location) -> Option<Vec<String>> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let first = tokens.iter().position(|t| t.span.start == start)? + 1;
    let lines = line_starts(sql);
    let mut items = Vec::new();
    let mut current: Vec<&TokenWithSpan> = Vec::new();
    let mut depth = 0usize;
    let mut modifiers = true;
    for token in &tokens[first..] {
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::Word(w)
                if modifiers
                    && w.quote_style.is_none()
                    && MODIFIERS.iter().any(|m| w.value.eq_ignore_ascii_case(m)) =>
            {
                continue
            }
            Token::Word(w)
                if depth == 0 && ENDS.contains(&w.keyword) && w.quote_style.is_none() =>
            {
                break
            }
            Token::SemiColon | Token::EOF => break,
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => break,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                items.push(slice(sql, &lines, &current)?);
                current.clear();
                continue;
            }
            _ => {}
        }
        modifiers = false;
        current.push(token);
    }
    items.push(slice(sql, &lines, &current)?);
    Some(items)
}

/// Words that may follow SELECT before the first item.
const MODIFIERS: [&str; 11] = [
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_NO_CACHE",
    "SQL_CACHE",
    "SQL_CALC_FOUND_ROWS",
];

/// Keywords that end a select list.
const ENDS: [Keyword; 13] = [
    Keyword::FROM,
    Keyword::INTO,
    Keyword::WHERE,
    Keyword::GROUP,
    Keyword::HAVING,
    Keyword::WINDOW,
    Keyword::ORDER,
    Keyword::LIMIT,
    Keyword::UNION,
    Keyword::EXCEPT,
    Keyword::INTERSECT,
    Keyword::FOR,
    Keyword::LOCK,
];

/// Byte offset of each line's start.
fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The text from the first token's start to the last token's end.
fn slice(sql: &str, lines: &[usize], tokens: &[&TokenWithSpan]) -> Option<String> {
    let (first, last) = (tokens.first()?, tokens.last()?);
    let from = offset(sql, lines, first.span.start)?;
    let to = offset(sql, lines, last.span.end)?;
    sql.get(from..to).map(str::to_string)
}

/// A 1-based line and character column as a byte offset.
fn offset(sql: &str, lines: &[usize], at: Location) -> Option<usize> {
    let line_start = *lines.get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let rest = &sql[line_start..];
    match rest.char_indices().nth(column) {
        Some((i, _)) => Some(line_start + i),
        None if rest.chars().count() == column => Some(line_start + rest.len()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::parser::Parser;

    fn labelled(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0);
        label(&mut statement, sql);
        statement.to_string()
    }

    #[test]
    fn unaliased_expressions_keep_the_text_they_were_written_with() {
        assert_eq!(
            labelled("SELECT qty+1, COUNT( * ), name, t.qty, (qty), 'x', 1.50, /* c */ qty  *  2 /* d */ FROM t"),
            "SELECT qty + 1 AS `qty+1`, COUNT(*) AS `COUNT( * )`, name, t.qty, (qty), 'x', 1.50 AS `1.50`, \
             qty * 2 AS `qty  *  2` FROM t"
        );
        assert_eq!(
            labelled("SELECT DISTINCT BINARY name, CASE WHEN a THEN (SELECT 1 FROM u) END, x AS y FROM t WHERE 1"),
            "SELECT DISTINCT CAST(name AS BINARY) AS `BINARY name`, CASE WHEN a THEN (SELECT 1 FROM u) END AS \
             `CASE WHEN a THEN (SELECT 1 FROM u) END`, x AS y FROM t WHERE 1"
        );
        assert_eq!(
            labelled("SELECT SUM(a)\n  , `b`+0 FROM t UNION SELECT c+1, d FROM u"),
            "SELECT SUM(a) AS `SUM(a)`, `b` + 0 AS ```b``+0` FROM t UNION SELECT c + 1, d FROM u"
        );
        assert_eq!(labelled("SELECT 'a\\\\b'"), "SELECT 'a\\b' AS `a\\b`");
        assert_eq!(labelled("SELECT name FROM t"), "SELECT name FROM t");
    }
}
