//! A minimal HTTP/1.1 client for downloading updates, over any byte stream (feature `http`).
//!
//! - [`Transport`]: what the client needs from the network stack (smoltcp, a modem's
//!   socket API, `std::net` in tests): connect, write, read, close.
//! - [`get`]: sends `GET` (with `Range: bytes=N-` to resume), parses the status line,
//!   `Content-Length` and `Content-Range`, and hands the body out in chunks
//!   ([`Response::next_chunk`]).
//! - [`fetch`]: a whole small resource, such as `/manifest.json` ([`manifest`]).
//! - [`download`]: an image into an [`crate::UpdateWriter`], resuming after dropped
//!   connections.
//!
//! What it does not do: chunked transfer encoding (a server that sends it gets
//! [`HttpError::Chunked`]; `cargo boot serve` never does), keep-alive (every request
//! says `Connection: close`), redirects, TLS (run it over a TLS stream's
//! [`Transport`]). No allocation: the caller's buffer holds the response header and
//! the body chunks.

use core::fmt;
use core::fmt::Write as _;

mod download;
pub mod manifest;

pub use download::{download, DownloadError, Event, Source};

/// The largest request: the request line and headers.
const MAX_REQUEST: usize = 256;

/// A byte stream to one server.
pub trait Transport {
    /// Why an operation failed.
    type Error: fmt::Debug;

    /// Opens a new connection to the server (closing any previous one).
    fn connect(&mut self) -> Result<(), Self::Error>;

    /// Sends all of `bytes`.
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;

    /// Reads at least one byte into `buf`, waiting for it; `Ok(0)` once the server closed
    /// the connection.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;

    /// Closes the connection.
    fn close(&mut self);
}

/// A `GET` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The `Host` header: the server's name or address, and port.
    pub host: &'a str,
    /// The path, such as `/update.bin`.
    pub path: &'a str,
    /// Ask for the bytes from this offset on (`Range: bytes=N-`); 0 asks for everything.
    pub range_from: u32,
}

impl<'a> Request<'a> {
    /// `GET path` from `host`, the whole resource.
    pub const fn new(host: &'a str, path: &'a str) -> Self {
        Self { host, path, range_from: 0 }
    }

    /// The same request for the bytes from `offset` on.
    pub const fn from_offset(self, offset: u32) -> Self {
        Self { range_from: offset, ..self }
    }
}

/// `Content-Range: bytes first-last/total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first byte sent.
    pub first: u32,
    /// The last byte sent.
    pub last: u32,
    /// The resource's size, if the server knows it.
    pub total: Option<u32>,
}

/// Why a request failed. `E` is the transport's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError<E> {
    /// The transport failed (connect, send or receive).
    Io(E),
    /// The connection closed before the response header ended.
    ClosedInHead,
    /// The connection closed before the whole body arrived.
    Closed {
        /// Body bytes received.
        received: u32,
        /// Body bytes announced by `Content-Length`.
        expected: u32,
    },
    /// The request line and headers do not fit the request buffer.
    RequestTooLong {
        /// The buffer's size.
        max: usize,
    },
    /// The response header does not fit the caller's buffer.
    HeadTooLarge {
        /// The buffer's size.
        max: usize,
    },
    /// The response is not HTTP/1.x as this client understands it.
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// The status is not 200 or 206.
    Status {
        /// The status code.
        code: u16,
    },
    /// The body is sent with chunked transfer encoding.
    Chunked,
    /// The response has no `Content-Length`.
    NoLength,
    /// `Content-Length` is 4 GiB or more.
    TooLarge {
        /// The announced length.
        len: u64,
    },
    /// The body does not fit the caller's buffer ([`fetch`], [`Response::read_body`]).
    BodyTooLarge {
        /// The body's length.
        len: u32,
        /// The buffer's size.
        max: usize,
    },
    /// The server sent another range than the one asked for.
    RangeMismatch {
        /// The first byte asked for.
        asked: u32,
        /// The first byte sent.
        got: u32,
    },
}

impl<E> HttpError<E> {
    /// True for failures a new connection may get past: the transport failed or the
    /// connection dropped.
    pub fn is_transient(&self) -> bool {
        matches!(self, HttpError::Io(_) | HttpError::ClosedInHead | HttpError::Closed { .. })
    }
}

impl<E: fmt::Debug> fmt::Display for HttpError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(error) => write!(f, "the connection failed: {error:?}"),
            HttpError::ClosedInHead => {
                f.write_str("the server closed the connection before the end of the response header")
            }
            HttpError::Closed { received, expected } => {
                write!(f, "the connection closed after {received} of {expected} bytes of the body")
            }
            HttpError::RequestTooLong { max } => {
                write!(f, "the request does not fit in {max} bytes: use a shorter host name or path")
            }
            HttpError::HeadTooLarge { max } => {
                write!(f, "the response header does not fit the {max}-byte buffer: pass a larger buffer")
            }
            HttpError::Malformed { what } => write!(f, "malformed HTTP response: {what}"),
            HttpError::Status { code } => write_status(f, *code),
            HttpError::Chunked => f.write_str(
                "the server sent a chunked response (Transfer-Encoding: chunked), which this client does not \
                 support: serve the file with a Content-Length, as `cargo boot serve` does",
            ),
            HttpError::NoLength => f.write_str(
                "the response has no Content-Length, which this client needs to know where the body ends: serve \
                 the file with one, as `cargo boot serve` does",
            ),
            HttpError::TooLarge { len } => write!(f, "the body is {len} bytes, more than this client handles (4 GiB)"),
            HttpError::BodyTooLarge { len, max } => {
                write!(f, "the body is {len} bytes, more than the {max}-byte buffer: pass a larger buffer")
            }
            HttpError::RangeMismatch { asked, got } => {
                write!(f, "asked for the bytes from {asked} on, but the server sent the bytes from {got} on")
            }
        }
    }
}

fn write_status(f: &mut fmt::Formatter<'_>, code: u16) -> fmt::Result {
    match code {
        404 => f.write_str(
            "the server has no such file (404 Not Found): check the path, and that `cargo boot serve` is serving \
             an image",
        ),
        416 => f.write_str(
            "the server cannot send the bytes asked for (416 Range Not Satisfiable): the file changed or is \
             shorter than the part already downloaded; start the download again",
        ),
        _ => write!(f, "the server answered with status {code}, expected 200 OK or 206 Partial Content"),
    }
}

#[cfg(feature = "std")]
impl<E: fmt::Debug> std::error::Error for HttpError<E> {}

/// A response whose header was read; the body follows in chunks.
#[derive(Debug)]
pub struct Response<'b> {
    /// The status: 200 or 206.
    pub status: u16,
    /// The body's length.
    pub content_length: u32,
    /// The range sent, for a 206.
    pub content_range: Option<ContentRange>,
    buf: &'b mut [u8],
    /// Body bytes that arrived with the header: `buf[pending.0..pending.1]`.
    pending: (usize, usize),
    /// Body bytes not handed out yet.
    remaining: u32,
}

impl<'b> Response<'b> {
    /// The offset of the body's first byte in the resource: where a 206 starts, else 0.
    pub fn body_offset(&self) -> u32 {
        self.content_range.map_or(0, |range| range.first)
    }

    /// The next piece of the body, `None` after its end. A connection that closes
    /// before the end is [`HttpError::Closed`].
    pub fn next_chunk<T: Transport>(&mut self, transport: &mut T) -> Result<Option<&[u8]>, HttpError<T::Error>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let (start, end) = self.pending;
        let (start, end) = if start < end {
            self.pending = (0, 0);
            (start, end)
        } else {
            let want = self.buf.len().min(self.remaining as usize);
            (0, self.read_some(transport, want)?)
        };
        let len = (end - start).min(self.remaining as usize);
        self.remaining -= len as u32;
        Ok(Some(&self.buf[start..start + len]))
    }

    /// The whole body, which must fit the buffer.
    pub fn read_body<T: Transport>(self, transport: &mut T) -> Result<&'b [u8], HttpError<T::Error>> {
        let len = self.content_length as usize;
        if len > self.buf.len() {
            return Err(HttpError::BodyTooLarge { len: self.content_length, max: self.buf.len() });
        }
        let (start, end) = self.pending;
        let mut filled = (end - start).min(len);
        self.buf.copy_within(start..start + filled, 0);
        while filled < len {
            match transport.read(&mut self.buf[filled..len]).map_err(HttpError::Io)? {
                0 => return Err(HttpError::Closed { received: filled as u32, expected: self.content_length }),
                n => filled += n,
            }
        }
        Ok(&self.buf[..len])
    }

    fn read_some<T: Transport>(&mut self, transport: &mut T, want: usize) -> Result<usize, HttpError<T::Error>> {
        match transport.read(&mut self.buf[..want]).map_err(HttpError::Io)? {
            0 => {
                Err(HttpError::Closed { received: self.content_length - self.remaining, expected: self.content_length })
            }
            n => Ok(n),
        }
    }
}

/// Sends `request` on the connected `transport` and reads the response header into
/// `buf`, which then holds body chunks. Only 200 and 206 are accepted; with a range
/// asked for, a 206 must start where asked (a 200 means the server sends everything).
pub fn get<'b, T: Transport>(
    transport: &mut T,
    request: &Request<'_>,
    buf: &'b mut [u8],
) -> Result<Response<'b>, HttpError<T::Error>> {
    send(transport, request)?;
    let (head_len, filled) = read_head(transport, buf)?;
    let head = core::str::from_utf8(&buf[..head_len]).map_err(|_| HttpError::Malformed { what: "not text" })?;
    let head = parse_head(head)?;
    let content_length = head.check(request)?;
    let pending_len = (filled - head_len).min(content_length as usize);
    Ok(Response {
        status: head.status,
        content_length,
        content_range: head.content_range,
        buf,
        pending: (head_len, head_len + pending_len),
        remaining: content_length,
    })
}

/// Connects, gets the whole resource into `buf` and closes: for small resources such
/// as the manifest.
pub fn fetch<'b, T: Transport>(
    transport: &mut T,
    request: &Request<'_>,
    buf: &'b mut [u8],
) -> Result<&'b [u8], HttpError<T::Error>> {
    transport.connect().map_err(HttpError::Io)?;
    let body = get(transport, request, buf).and_then(|response| response.read_body(transport));
    transport.close();
    body
}

/// Writes the request into one buffer and sends it.
fn send<T: Transport>(transport: &mut T, request: &Request<'_>) -> Result<(), HttpError<T::Error>> {
    let mut text = TextBuffer { bytes: [0; MAX_REQUEST], len: 0 };
    let Request { host, path, range_from } = *request;
    let mut written = write!(text, "GET {path} HTTP/1.1\r\nHost: {host}\r\n");
    if range_from > 0 {
        written = written.and_then(|()| write!(text, "Range: bytes={range_from}-\r\n"));
    }
    written
        .and_then(|()| text.write_str("Connection: close\r\nAccept-Encoding: identity\r\n\r\n"))
        .map_err(|_| HttpError::RequestTooLong { max: MAX_REQUEST })?;
    transport.write_all(&text.bytes[..text.len]).map_err(HttpError::Io)
}

/// A fixed-size text buffer.
struct TextBuffer {
    bytes: [u8; MAX_REQUEST],
    len: usize,
}

impl fmt::Write for TextBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Reads until the blank line that ends the header. Returns the header's length (blank
/// line included) and how many bytes of `buf` were filled.
fn read_head<T: Transport>(transport: &mut T, buf: &mut [u8]) -> Result<(usize, usize), HttpError<T::Error>> {
    let mut filled = 0;
    loop {
        if let Some(end) = find_head_end(&buf[..filled]) {
            return Ok((end, filled));
        }
        if filled == buf.len() {
            return Err(HttpError::HeadTooLarge { max: buf.len() });
        }
        match transport.read(&mut buf[filled..]).map_err(HttpError::Io)? {
            0 => return Err(HttpError::ClosedInHead),
            n => filled += n,
        }
    }
}

fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

/// What the header says.
#[derive(Debug, Default)]
struct Head {
    status: u16,
    content_length: Option<u64>,
    content_range: Option<ContentRange>,
    chunked: bool,
}

impl Head {
    /// Checks the response against the request; returns the body's length.
    fn check<E>(&self, request: &Request<'_>) -> Result<u32, HttpError<E>> {
        if self.chunked {
            return Err(HttpError::Chunked);
        }
        if self.status != 200 && self.status != 206 {
            return Err(HttpError::Status { code: self.status });
        }
        let len = self.content_length.ok_or(HttpError::NoLength)?;
        let len = u32::try_from(len).map_err(|_| HttpError::TooLarge { len })?;
        if self.status == 206 {
            let range = self.content_range.ok_or(HttpError::Malformed { what: "206 without a Content-Range" })?;
            if u64::from(range.last) + 1 - u64::from(range.first) != u64::from(len) {
                return Err(HttpError::Malformed { what: "Content-Range and Content-Length disagree" });
            }
            if range.first != request.range_from {
                return Err(HttpError::RangeMismatch { asked: request.range_from, got: range.first });
            }
        }
        Ok(len)
    }
}

fn parse_head<E>(head: &str) -> Result<Head, HttpError<E>> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parsed = Head { status: parse_status(status_line)?, ..Head::default() };
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed { what: "a header line without ':'" })?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let len = parse_decimal(value).ok_or(HttpError::Malformed { what: "Content-Length is not a number" })?;
            parsed.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("content-range") {
            parsed.content_range = parse_content_range(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            parsed.chunked |= value.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    Ok(parsed)
}

/// `HTTP/1.1 206 Partial Content` → 206.
fn parse_status<E>(line: &str) -> Result<u16, HttpError<E>> {
    let malformed = HttpError::Malformed { what: "the status line is not `HTTP/1.x <code> <reason>`" };
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(malformed);
    }
    parse_decimal(code).and_then(|code| u16::try_from(code).ok()).ok_or(malformed)
}

/// `bytes first-last/total` (or `/*`); `None` for anything else (such as `bytes */len`).
fn parse_content_range(value: &str) -> Option<ContentRange> {
    let spec = value.strip_prefix("bytes")?.trim_start();
    let (range, total) = spec.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let number = |text: &str| parse_decimal(text.trim()).and_then(|n| u32::try_from(n).ok());
    let (first, last) = (number(first)?, number(last)?);
    let total = match total.trim() {
        "*" => None,
        text => Some(number(text)?),
    };
    (first <= last).then_some(ContentRange { first, last, total })
}

/// A decimal number of at most 19 digits.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests;
