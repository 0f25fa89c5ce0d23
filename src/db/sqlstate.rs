//! The SQLSTATE of a connection's latest error, read off the wire.
//!
//! diesel-async 0.9 reports most server errors as `DatabaseErrorKind::Unknown` with
//! PostgreSQL's message only, in the role's `lc_messages` language; it keeps the SQLSTATE in a
//! private type. So every connection the service opens (`connect::ConnectOptions::connect`)
//! reads its own protocol stream: [`ErrorWatch`] sits between tokio-postgres and the socket
//! (above TLS when there is TLS) and notes the code field of each `ErrorResponse` in the
//! connection's [`LastError`], which [`last_sqlstate`] finds again from the
//! `AsyncPgConnection` (diesel lets a connection carry one [`Instrumentation`] value of our
//! own type: [`ConnectionCompanion`]).
//!
//! A server error reaches diesel only after its `ErrorResponse` has passed through here, and
//! every later `ErrorResponse` overwrites the code, so for an error that carries server
//! information the latest code is that error's own: after a failed statement only its
//! `ROLLBACK` runs, which answers without an error unless the connection itself died. An error
//! without a server part (a closed socket) has no code to look for; callers read the code only
//! for errors that have one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

/// The SQLSTATE of the latest `ErrorResponse` a connection received; shared by its
/// [`ErrorWatch`] (the driver task writes) and its [`ConnectionCompanion`] (requests read).
#[derive(Debug, Default)]
pub struct LastError(AtomicU64);

impl LastError {
    fn set(&self, code: [u8; 5]) {
        let [a, b, c, d, e] = code;
        self.0.store(
            u64::from_be_bytes([0, 0, 0, a, b, c, d, e]),
            Ordering::Release,
        );
    }

    pub fn get(&self) -> Option<SqlState> {
        let packed = self.0.load(Ordering::Acquire);
        if packed == 0 {
            return None;
        }
        let bytes = &packed.to_be_bytes()[3..];
        std::str::from_utf8(bytes).ok().map(SqlState::from_code)
    }
}

/// PostgreSQL's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Where the reader stands in the server's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Nothing read yet: the client's first bytes tell whether an unframed answer comes first.
    Start,
    /// The one-byte answer (`S` or `N`) to the client's `SSLRequest`.
    SslAnswer,
    /// A message header: type byte and a big-endian length that counts itself.
    Header { bytes: [u8; 5], have: u8 },
    /// Inside a message the reader does not look into; only its length matters.
    Skip { left: u32 },
    /// Inside an `ErrorResponse`: fields, each a type byte and a NUL-terminated value, ending
    /// with a zero byte. Only the `C` field (the SQLSTATE) is kept.
    Error {
        left: u32,
        field: Field,
        code: [u8; 5],
        code_len: u8,
    },
    /// Not looking: TLS records pass below (the stream above TLS reads them decrypted), or the
    /// stream made no sense (tokio-postgres will fail the connection on it anyway).
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Type,
    /// Within a value; `code` when it is the SQLSTATE, `len` the bytes seen of it.
    Value {
        code: bool,
        len: u8,
    },
}

/// The backend side of the protocol, followed message by message without buffering: a
/// multi-megabyte `DataRow` costs a subtraction per read.
#[derive(Debug)]
struct Frames {
    position: Position,
    /// The first bytes the client wrote, to tell an `SSLRequest` from a `StartupMessage`.
    written: [u8; 8],
    written_len: u8,
}

impl Frames {
    fn new() -> Self {
        Self {
            position: Position::Start,
            written: [0; 8],
            written_len: 0,
        }
    }

    fn wrote(&mut self, data: &[u8]) {
        let have = usize::from(self.written_len);
        let take = (self.written.len() - have).min(data.len());
        self.written[have..have + take].copy_from_slice(&data[..take]);
        self.written_len += take as u8;
    }

    /// Follows `data`, the next bytes from the server; calls `found` with the SQLSTATE of each
    /// `ErrorResponse` completed in it.
    fn read(&mut self, mut data: &[u8], mut found: impl FnMut([u8; 5])) {
        while !data.is_empty() {
            match &mut self.position {
                Position::Start => {
                    self.position = if self.written == SSL_REQUEST {
                        Position::SslAnswer
                    } else {
                        Position::Header {
                            bytes: [0; 5],
                            have: 0,
                        }
                    };
                }
                Position::SslAnswer => {
                    data = &data[1..];
                    self.position = Position::Header {
                        bytes: [0; 5],
                        have: 0,
                    };
                }
                Position::Header { bytes, have } => {
                    let at = usize::from(*have);
                    let take = (bytes.len() - at).min(data.len());
                    bytes[at..at + take].copy_from_slice(&data[..take]);
                    data = &data[take..];
                    *have += take as u8;
                    if usize::from(*have) < bytes.len() {
                        continue;
                    }
                    let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                    let Some(left) = length.checked_sub(4) else {
                        self.position = Position::Off;
                        continue;
                    };
                    self.position = match bytes[0] {
                        b'E' => Position::Error {
                            left,
                            field: Field::Type,
                            code: [0; 5],
                            code_len: 0,
                        },
                        _ => Position::Skip { left },
                    };
                    self.end_of_body(&mut found);
                }
                Position::Skip { left } => {
                    let take = (*left as usize).min(data.len());
                    data = &data[take..];
                    *left -= take as u32;
                    self.end_of_body(&mut found);
                }
                Position::Error {
                    left,
                    field,
                    code,
                    code_len,
                } => {
                    let byte = data[0];
                    data = &data[1..];
                    *left -= 1;
                    *field = match *field {
                        Field::Type if byte == 0 => Field::Type,
                        Field::Type => Field::Value {
                            code: byte == b'C',
                            len: 0,
                        },
                        Field::Value { .. } if byte == 0 => Field::Type,
                        Field::Value { code: true, len } => {
                            if let Some(slot) = code.get_mut(usize::from(len)) {
                                *slot = byte;
                            }
                            *code_len = len.saturating_add(1);
                            Field::Value {
                                code: true,
                                len: len.saturating_add(1),
                            }
                        }
                        value => value,
                    };
                    self.end_of_body(&mut found);
                }
                Position::Off => return,
            }
        }
    }

    /// Moves on to the next header once the current message's body is used up.
    fn end_of_body(&mut self, found: &mut impl FnMut([u8; 5])) {
        match self.position {
            Position::Skip { left: 0 } => {}
            Position::Error {
                left: 0,
                code,
                code_len,
                ..
            } => {
                if code_len == 5 && code.iter().all(u8::is_ascii_alphanumeric) {
                    found(code);
                }
            }
            _ => return,
        }
        self.position = Position::Header {
            bytes: [0; 5],
            have: 0,
        };
    }
}

/// A stream that notes the SQLSTATE of every `ErrorResponse` read through it in a
/// [`LastError`]; everything passes unchanged.
pub struct ErrorWatch<S> {
    inner: S,
    frames: Frames,
    last_error: Arc<LastError>,
}

impl<S> ErrorWatch<S> {
    pub fn new(inner: S, last_error: Arc<LastError>) -> Self {
        Self {
            inner,
            frames: Frames::new(),
            last_error,
        }
    }

    /// From here on the stream carries TLS records: the stream above TLS does the reading.
    fn stop(&mut self) {
        self.frames.position = Position::Off;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorWatch<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let last_error = &this.last_error;
            this.frames
                .read(&buf.filled()[before..], |code| last_error.set(code));
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorWatch<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            this.frames.wrote(&buf[..written]);
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut written)) = polled {
            for buf in bufs {
                let take = written.min(buf.len());
                this.frames.wrote(&buf[..take]);
                written -= take;
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for ErrorWatch<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose session is watched above TLS, the socket below it no longer.
pub struct WatchedTls<T> {
    pub tls: T,
    pub last_error: Arc<LastError>,
}

impl<S, T> TlsConnect<ErrorWatch<S>> for WatchedTls<T>
where
    T: TlsConnect<ErrorWatch<S>>,
    T::Future: Send + 'static,
{
    type Stream = ErrorWatch<T::Stream>;
    type Error = T::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Stream, T::Error>> + Send>>;

    fn connect(self, mut socket: ErrorWatch<S>) -> Self::Future {
        socket.stop();
        let handshake = self.tls.connect(socket);
        let last_error = self.last_error;
        Box::pin(async move { Ok(ErrorWatch::new(handshake.await?, last_error)) })
    }
}

/// What an `AsyncPgConnection` opened by the service carries as its instrumentation: its
/// [`LastError`], and the end of the channel that keeps its protocol driver running, so that
/// the connection closes the moment the `AsyncPgConnection` is dropped (even mid-statement,
/// which rolls back its transaction).
pub struct ConnectionCompanion {
    last_error: Arc<LastError>,
    _driver: oneshot::Sender<()>,
}

impl ConnectionCompanion {
    pub fn new(last_error: Arc<LastError>, driver: oneshot::Sender<()>) -> Self {
        Self {
            last_error,
            _driver: driver,
        }
    }
}

impl Instrumentation for ConnectionCompanion {
    fn on_connection_event(&mut self, _event: InstrumentationEvent<'_>) {}
}

/// The SQLSTATE of the latest error `conn` received from the server, when the service opened
/// `conn` (see the module's documentation for when it belongs to a given error).
pub fn last_sqlstate(conn: &mut AsyncPgConnection) -> Option<SqlState> {
    // `&mut` proves that no statement of the connection is under way: only a running one
    // shares the instrumentation, which `instrumentation()` would refuse.
    AsyncConnection::instrumentation(conn)
        .downcast_ref::<ConnectionCompanion>()
        .and_then(|companion| companion.last_error.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `ErrorResponse` as PostgreSQL sends one.
    fn error_response(code: &str, message: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', code),
            (b'M', message),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        message_bytes(b'E', &body)
    }

    fn message_bytes(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut message = vec![kind];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(body);
        message
    }

    fn data_row(size: usize) -> Vec<u8> {
        message_bytes(b'D', &vec![b'E'; size])
    }

    const STARTUP: &[u8] = &[0, 0, 0, 9, 0, 3, 0, 0, 0];

    /// The codes found when `stream` arrives in `chunks`-sized reads after `client` wrote.
    fn codes(client: &[u8], stream: &[u8], chunk: usize) -> Vec<String> {
        let mut frames = Frames::new();
        frames.wrote(client);
        let mut found = Vec::new();
        for piece in stream.chunks(chunk) {
            frames.read(piece, |code| {
                found.push(String::from_utf8(code.to_vec()).unwrap())
            });
        }
        found
    }

    fn session() -> Vec<u8> {
        let mut stream = message_bytes(b'R', &[0, 0, 0, 0]);
        stream.extend(message_bytes(b'Z', b"I"));
        stream.extend(error_response("40P01", "interblocage (deadlock) détecté"));
        stream.extend(data_row(100));
        stream.extend(message_bytes(b'N', b"C01000\0Mnot an error\0\0"));
        stream.extend(message_bytes(b'Z', b"E"));
        stream.extend(error_response("57014", "annulation de la requête"));
        stream
    }

    #[test]
    fn error_codes_are_found_whatever_the_reads_split() {
        let stream = session();
        for chunk in [1, 2, 3, 5, 7, 64, stream.len()] {
            assert_eq!(
                codes(STARTUP, &stream, chunk),
                ["40P01", "57014"],
                "reads of {chunk} bytes"
            );
        }
    }

    #[test]
    fn the_answer_to_an_ssl_request_is_one_unframed_byte() {
        let mut stream = vec![b'N'];
        stream.extend(session());
        for chunk in [1, 4, stream.len()] {
            assert_eq!(codes(&SSL_REQUEST, &stream, chunk), ["40P01", "57014"]);
        }
        // Without the request, the same byte would shift every frame after it.
        assert_ne!(codes(STARTUP, &stream, 4), ["40P01", "57014"]);
    }

    #[test]
    fn a_watch_turned_off_for_tls_reads_nothing_more() {
        let mut frames = Frames::new();
        frames.wrote(&SSL_REQUEST);
        frames.read(b"S", |_| panic!("no code in the answer"));
        frames.position = Position::Off;
        frames.read(&error_response("40P01", "x"), |_| {
            panic!("TLS records are not read")
        });
    }

    #[test]
    fn huge_rows_are_skipped_without_being_kept() {
        let row = data_row(8 << 20);
        let mut stream = row.clone();
        stream.extend(error_response("55P03", "could not obtain lock"));
        assert_eq!(codes(STARTUP, &stream, 65536), ["55P03"]);
        // Mid-row, the reader holds a count, not the row.
        let mut frames = Frames::new();
        frames.wrote(STARTUP);
        frames.read(&row[..1000], |_| {});
        assert_eq!(
            frames.position,
            Position::Skip {
                left: (8 << 20) - 995
            }
        );
    }

    #[test]
    fn malformed_codes_and_lengths_are_ignored() {
        let mut stream = error_response("4001", "short code");
        stream.extend(error_response("40P01x", "long code"));
        stream.extend(message_bytes(b'E', b"Mno code at all\0\0"));
        stream.extend(message_bytes(b'Z', b""));
        stream.extend(error_response("25P03", "idle"));
        assert_eq!(codes(STARTUP, &stream, 3), ["25P03"]);
        // A length below four cannot be framed: the reader stops rather than guess.
        let mut broken = vec![b'E', 0, 0, 0, 2];
        broken.extend(error_response("40P01", "x"));
        assert!(codes(STARTUP, &broken, 16).is_empty());
    }

    #[test]
    fn several_messages_in_one_read_leave_the_latest_code() {
        let last_error = LastError::default();
        assert_eq!(last_error.get(), None);
        let mut frames = Frames::new();
        frames.wrote(STARTUP);
        let mut stream = error_response("40001", "a");
        stream.extend(error_response("57P01", "b"));
        frames.read(&stream, |code| last_error.set(code));
        assert_eq!(last_error.get(), Some(SqlState::ADMIN_SHUTDOWN));
    }

    #[tokio::test]
    async fn the_stream_passes_bytes_unchanged_and_notes_codes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(64);
        let last_error = Arc::new(LastError::default());
        let mut watched = ErrorWatch::new(client, last_error.clone());
        let stream = session();
        let sent = stream.clone();
        let server_side = tokio::spawn(async move {
            let mut startup = [0; 9];
            server.read_exact(&mut startup).await.unwrap();
            server.write_all(&sent).await.unwrap();
        });
        watched.write_all(STARTUP).await.unwrap();
        let mut received = vec![0; stream.len()];
        watched.read_exact(&mut received).await.unwrap();
        server_side.await.unwrap();
        assert_eq!(received, stream);
        assert_eq!(last_error.get(), Some(SqlState::QUERY_CANCELED));
    }
}
