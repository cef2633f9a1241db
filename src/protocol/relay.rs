//! Relaying a backend result to the client as it arrives: every result set, row by row, with the backend's
//! own column definitions, counts and status flags. Rows are never collected in memory.

use mysql_async::consts::StatusFlags;
use mysql_async::prelude::Protocol;
use mysql_async::{Column, Conn, QueryResult};
use tokio::io::AsyncWrite;

use super::wire::{Outcome, Wire};
use crate::Error;

/// Which row encoding the client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Text,
    Binary,
}

/// Streams every result set of `result` to the client. The final terminator is written by [`finish`], once
/// the backend connection is free again and its status flags can be read.
///
/// `overrides` replaces the type metadata of the first result set's columns where given: a model column is
/// described as the native column it stands for, whatever expression the backend computed it with.
pub async fn stream<P: Protocol, W: AsyncWrite + Unpin>(
    wire: &mut Wire<W>,
    mut result: QueryResult<'_, '_, P>,
    encoding: Encoding,
    status: StatusFlags,
    overrides: &[Option<Column>],
) -> Result<Last, Error> {
    let mut first = true;
    loop {
        // The backend's definitions are shared, not copied, unless the first result set's are overridden.
        let columns: Option<std::sync::Arc<[Column]>> = result.columns().map(|columns| {
            if std::mem::take(&mut first) && !overrides.is_empty() {
                apply_overrides(&columns, overrides).into()
            } else {
                columns
            }
        });
        let last = match columns.as_deref() {
            Some(columns) if !columns.is_empty() => {
                wire.columns(columns, status).await.map_err(gone)?;
                while let Some(row) = result.next().await? {
                    let values = (0..row.len()).map(|i| row.as_ref(i));
                    match encoding {
                        Encoding::Text => wire.text_row(values).await,
                        Encoding::Binary => wire.binary_row(columns, values).await,
                    }
                    .map_err(gone)?;
                }
                Last::Rows {
                    warnings: result.warnings(),
                }
            }
            _ => {
                let outcome = Outcome {
                    affected_rows: result.affected_rows(),
                    last_insert_id: result.last_insert_id().unwrap_or(0),
                    status,
                    warnings: result.warnings(),
                    info: result.info().into_owned(),
                };
                // Moves past this row-less result to the next one, if any.
                result.next().await?;
                Last::Ok(outcome)
            }
        };
        // Another result is pending while the driver holds its metadata. (`is_empty` would say no more for a
        // final OK result, whose packet no longer sets MORE_RESULTS_EXISTS, and it would be lost.)
        if result.columns().is_none() {
            // An error in a later statement of a batch waits inside the driver until asked for.
            return match result.next().await {
                Ok(_) => Ok(last),
                Err(e) => {
                    let more = status | StatusFlags::SERVER_MORE_RESULTS_EXISTS;
                    last.write(wire, more).await.map_err(gone)?;
                    Err(e.into())
                }
            };
        }
        last.write(wire, status | StatusFlags::SERVER_MORE_RESULTS_EXISTS)
            .await
            .map_err(gone)?;
    }
}

/// The backend's columns, with the name it gave each kept and the type metadata of its override.
pub fn apply_overrides(columns: &[Column], overrides: &[Option<Column>]) -> Vec<Column> {
    if overrides.len() != columns.len() {
        return columns.to_vec();
    }
    columns
        .iter()
        .zip(overrides)
        .map(|(backend, native)| match native {
            Some(native) => native
                .clone()
                .with_name(backend.name_ref())
                .with_table(backend.table_ref()),
            None => backend.clone(),
        })
        .collect()
}

/// The last result's terminator, still to be written.
pub enum Last {
    Rows { warnings: u16 },
    Ok(Outcome),
}

impl Last {
    async fn write<W: AsyncWrite + Unpin>(
        &self,
        wire: &mut Wire<W>,
        status: StatusFlags,
    ) -> std::io::Result<()> {
        match self {
            Last::Rows { warnings } => wire.end_rows(*warnings, status).await,
            Last::Ok(outcome) => {
                let outcome = Outcome {
                    status,
                    ..outcome.clone()
                };
                wire.ok(&outcome).await
            }
        }
    }
}

/// Writes the final terminator with the backend session's current status flags and returns them.
pub async fn finish<W: AsyncWrite + Unpin>(
    wire: &mut Wire<W>,
    conn: &Conn,
    last: Last,
) -> Result<StatusFlags, Error> {
    let status = backend_status(conn);
    last.write(wire, status).await.map_err(gone)?;
    Ok(status)
}

/// The status flags of the backend's last OK packet, without MORE_RESULTS (the proxy decides that itself).
pub fn backend_status(conn: &Conn) -> StatusFlags {
    conn.last_ok_packet()
        .map(|ok| ok.status_flags())
        .unwrap_or(StatusFlags::SERVER_STATUS_AUTOCOMMIT)
        - StatusFlags::SERVER_MORE_RESULTS_EXISTS
}

pub fn gone(e: std::io::Error) -> Error {
    Error::Client(super::Error::ClientGone(e))
}
