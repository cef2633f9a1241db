//! Writes that name their rows by primary key — `WHERE id = 5`, `WHERE id IN (1, 2) AND version = 3`, as ORMs
//! update and delete — read `entry_data` by its primary key, as a native table's UPDATE would. Left to itself the
//! optimizer may read a small model through the `(tenant_id, model_id)` index instead; in a locking read (an
//! UPDATE or DELETE inside a transaction) that locks the gap after the last row as well, and every concurrent
//! INSERT into the model waits for the transaction to end — where a native table lets it through.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, Statement, TableFactor, TableIndexHintType, TableIndexHints,
    TableIndexType, Value, VisitMut, VisitorMut,
};

/// Whether `selection` restricts `id` to literal values in one of its top-level conjuncts, so at most that many
/// rows can match. `alias` is the name the statement gives the model table.
pub fn by_id(selection: Option<&Expr>, alias: &str) -> bool {
    let Some(selection) = selection else {
        return false;
    };
    let is_id = |expr: &Expr| match expr {
        Expr::Identifier(ident) => ident.value.eq_ignore_ascii_case("id"),
        Expr::CompoundIdentifier(parts) => matches!(parts.as_slice(),
            [table, column] if table.value == alias && column.value.eq_ignore_ascii_case("id")),
        _ => false,
    };
    let is_literal = |expr: &Expr| match expr {
        Expr::Value(value) => !matches!(value.value, Value::Null),
        Expr::Nested(inner) => matches!(inner.as_ref(), Expr::Value(_)),
        _ => false,
    };
    match selection {
        Expr::Nested(inner) => by_id(Some(inner), alias),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => by_id(Some(left), alias) || by_id(Some(right), alias),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => (is_id(left) && is_literal(right)) || (is_literal(left) && is_id(right)),
        Expr::InList {
            expr,
            list,
            negated: false,
        } => is_id(expr) && !list.is_empty() && list.iter().all(is_literal),
        _ => false,
    }
}

/// Every `entry_data` the rewritten `statement` reads is read through its primary key (`FORCE INDEX (PRIMARY)`).
pub fn force_primary(statement: &mut Statement) {
    struct Force;
    impl VisitorMut for Force {
        type Break = ();
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, index_hints, ..
            } = factor
            {
                let entries = name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .is_some_and(|ident| ident.value == "entry_data");
                if entries && index_hints.is_empty() {
                    index_hints.push(TableIndexHints {
                        hint_type: TableIndexHintType::Force,
                        index_type: TableIndexType::Index,
                        for_clause: None,
                        index_names: vec![Ident::new("PRIMARY")],
                    });
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Force);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selection(sql: &str) -> Expr {
        let query = crate::rewrite::parse_query(&format!("SELECT 1 FROM t WHERE {sql}")).unwrap();
        let sqlparser::ast::SetExpr::Select(select) = *query.body else {
            panic!("a select")
        };
        select.selection.unwrap()
    }

    #[test]
    fn rows_named_by_primary_key() {
        for sql in [
            "id = 5",
            "5 = id",
            "t.id = 5",
            "id IN (1, 2, 3)",
            "id = 5 AND version = 3",
            "(name = 'x' AND (id = '7'))",
        ] {
            assert!(by_id(Some(&selection(sql)), "t"), "{sql}");
        }
        for sql in [
            "id > 5",
            "id = 5 OR name = 'x'",
            "id IN (SELECT 1)",
            "id NOT IN (1)",
            "id = NULL",
            "id = n",
            "other.id = 5",
            "name = 'x'",
        ] {
            assert!(!by_id(Some(&selection(sql)), "t"), "{sql}");
        }
        assert!(!by_id(None, "t"));
    }

    #[test]
    fn entry_data_is_read_by_primary_key() {
        let mut statement = Statement::Query(Box::new(
            crate::rewrite::parse_query("SELECT e.id FROM entry_data AS e JOIN (SELECT e.id FROM entry_data AS e LEFT JOIN p AS p1 \
             USE INDEX (PRIMARY) ON p1.entry_id = e.id) AS m ON m.id = e.id")
            .unwrap(),
        ));
        force_primary(&mut statement);
        assert_eq!(
            statement.to_string(),
            "SELECT e.id FROM entry_data AS e FORCE INDEX (PRIMARY) JOIN (SELECT e.id FROM entry_data AS e \
             FORCE INDEX (PRIMARY) LEFT JOIN p AS p1 USE INDEX (PRIMARY) ON p1.entry_id = e.id) AS m ON m.id = e.id"
        );
    }
}
