//! MySQL packet framing: 3-byte length, 1-byte sequence id, payloads split at 16 MiB − 1.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

/// The largest payload one physical packet carries; longer payloads continue in the next packet.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("packet of {size} bytes exceeds max_allowed_packet ({limit} bytes)")]
    TooLarge { size: usize, limit: usize },
}

/// Reads logical packets (physical packets joined) from a client, refusing any larger than `limit`.
pub struct PacketReader<R> {
    inner: BufReader<R>,
    limit: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, limit: usize) -> Self {
        PacketReader {
            inner: BufReader::with_capacity(16 * 1024, inner),
            limit,
        }
    }

    /// The next logical packet and the sequence id of its last physical packet; `None` at a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<(u8, Vec<u8>)>, ReadError> {
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            match self.inner.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && payload.is_empty() => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            let seq = header[3];
            if payload.len() + len > self.limit {
                // Read past the refused payload so that the error reply is not lost to a reset connection.
                let mut rest = (&mut self.inner).take(len as u64);
                tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
                return Err(ReadError::TooLarge {
                    size: payload.len() + len,
                    limit: self.limit,
                });
            }
            let start = payload.len();
            payload.resize(start + len, 0);
            self.inner.read_exact(&mut payload[start..]).await?;
            if len < MAX_PAYLOAD {
                return Ok(Some((seq, payload)));
            }
        }
    }
}

/// A client's socket whose writes fail with `TimedOut` once one stays blocked longer than `limit`: a client
/// that stops reading (its receive window full) cannot hold its session, backend query and buffers forever.
/// This is MySQL's `net_write_timeout`.
pub struct WriteTimeout<W> {
    inner: W,
    limit: Option<std::time::Duration>,
    /// When the write now blocked gives up; none while writes go through.
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<W> WriteTimeout<W> {
    pub fn new(inner: W, limit: Option<std::time::Duration>) -> Self {
        WriteTimeout {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes `poll`'s readiness on; a pending one arms (or checks) the deadline.
    fn bound<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::future::Future;
        use std::task::Poll;
        let Poll::Pending = poll else {
            self.stalled = None;
            return poll;
        };
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stalled = None;
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the client read nothing for {} s (net_write_timeout_secs)",
                        limit.as_secs_f64()
                    ),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.bound(cx, poll)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.bound(cx, poll)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.inner).poll_shutdown(cx);
        self.bound(cx, poll)
    }
}

/// Writes packets to a client through a buffer, so that rows stream out in bounded memory.
pub struct PacketWriter<W: AsyncWrite + Unpin> {
    inner: BufWriter<W>,
    seq: u8,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        PacketWriter {
            inner: BufWriter::with_capacity(64 * 1024, inner),
            seq: 0,
        }
    }

    /// The sequence id of the next packet written.
    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    /// Writes one logical packet, split into physical packets as the protocol requires (including the empty
    /// trailer when the payload is an exact multiple of 16 MiB − 1).
    pub async fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut rest = payload;
        loop {
            let len = rest.len().min(MAX_PAYLOAD);
            let header = [len as u8, (len >> 8) as u8, (len >> 16) as u8, self.seq];
            self.inner.write_all(&header).await?;
            self.inner.write_all(&rest[..len]).await?;
            self.seq = self.seq.wrapping_add(1);
            rest = &rest[len..];
            if len < MAX_PAYLOAD {
                return Ok(());
            }
        }
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(size: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        let mut writer = PacketWriter::new(&mut wire);
        writer.write(&payload).await.unwrap();
        writer.flush().await.unwrap();
        drop(writer);
        let mut reader = PacketReader::new(wire.as_slice(), 64 << 20);
        let (_, read) = reader.next().await.unwrap().unwrap();
        assert!(reader.next().await.unwrap().is_none(), "nothing follows");
        assert_eq!(read, payload);
        wire
    }

    #[tokio::test]
    async fn splits_and_joins_at_the_boundaries() {
        assert_eq!(round_trip(0).await.len(), 4);
        assert_eq!(round_trip(10).await.len(), 14);
        // Exactly 16 MiB − 1 needs an empty trailer packet.
        assert_eq!(round_trip(MAX_PAYLOAD).await.len(), MAX_PAYLOAD + 8);
        assert_eq!(round_trip(MAX_PAYLOAD + 1).await.len(), MAX_PAYLOAD + 9);
        assert_eq!(
            round_trip(2 * MAX_PAYLOAD).await.len(),
            2 * MAX_PAYLOAD + 12
        );
    }

    #[tokio::test]
    async fn refuses_packets_over_the_limit() {
        let wire = [0xFF, 0xFF, 0x00, 0x00];
        let mut reader = PacketReader::new(&wire[..], 1024);
        assert!(matches!(
            reader.next().await,
            Err(ReadError::TooLarge { size: 65535, .. })
        ));
    }

    #[tokio::test]
    async fn truncated_packets_are_errors() {
        let wire = [0x05, 0x00, 0x00, 0x00, 0x03];
        let mut reader = PacketReader::new(&wire[..], 1024);
        assert!(matches!(reader.next().await, Err(ReadError::Io(_))));
    }
}
