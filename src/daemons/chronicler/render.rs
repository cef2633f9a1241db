//! Export rows as file bytes. CSV (RFC 4180): a header row of the result's column names, CRLF line ends, NULL as
//! an empty cell. JSON: one array of objects keyed by column name; numbers as the backend printed them (exact,
//! DECIMAL included), JSON columns embedded, NULL as null, everything else a string. The last column of every
//! row is the cursor, which the file does not show.

use mysql_async::consts::ColumnType;
use mysql_async::{Column, Row, Value};

use crate::jobs::export::Format;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Json,
    Text,
}

fn kind(column: &Column) -> Kind {
    use ColumnType::*;
    match column.column_type() {
        MYSQL_TYPE_TINY
        | MYSQL_TYPE_SHORT
        | MYSQL_TYPE_LONG
        | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL
        | MYSQL_TYPE_FLOAT
        | MYSQL_TYPE_DOUBLE
        | MYSQL_TYPE_YEAR => Kind::Number,
        MYSQL_TYPE_JSON => Kind::Json,
        _ => Kind::Text,
    }
}

pub struct Renderer {
    format: Format,
    names: Vec<String>,
    kinds: Vec<Kind>,
    /// JSON: each column's `"name":`, escaped once.
    keys: Vec<Vec<u8>>,
    /// CSV: the chunk's rows gather here and are taken at once ([`Renderer::finish`]).
    csv: csv::Writer<Vec<u8>>,
}

impl Renderer {
    /// For a chunk's result columns (the cursor last).
    pub fn new(format: Format, columns: &[Column]) -> Renderer {
        let shown = columns
            .get(..columns.len().saturating_sub(1))
            .unwrap_or_default();
        let names: Vec<String> = shown.iter().map(|c| c.name_str().into_owned()).collect();
        Renderer {
            format,
            keys: names
                .iter()
                .map(|name| {
                    let mut key = serde_json::to_vec(name).unwrap_or_default();
                    key.push(b':');
                    key
                })
                .collect(),
            names,
            kinds: shown.iter().map(kind).collect(),
            csv: csv_writer(),
        }
    }

    /// What the file starts with: the CSV header row, or the JSON array's bracket.
    pub fn preamble(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        match self.format {
            Format::Csv => self
                .csv
                .write_record(&self.names)
                .map_err(|e| e.to_string()),
            Format::Json => {
                out.push(b'[');
                Ok(())
            }
        }
    }

    /// Ends the chunk: the rows a format gathers (CSV) go to `out`.
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), String> {
        match self.format {
            Format::Csv => {
                let gathered = self.csv.into_inner().map_err(|e| e.to_string())?;
                out.extend_from_slice(&gathered);
                Ok(())
            }
            Format::Json => Ok(()),
        }
    }

    /// One row into `out` (`first`: the file's first row), from the backend's text as it came; an error names
    /// why the row cannot be written, and then nothing of it is written.
    pub fn row(&mut self, row: &Row, first: bool, out: &mut Vec<u8>) -> Result<(), String> {
        let shown = row.len().saturating_sub(1);
        // Checked before anything is written, so a refused row leaves no trace.
        for i in 0..shown {
            match row.as_ref(i) {
                None | Some(Value::NULL) => {}
                Some(Value::Bytes(bytes)) => {
                    if std::str::from_utf8(bytes).is_err() {
                        return Err("unrepresentable_codepoint".to_string());
                    }
                }
                Some(_) => return Err("format_invalid".to_string()),
            }
        }
        let cell = |i: usize| match row.as_ref(i) {
            Some(Value::Bytes(bytes)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        };
        match self.format {
            Format::Csv => self
                .csv
                .write_record((0..shown).map(|i| cell(i).unwrap_or("")))
                .map_err(|_| "format_invalid".to_string()),
            Format::Json => {
                out.extend_from_slice(if first { b"\n{" } else { b",\n{" });
                for i in 0..shown {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(self.keys.get(i).map(Vec::as_slice).unwrap_or(b"\"\":"));
                    match (cell(i), self.kinds.get(i)) {
                        (None, _) => out.extend_from_slice(b"null"),
                        (Some(number), Some(Kind::Number)) if is_json_number(number) => {
                            out.extend_from_slice(number.as_bytes())
                        }
                        (Some(json), Some(Kind::Json)) => out.extend_from_slice(json.as_bytes()),
                        (Some(other), _) => {
                            serde_json::to_writer(&mut *out, other)
                                .map_err(|_| "format_invalid".to_string())?;
                        }
                    }
                }
                out.push(b'}');
                Ok(())
            }
        }
    }
}

/// What the file ends with.
pub fn close(format: Format) -> &'static [u8] {
    match format {
        Format::Csv => b"",
        Format::Json => b"\n]\n",
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(64 * 1024)
        .from_writer(Vec::with_capacity(1 << 20))
}

/// Whether the backend's text for a number is a JSON number as it stands (RFC 8259's grammar: an optional
/// minus, an integer part without leading zeros, an optional fraction, an optional exponent).
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - from
    };
    let from = i;
    match digits(&mut i) {
        0 => return false,
        n if n > 1 && b[from] == b'0' => return false,
        _ => {}
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: ColumnType) -> Column {
        Column::new(kind).with_name(name.as_bytes())
    }

    fn row(values: Vec<Value>, columns: &[Column]) -> Row {
        mysql_common::row::new_row(values, columns.to_vec().into())
    }

    #[test]
    fn csv_quotes_where_needed_and_json_keeps_numbers_exact() {
        let columns = vec![
            column("name", ColumnType::MYSQL_TYPE_VAR_STRING),
            column("price", ColumnType::MYSQL_TYPE_NEWDECIMAL),
            column("doc", ColumnType::MYSQL_TYPE_JSON),
            column("cursor", ColumnType::MYSQL_TYPE_LONGLONG),
        ];
        let one = row(
            vec![
                Value::Bytes(b"a, \"b\"\nc".to_vec()),
                Value::Bytes(b"1.50".to_vec()),
                Value::NULL,
                Value::Bytes(b"7".to_vec()),
            ],
            &columns,
        );
        let two = row(
            vec![
                Value::Bytes(b"x".to_vec()),
                Value::NULL,
                Value::Bytes(b"{\"k\": [1]}".to_vec()),
                Value::Bytes(b"9".to_vec()),
            ],
            &columns,
        );
        let mut csv = Renderer::new(Format::Csv, &columns);
        let mut file = Vec::new();
        csv.preamble(&mut file).unwrap();
        csv.row(&one, true, &mut file).unwrap();
        csv.row(&two, false, &mut file).unwrap();
        csv.finish(&mut file).unwrap();
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "name,price,doc\r\n\"a, \"\"b\"\"\nc\",1.50,\r\nx,,\"{\"\"k\"\": [1]}\"\r\n"
        );
        let mut json = Renderer::new(Format::Json, &columns);
        let mut file = Vec::new();
        json.preamble(&mut file).unwrap();
        json.row(&one, true, &mut file).unwrap();
        json.row(&two, false, &mut file).unwrap();
        json.finish(&mut file).unwrap();
        file.extend(close(Format::Json));
        let text = String::from_utf8(file).unwrap();
        assert_eq!(
            text,
            "[\n{\"name\":\"a, \\\"b\\\"\\nc\",\"price\":1.50,\"doc\":null},\n{\"name\":\"x\",\"price\":null,\"doc\":{\"k\": [1]}}\n]\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[1]["doc"]["k"][0], 1);
        let mut empty = Renderer::new(Format::Json, &columns);
        let mut file = Vec::new();
        empty.preamble(&mut file).unwrap();
        file.extend(close(Format::Json));
        assert_eq!(
            serde_json::from_slice::<Vec<serde_json::Value>>(&file)
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_refused() {
        let columns = vec![
            column("name", ColumnType::MYSQL_TYPE_VAR_STRING),
            column("cursor", ColumnType::MYSQL_TYPE_LONGLONG),
        ];
        let bad = row(
            vec![Value::Bytes(vec![0xff]), Value::Bytes(b"1".to_vec())],
            &columns,
        );
        let mut json = Renderer::new(Format::Json, &columns);
        let mut file = Vec::new();
        assert_eq!(
            json.row(&bad, true, &mut file).unwrap_err(),
            "unrepresentable_codepoint"
        );
        assert!(file.is_empty(), "a refused row leaves nothing behind");
    }

    #[test]
    fn numbers_are_embedded_only_when_json_takes_them() {
        for good in [
            "0",
            "-0",
            "7",
            "1.50",
            "-12.345",
            "1e10",
            "2.5E-3",
            "1e+7",
            "18446744073709551615",
        ] {
            assert!(is_json_number(good), "{good}");
            assert!(
                serde_json::from_str::<serde_json::Number>(good).is_ok(),
                "{good}"
            );
        }
        for bad in [
            "", "-", "007", "1.", ".5", "1e", "+1", "1.5x", "inf", "NaN", "0x1f",
        ] {
            assert!(!is_json_number(bad), "{bad}");
            assert!(
                serde_json::from_str::<serde_json::Number>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
