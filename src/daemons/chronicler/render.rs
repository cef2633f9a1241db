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
    csv: csv::Writer<Vec<u8>>,
}

impl Renderer {
    /// For a chunk's result columns (the cursor last).
    pub fn new(format: Format, columns: &[Column]) -> Renderer {
        let shown = columns
            .get(..columns.len().saturating_sub(1))
            .unwrap_or_default();
        Renderer {
            format,
            names: shown.iter().map(|c| c.name_str().into_owned()).collect(),
            kinds: shown.iter().map(kind).collect(),
            csv: csv_writer(),
        }
    }

    /// What the file starts with: the CSV header row, or the JSON array's bracket.
    pub fn preamble(&mut self) -> Result<Vec<u8>, String> {
        match self.format {
            Format::Csv => {
                self.csv
                    .write_record(&self.names)
                    .map_err(|e| e.to_string())?;
                self.take()
            }
            Format::Json => Ok(b"[".to_vec()),
        }
    }

    /// The rows written since the last call, where the format gathers them (CSV).
    pub fn pending(&mut self) -> Result<Vec<u8>, String> {
        match self.format {
            Format::Csv => self.take(),
            Format::Json => Ok(Vec::new()),
        }
    }

    /// What the file ends with.
    pub fn close(&self) -> &'static [u8] {
        match self.format {
            Format::Csv => b"",
            Format::Json => b"\n]\n",
        }
    }

    fn take(&mut self) -> Result<Vec<u8>, String> {
        std::mem::replace(&mut self.csv, csv_writer())
            .into_inner()
            .map_err(|e| e.to_string())
    }

    /// One row's bytes (`first`: the file's first row); an error names why the row cannot be written.
    pub fn row(&mut self, row: &Row, first: bool) -> Result<Vec<u8>, String> {
        let mut cells: Vec<Option<&str>> = Vec::with_capacity(self.names.len());
        for i in 0..row.len().saturating_sub(1) {
            match row.as_ref(i) {
                None | Some(Value::NULL) => cells.push(None),
                Some(Value::Bytes(bytes)) => cells.push(Some(
                    std::str::from_utf8(bytes)
                        .map_err(|_| "unrepresentable_codepoint".to_string())?,
                )),
                Some(_) => return Err("format_invalid".to_string()),
            }
        }
        match self.format {
            // CSV rows gather in the writer; the chunk takes them at once (`pending`).
            Format::Csv => {
                self.csv
                    .write_record(cells.iter().map(|c| c.unwrap_or("")))
                    .map_err(|_| "format_invalid".to_string())?;
                Ok(Vec::new())
            }
            Format::Json => Ok(self.object(&cells, first).into_bytes()),
        }
    }

    fn object(&self, cells: &[Option<&str>], first: bool) -> String {
        let mut text = String::from(if first { "\n{" } else { ",\n{" });
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let name = self.names.get(i).map(String::as_str).unwrap_or("");
            text.push_str(&serde_json::Value::from(name).to_string());
            text.push(':');
            match (cell, self.kinds.get(i)) {
                (None, _) => text.push_str("null"),
                (Some(number), Some(Kind::Number)) if is_json_number(number) => {
                    text.push_str(number)
                }
                (Some(json), Some(Kind::Json)) => text.push_str(json),
                (Some(other), _) => text.push_str(&serde_json::Value::from(*other).to_string()),
            }
        }
        text.push('}');
        text
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(64 * 1024)
        .from_writer(Vec::new())
}

/// Whether the backend's text for a number is a JSON number as it stands.
fn is_json_number(text: &str) -> bool {
    serde_json::from_str::<serde_json::Number>(text).is_ok()
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
        let mut file = csv.preamble().unwrap();
        file.extend(csv.row(&one, true).unwrap());
        file.extend(csv.row(&two, false).unwrap());
        file.extend(csv.pending().unwrap());
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "name,price,doc\r\n\"a, \"\"b\"\"\nc\",1.50,\r\nx,,\"{\"\"k\"\": [1]}\"\r\n"
        );
        let mut json = Renderer::new(Format::Json, &columns);
        let mut file = json.preamble().unwrap();
        file.extend(json.row(&one, true).unwrap());
        file.extend(json.row(&two, false).unwrap());
        file.extend(json.close());
        let text = String::from_utf8(file).unwrap();
        assert_eq!(
            text,
            "[\n{\"name\":\"a, \\\"b\\\"\\nc\",\"price\":1.50,\"doc\":null},\n{\"name\":\"x\",\"price\":null,\"doc\":{\"k\": [1]}}\n]\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[1]["doc"]["k"][0], 1);
        let mut empty = Renderer::new(Format::Json, &columns);
        let mut file = empty.preamble().unwrap();
        file.extend(empty.close());
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
        assert_eq!(
            json.row(&bad, true).unwrap_err(),
            "unrepresentable_codepoint"
        );
    }
}
