//! [`download`]: an image over HTTP into an [`UpdateWriter`], resumed after drops.

use core::fmt;

use embedded_storage::nor_flash::NorFlash;

use super::{get, HttpError, Request, Transport};
use crate::{Error, UpdateWriter};

/// Where to download from, and how hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The `Host` header: the server's address and port.
    pub host: &'a str,
    /// The image's path, such as `/update.bin`.
    pub path: &'a str,
    /// Give up after this many attempts in a row that bring no new byte.
    pub attempts: u32,
}

/// What a download is doing, for a progress display.
#[derive(Debug)]
pub enum Event<'e, E> {
    /// A connection is opened, to ask for the bytes from `offset` on.
    Connecting {
        /// The first byte asked for (0: the whole image).
        offset: u32,
    },
    /// Bytes arrived.
    Progress {
        /// Bytes the writer holds.
        received: u32,
        /// The image's size: what the server announced (`Content-Range`, or where the
        /// body ends), until the image's own TLV area says.
        total: u32,
    },
    /// The connection failed; the next attempt resumes at `received`.
    Interrupted {
        /// Bytes the writer holds.
        received: u32,
        /// What went wrong.
        error: &'e HttpError<E>,
    },
}

/// Why a download failed: `T` is the transport's error, `F` the flash's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadError<T, F> {
    /// The server's answer cannot be used (status, no length, chunked, ...).
    Http(HttpError<T>),
    /// The writer refused the data: see [`Error`].
    Update(Error<F>),
    /// Every attempt failed without bringing a new byte.
    GaveUp {
        /// Attempts in a row without progress.
        attempts: u32,
        /// Bytes the writer holds.
        received: u32,
        /// The last attempt's error.
        last: HttpError<T>,
    },
}

impl<T: fmt::Debug, F: fmt::Debug> fmt::Display for DownloadError<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadError::Http(error) => write!(f, "{error}"),
            DownloadError::Update(error) => write!(f, "{error}"),
            DownloadError::GaveUp { attempts, received, last } => write!(
                f,
                "gave up after {attempts} attempts in a row that brought no data ({received} bytes so far); the \
                 last one failed: {last}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl<T: fmt::Debug, F: fmt::Debug> std::error::Error for DownloadError<T, F> {}

/// Downloads the image at `source` into `writer`, in `buf`-sized pieces (at least the
/// response header's size; 1 to 2 KiB is plenty). When the connection fails, a new one
/// asks for the rest (`Range: bytes=N-`, N = [`UpdateWriter::resume_offset`]). Returns
/// once the whole image arrived: then call [`UpdateWriter::finish`].
pub fn download<T: Transport, F: NorFlash>(
    transport: &mut T,
    source: &Source<'_>,
    writer: &mut UpdateWriter<'_, F>,
    buf: &mut [u8],
    on_event: &mut dyn FnMut(Event<'_, T::Error>),
) -> Result<(), DownloadError<T::Error, F::Error>>
where
    F::Error: fmt::Debug,
{
    let mut fruitless = 0;
    loop {
        let offset = writer.resume_offset();
        on_event(Event::Connecting { offset });
        let result = attempt(transport, source, writer, buf, on_event);
        transport.close();
        let error = match result {
            Ok(()) => return Ok(()),
            Err(Failure::Update(error)) => return Err(DownloadError::Update(error)),
            Err(Failure::Http(error)) if !error.is_transient() => return Err(DownloadError::Http(error)),
            Err(Failure::Http(error)) => error,
        };
        let received = writer.resume_offset();
        fruitless = if received > offset { 0 } else { fruitless + 1 };
        if fruitless >= source.attempts.max(1) {
            return Err(DownloadError::GaveUp { attempts: fruitless, received, last: error });
        }
        on_event(Event::Interrupted { received, error: &error });
    }
}

/// Why one attempt failed.
enum Failure<T, F> {
    Http(HttpError<T>),
    Update(Error<F>),
}

/// One connection: the request, then the body into the writer.
fn attempt<T: Transport, F: NorFlash>(
    transport: &mut T,
    source: &Source<'_>,
    writer: &mut UpdateWriter<'_, F>,
    buf: &mut [u8],
    on_event: &mut dyn FnMut(Event<'_, T::Error>),
) -> Result<(), Failure<T::Error, F::Error>>
where
    F::Error: fmt::Debug,
{
    transport.connect().map_err(|error| Failure::Http(HttpError::Io(error)))?;
    let request = Request::new(source.host, source.path).from_offset(writer.resume_offset());
    let mut response = get(transport, &request, buf).map_err(Failure::Http)?;
    let mut offset = response.body_offset();
    let announced =
        response.content_range.and_then(|range| range.total).unwrap_or(offset.saturating_add(response.content_length));
    while let Some(chunk) = response.next_chunk(transport).map_err(Failure::Http)? {
        writer.write_at(offset, chunk).map_err(Failure::Update)?;
        offset += chunk.len() as u32;
        let total = writer.total_size().unwrap_or(announced);
        on_event(Event::Progress { received: writer.resume_offset(), total });
    }
    if !writer.is_complete() {
        let (received, total) = (writer.resume_offset(), writer.total_size());
        return Err(Failure::Update(Error::Incomplete { received, total }));
    }
    Ok(())
}
