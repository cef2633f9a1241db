//! Encoding server responses: OK, ERR, EOF, column definitions, text and binary rows.

use mysql_async::consts::{CapabilityFlags, ColumnType, StatusFlags};
use mysql_async::{Column, Value};
use mysql_common::io::BufMutExt;
use mysql_common::proto::MySerialize;
use tokio::io::AsyncWrite;

use super::packet::PacketWriter;

/// What an OK packet reports.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: StatusFlags,
    pub warnings: u16,
    pub info: String,
}

/// The response side of one client connection.
pub struct Wire<W: AsyncWrite + Unpin> {
    writer: PacketWriter<W>,
    capabilities: CapabilityFlags,
    scratch: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Wire<W> {
    pub fn new(writer: PacketWriter<W>) -> Self {
        Wire {
            writer,
            capabilities: CapabilityFlags::empty(),
            scratch: Vec::with_capacity(1024),
        }
    }

    /// The capabilities both sides agreed on; they decide EOF versus OK terminators.
    pub fn set_capabilities(&mut self, capabilities: CapabilityFlags) {
        self.capabilities = capabilities;
    }

    pub fn set_seq(&mut self, seq: u8) {
        self.writer.set_seq(seq);
    }

    fn deprecate_eof(&self) -> bool {
        self.capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    pub async fn raw(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.writer.write(payload).await
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush().await
    }

    pub async fn ok(&mut self, outcome: &Outcome) -> std::io::Result<()> {
        self.ok_with_header(0x00, outcome).await
    }

    async fn ok_with_header(&mut self, header: u8, outcome: &Outcome) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.push(header);
        buf.put_lenenc_int(outcome.affected_rows);
        buf.put_lenenc_int(outcome.last_insert_id);
        buf.extend_from_slice(&outcome.status.bits().to_le_bytes());
        buf.extend_from_slice(&outcome.warnings.to_le_bytes());
        // Servers store a non-empty message length-encoded, and libmariadb reads it that way.
        if !outcome.info.is_empty() {
            buf.put_lenenc_str(outcome.info.as_bytes());
        }
        let result = self.writer.write(&buf).await;
        self.scratch = buf;
        result
    }

    pub async fn error(&mut self, code: u16, state: [u8; 5], message: &str) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(9 + message.len());
        buf.push(0xFF);
        buf.extend_from_slice(&code.to_le_bytes());
        buf.push(b'#');
        buf.extend_from_slice(&state);
        buf.extend_from_slice(message.as_bytes());
        self.writer.write(&buf).await
    }

    /// The classic EOF packet (only for clients without CLIENT_DEPRECATE_EOF).
    async fn eof(&mut self, warnings: u16, status: StatusFlags) -> std::io::Result<()> {
        let mut buf = [0xFE, 0, 0, 0, 0];
        buf[1..3].copy_from_slice(&warnings.to_le_bytes());
        buf[3..5].copy_from_slice(&status.bits().to_le_bytes());
        self.writer.write(&buf).await
    }

    /// Column count, column definitions and, for older clients, the EOF after them.
    pub async fn columns(
        &mut self,
        columns: &[Column],
        status: StatusFlags,
    ) -> std::io::Result<()> {
        self.column_count_and_definitions(columns).await?;
        if !self.deprecate_eof() {
            self.eof(0, status).await?;
        }
        Ok(())
    }

    /// The reply to a COM_STMT_EXECUTE that opened a cursor: column count and definitions, then one terminator
    /// (EOF, or OK for DEPRECATE_EOF clients) whose status carries SERVER_STATUS_CURSOR_EXISTS; no rows.
    pub async fn cursor_opened(
        &mut self,
        columns: &[Column],
        status: StatusFlags,
    ) -> std::io::Result<()> {
        self.column_count_and_definitions(columns).await?;
        self.end_rows(0, status).await
    }

    /// The column count packet, then a definition packet per column.
    async fn column_count_and_definitions(&mut self, columns: &[Column]) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.put_lenenc_int(columns.len() as u64);
        self.writer.write(&buf).await?;
        self.column_definitions(columns, &mut buf).await?;
        self.scratch = buf;
        Ok(())
    }

    async fn column_definitions(
        &mut self,
        columns: &[Column],
        buf: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        for column in columns {
            buf.clear();
            put_column(buf, column);
            self.writer.write(buf).await?;
        }
        Ok(())
    }

    /// Definitions without a count, as in the prepared-statement reply and COM_FIELD_LIST.
    pub async fn definitions_then_eof(
        &mut self,
        columns: &[Column],
        status: StatusFlags,
    ) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        self.column_definitions(columns, &mut buf).await?;
        self.scratch = buf;
        if !self.deprecate_eof() {
            self.eof(0, status).await?;
        }
        Ok(())
    }

    /// COM_FIELD_LIST always ends with an EOF packet, whatever the capabilities.
    pub async fn field_list(
        &mut self,
        fields: &[(Column, Option<String>)],
        status: StatusFlags,
    ) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        for (column, default) in fields {
            buf.clear();
            put_column(&mut buf, column);
            match default {
                Some(value) => buf.put_lenenc_str(value.as_bytes()),
                None => buf.push(0xFB),
            }
            self.writer.write(&buf).await?;
        }
        self.scratch = buf;
        self.eof(0, status).await
    }

    /// The packet that ends a result set's rows.
    pub async fn end_rows(&mut self, warnings: u16, status: StatusFlags) -> std::io::Result<()> {
        if self.deprecate_eof() {
            let outcome = Outcome {
                status,
                warnings,
                ..Outcome::default()
            };
            self.ok_with_header(0xFE, &outcome).await
        } else {
            self.eof(warnings, status).await
        }
    }

    /// A text-protocol row: each value a length-encoded string, NULL as 0xFB.
    pub async fn text_row<'v>(
        &mut self,
        values: impl Iterator<Item = Option<&'v Value>>,
    ) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for value in values {
            put_text_value(&mut buf, value);
        }
        let result = self.writer.write(&buf).await;
        self.scratch = buf;
        result
    }

    /// A binary-protocol row: header, NULL bitmap (offset 2), then each non-NULL value in its column's encoding.
    pub async fn binary_row<'v>(
        &mut self,
        columns: &[Column],
        values: impl Iterator<Item = Option<&'v Value>>,
    ) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.push(0x00);
        let bitmap_start = buf.len();
        buf.resize(bitmap_start + (columns.len() + 2).div_ceil(8), 0);
        for (i, (column, value)) in columns.iter().zip(values).enumerate() {
            match value {
                None | Some(Value::NULL) => {
                    let bit = i + 2;
                    buf[bitmap_start + bit / 8] |= 1 << (bit % 8);
                }
                Some(value) => put_binary_value(&mut buf, column.column_type(), value),
            }
        }
        let result = self.writer.write(&buf).await;
        self.scratch = buf;
        result
    }

    /// The reply to COM_STMT_PREPARE: statement id, counts, then parameter and column definitions.
    pub async fn prepared(
        &mut self,
        id: u32,
        params: &[Column],
        columns: &[Column],
        status: StatusFlags,
    ) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(12);
        buf.push(0x00);
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&(columns.len() as u16).to_le_bytes());
        buf.extend_from_slice(&(params.len() as u16).to_le_bytes());
        buf.push(0x00);
        buf.extend_from_slice(&0u16.to_le_bytes());
        self.writer.write(&buf).await?;
        if !params.is_empty() {
            self.definitions_then_eof(params, status).await?;
        }
        if !columns.is_empty() {
            self.definitions_then_eof(columns, status).await?;
        }
        Ok(())
    }
}

/// A column definition for an answer the proxy composes itself.
pub fn text_column(name: &str, column_type: ColumnType) -> Column {
    let length = match column_type {
        ColumnType::MYSQL_TYPE_LONGLONG => 21,
        _ => 1024,
    };
    let charset = match column_type {
        ColumnType::MYSQL_TYPE_LONGLONG => 63,
        _ => 45,
    };
    Column::new(column_type)
        .with_name(name.as_bytes())
        .with_column_length(length)
        .with_character_set(charset)
}

/// A column definition (protocol 4.1). Written here rather than with `Column`'s own serializer, which swaps the
/// character set and column length fields.
fn put_column(buf: &mut Vec<u8>, column: &Column) {
    buf.put_lenenc_str(b"def");
    buf.put_lenenc_str(column.schema_ref());
    buf.put_lenenc_str(column.table_ref());
    buf.put_lenenc_str(column.org_table_ref());
    buf.put_lenenc_str(column.name_ref());
    buf.put_lenenc_str(column.org_name_ref());
    buf.push(0x0C);
    buf.extend_from_slice(&column.character_set().to_le_bytes());
    buf.extend_from_slice(&column.column_length().to_le_bytes());
    buf.push(column.column_type() as u8);
    buf.extend_from_slice(&column.flags().bits().to_le_bytes());
    buf.push(column.decimals());
    buf.extend_from_slice(&[0, 0]);
}

fn put_text_value(buf: &mut Vec<u8>, value: Option<&Value>) {
    match value {
        None | Some(Value::NULL) => buf.push(0xFB),
        Some(Value::Bytes(bytes)) => buf.put_lenenc_str(bytes),
        // The text protocol yields only bytes; other variants come from values the proxy made itself.
        Some(other) => buf.put_lenenc_str(other.as_sql(true).trim_matches('\'').as_bytes()),
    }
}

/// Encodes a binary-protocol value with the width its column type requires.
fn put_binary_value(buf: &mut Vec<u8>, column_type: ColumnType, value: &Value) {
    use ColumnType::*;
    let int = || -> i64 {
        match value {
            Value::Int(i) => *i,
            Value::UInt(u) => *u as i64,
            Value::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            Value::Float(f) => *f as i64,
            Value::Double(d) => *d as i64,
            _ => 0,
        }
    };
    match column_type {
        MYSQL_TYPE_TINY => buf.push(int() as u8),
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => buf.extend_from_slice(&(int() as u16).to_le_bytes()),
        MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 => buf.extend_from_slice(&(int() as u32).to_le_bytes()),
        MYSQL_TYPE_LONGLONG => match value {
            Value::UInt(u) => buf.extend_from_slice(&u.to_le_bytes()),
            _ => buf.extend_from_slice(&int().to_le_bytes()),
        },
        MYSQL_TYPE_FLOAT => {
            let f = match value {
                Value::Float(f) => *f,
                Value::Double(d) => *d as f32,
                _ => int() as f32,
            };
            buf.extend_from_slice(&f.to_le_bytes());
        }
        MYSQL_TYPE_DOUBLE => {
            let d = match value {
                Value::Double(d) => *d,
                Value::Float(f) => f64::from(*f),
                _ => int() as f64,
            };
            buf.extend_from_slice(&d.to_le_bytes());
        }
        _ => value.serialize(buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(column_type: ColumnType, value: Value) -> Vec<u8> {
        let mut buf = Vec::new();
        put_binary_value(&mut buf, column_type, &value);
        buf
    }

    #[test]
    fn column_definitions_read_back_as_written() {
        use mysql_common::io::ParseBuf;
        use mysql_common::proto::MyDeserialize;
        let column = Column::new(ColumnType::MYSQL_TYPE_NEWDECIMAL)
            .with_schema(b"app")
            .with_table(b"t")
            .with_org_table(b"t")
            .with_name(b"score")
            .with_org_name(b"score")
            .with_character_set(63)
            .with_column_length(12)
            .with_decimals(3);
        let mut buf = Vec::new();
        put_column(&mut buf, &column);
        let read = Column::deserialize((), &mut ParseBuf(&buf)).unwrap();
        assert_eq!(read, column);
    }

    #[test]
    fn binary_values_take_their_column_width() {
        assert_eq!(
            encoded(ColumnType::MYSQL_TYPE_TINY, Value::Int(-1)),
            vec![0xFF]
        );
        assert_eq!(
            encoded(ColumnType::MYSQL_TYPE_SHORT, Value::Int(258)),
            vec![2, 1]
        );
        assert_eq!(
            encoded(ColumnType::MYSQL_TYPE_LONG, Value::UInt(1)),
            vec![1, 0, 0, 0]
        );
        assert_eq!(
            encoded(ColumnType::MYSQL_TYPE_LONGLONG, Value::UInt(u64::MAX)),
            vec![0xFF; 8]
        );
        assert_eq!(
            encoded(ColumnType::MYSQL_TYPE_DOUBLE, Value::Double(1.5)),
            1.5f64.to_le_bytes().to_vec()
        );
        assert_eq!(
            encoded(
                ColumnType::MYSQL_TYPE_VAR_STRING,
                Value::Bytes(b"ab".to_vec())
            ),
            vec![2, b'a', b'b']
        );
        assert_eq!(
            encoded(
                ColumnType::MYSQL_TYPE_DATE,
                Value::Date(2024, 2, 29, 0, 0, 0, 0)
            ),
            vec![4, 0xE8, 0x07, 2, 29]
        );
    }
}
