//! The client against canned responses, and downloads from a fake server that drops
//! connections.

use std::collections::VecDeque;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use boot_core::sim::SimFlash;

use super::*;
use crate::tests::{geometry, layout, v2, SECONDARY};
use crate::UpdateWriter;

/// Replays canned bytes, `step` bytes per read at most, then reports the close.
struct Canned {
    input: Vec<u8>,
    at: usize,
    step: usize,
    sent: Vec<u8>,
}

impl Canned {
    fn new(response: &str, step: usize) -> Self {
        Self { input: response.as_bytes().to_vec(), at: 0, step, sent: Vec::new() }
    }
}

impl Transport for Canned {
    type Error = &'static str;

    fn connect(&mut self) -> Result<(), &'static str> {
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        self.sent.extend_from_slice(bytes);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, &'static str> {
        let n = buf.len().min(self.step).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }

    fn close(&mut self) {}
}

const HOST: &str = "10.0.2.2:8000";

fn body_of<T: Transport>(transport: &mut T, response: &mut Response<'_>) -> Result<Vec<u8>, HttpError<T::Error>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.next_chunk(transport)? {
        body.extend_from_slice(chunk);
    }
    Ok(body)
}

fn get_text(response: &str, step: usize, range_from: u32) -> Result<(u16, u32, Vec<u8>), HttpError<&'static str>> {
    let mut transport = Canned::new(response, step);
    let mut buf = [0u8; 512];
    let request = Request::new(HOST, "/update.bin").from_offset(range_from);
    let mut response = get(&mut transport, &request, &mut buf)?;
    let (status, offset) = (response.status, response.body_offset());
    Ok((status, offset, body_of(&mut transport, &mut response)?))
}

#[test]
fn the_request_asks_for_a_range_and_no_keep_alive() {
    let mut transport = Canned::new("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100);
    let mut buf = [0u8; 256];
    get(&mut transport, &Request::new(HOST, "/update.bin").from_offset(4096), &mut buf).unwrap();
    assert_eq!(
        String::from_utf8(transport.sent).unwrap(),
        "GET /update.bin HTTP/1.1\r\nHost: 10.0.2.2:8000\r\nRange: bytes=4096-\r\nConnection: close\r\n\
         Accept-Encoding: identity\r\n\r\n"
    );
    let mut transport = Canned::new("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100);
    get(&mut transport, &Request::new(HOST, "/manifest.json"), &mut buf).unwrap();
    assert!(!String::from_utf8(transport.sent).unwrap().contains("Range"));
}

#[test]
fn a_whole_file_arrives_whatever_the_read_sizes() {
    let response = "HTTP/1.1 200 OK\r\nServer: x\r\ncontent-LENGTH:  11 \r\nAccept-Ranges: bytes\r\n\r\nhello world";
    for step in [1, 2, 7, 50, 1000] {
        assert_eq!(get_text(response, step, 0), Ok((200, 0, b"hello world".to_vec())), "step {step}");
    }
}

#[test]
fn a_partial_response_starts_where_asked() {
    let response = "HTTP/1.1 206 Partial Content\r\nContent-Length: 5\r\nContent-Range: bytes 6-10/11\r\n\r\nworld";
    assert_eq!(get_text(response, 3, 6), Ok((206, 6, b"world".to_vec())));
    // A server that ignores the Range sends everything, from 0.
    let whole = "HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
    assert_eq!(get_text(whole, 3, 6), Ok((200, 0, b"hello world".to_vec())));
}

#[test]
fn bytes_after_the_body_are_ignored() {
    let response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more";
    assert_eq!(get_text(response, 100, 0), Ok((200, 0, b"hello".to_vec())));
}

fn error_of(response: &str, range_from: u32) -> HttpError<&'static str> {
    get_text(response, 64, range_from).unwrap_err()
}

#[test]
fn chunked_responses_are_refused_with_the_reason() {
    let error = error_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 0);
    assert_eq!(error, HttpError::Chunked);
    assert_eq!(
        error.to_string(),
        "the server sent a chunked response (Transfer-Encoding: chunked), which this client does not support: \
         serve the file with a Content-Length, as `cargo boot serve` does"
    );
}

#[test]
fn a_response_without_a_length_is_refused() {
    let error = error_of("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", 0);
    assert_eq!(error, HttpError::NoLength);
    assert!(error.to_string().starts_with("the response has no Content-Length"), "{error}");
}

#[test]
fn error_statuses_name_the_problem() {
    let error = error_of("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 0);
    assert_eq!(error, HttpError::Status { code: 404 });
    assert!(error.to_string().starts_with("the server has no such file (404 Not Found)"), "{error}");
    let error = error_of("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */10\r\n\r\n", 20);
    assert_eq!(error, HttpError::Status { code: 416 });
    assert!(error.to_string().contains("416 Range Not Satisfiable"), "{error}");
    let error = error_of("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", 0);
    assert_eq!(error.to_string(), "the server answered with status 500, expected 200 OK or 206 Partial Content");
}

#[test]
fn malformed_responses_are_refused() {
    let cases = [
        ("SSH-2.0-OpenSSH\r\n\r\n", "the status line is not `HTTP/1.x <code> <reason>`"),
        ("HTTP/1.1 2000 OK\r\n\r\n", "the status line is not `HTTP/1.x <code> <reason>`"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length is not a number"),
        ("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "a header line without ':'"),
        ("HTTP/1.1 206 Partial\r\nContent-Length: 5\r\n\r\n", "206 without a Content-Range"),
        (
            "HTTP/1.1 206 Partial\r\nContent-Length: 4\r\nContent-Range: bytes 6-10/11\r\n\r\n",
            "Content-Range and Content-Length disagree",
        ),
    ];
    for (response, what) in cases {
        let error = error_of(response, 6);
        assert_eq!(error, HttpError::Malformed { what }, "{response:?}");
        assert_eq!(error.to_string(), format!("malformed HTTP response: {what}"));
    }
    let error = error_of("HTTP/1.1 206 Partial\r\nContent-Length: 5\r\nContent-Range: bytes 0-4/11\r\n\r\n", 6);
    assert_eq!(error, HttpError::RangeMismatch { asked: 6, got: 0 });
    assert_eq!(error.to_string(), "asked for the bytes from 6 on, but the server sent the bytes from 0 on");
    let error = error_of("HTTP/1.1 200 OK\r\nContent-Length: 4294967296\r\n\r\n", 0);
    assert_eq!(error, HttpError::TooLarge { len: 1 << 32 });
}

#[test]
fn drops_are_reported_with_what_arrived() {
    let error = error_of("HTTP/1.1 200 OK\r\nContent-Len", 0);
    assert_eq!(error, HttpError::ClosedInHead);
    assert!(error.is_transient());
    let error = error_of("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello", 0);
    assert_eq!(error, HttpError::Closed { received: 5, expected: 11 });
    assert_eq!(error.to_string(), "the connection closed after 5 of 11 bytes of the body");
    assert!(error.is_transient() && !HttpError::<()>::Chunked.is_transient());
}

#[test]
fn a_header_larger_than_the_buffer_is_refused() {
    let response = format!("HTTP/1.1 200 OK\r\nX-Long: {}\r\nContent-Length: 0\r\n\r\n", "a".repeat(600));
    let error = error_of(&response, 0);
    assert_eq!(error, HttpError::HeadTooLarge { max: 512 });
    assert!(error.to_string().contains("does not fit the 512-byte buffer"), "{error}");
}

#[test]
fn fetch_reads_small_bodies_whole() {
    let json = r#"{"version":"1.1.0+0","size":20669,"sha256":"00","path":"/update.bin"}"#;
    let response =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}", json.len());
    for step in [1, 13, 4096] {
        let mut transport = Canned::new(&response, step);
        let mut buf = [0u8; 512];
        let body = fetch(&mut transport, &Request::new(HOST, "/manifest.json"), &mut buf).unwrap();
        assert_eq!(body, json.as_bytes());
        assert_eq!(manifest::Manifest::parse(body).unwrap().size, 20669);
    }
    let long = format!("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n{}", "x".repeat(300));
    let mut transport = Canned::new(&long, 100);
    let mut small = [0u8; 200];
    let error = fetch(&mut transport, &Request::new(HOST, "/manifest.json"), &mut small).unwrap_err();
    assert_eq!(error, HttpError::BodyTooLarge { len: 300, max: 200 });
    assert_eq!(error.to_string(), "the body is 300 bytes, more than the 200-byte buffer: pass a larger buffer");
}

#[test]
fn long_requests_are_refused() {
    let path = format!("/{}", "p".repeat(300));
    let mut transport = Canned::new("", 1);
    let mut buf = [0u8; 64];
    let error = get(&mut transport, &Request::new(HOST, &path), &mut buf).unwrap_err();
    assert_eq!(error, HttpError::RequestTooLong { max: 256 });
}

/// A server for one file that honours `Range`, cuts each connection after the number
/// of body bytes in `cuts` (one entry per connection, then none), and logs requests.
struct FakeServer {
    file: Vec<u8>,
    cuts: VecDeque<usize>,
    ignore_range: bool,
    request: Vec<u8>,
    response: Option<(Vec<u8>, usize)>,
    requests: Vec<String>,
    refuse_connections: bool,
}

impl FakeServer {
    fn new(file: Vec<u8>, cuts: &[usize]) -> Self {
        Self {
            file,
            cuts: cuts.iter().copied().collect(),
            ignore_range: false,
            request: Vec::new(),
            response: None,
            requests: Vec::new(),
            refuse_connections: false,
        }
    }

    fn answer(&mut self) -> Vec<u8> {
        let request = String::from_utf8(std::mem::take(&mut self.request)).unwrap();
        let from = request
            .lines()
            .find_map(|line| line.strip_prefix("Range: bytes="))
            .map_or(0, |range| range.trim_end_matches('-').parse::<usize>().unwrap());
        self.requests.push(request.lines().filter(|l| l.starts_with("GET") || l.starts_with("Range")).collect());
        let from = if self.ignore_range { 0 } else { from };
        let body = &self.file[from..];
        let sent = self.cuts.pop_front().map_or(body.len(), |cut| cut.min(body.len()));
        let head = if from > 0 {
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                body.len(),
                self.file.len() - 1,
                self.file.len()
            )
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
        };
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body[..sent]);
        bytes
    }
}

impl Transport for FakeServer {
    type Error = &'static str;

    fn connect(&mut self) -> Result<(), &'static str> {
        if self.refuse_connections {
            return Err("connection refused");
        }
        self.request.clear();
        self.response = None;
        Ok(())
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        self.request.extend_from_slice(bytes);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, &'static str> {
        if self.response.is_none() {
            self.response = Some((self.answer(), 0));
        }
        let (bytes, at) = self.response.as_mut().unwrap();
        let n = buf.len().min(700).min(bytes.len() - *at);
        buf[..n].copy_from_slice(&bytes[*at..*at + n]);
        *at += n;
        Ok(n)
    }

    fn close(&mut self) {}
}

const SOURCE: Source<'static> = Source { host: HOST, path: "/update.bin", attempts: 3 };

fn fetch_image(server: &mut FakeServer, flash: &mut SimFlash<4>) -> (Result<(), String>, Vec<String>) {
    let mut events = Vec::new();
    let mut writer = UpdateWriter::new(flash, layout()).unwrap();
    let mut buf = [0u8; 1024];
    let result = download(server, &SOURCE, &mut writer, &mut buf, &mut |event| {
        if let Event::Interrupted { received, error } = event {
            events.push(format!("interrupted at {received}: {error}"));
        }
    });
    let result =
        result.map_err(|e| e.to_string()).and_then(|()| writer.finish().map(|_| ()).map_err(|e| e.to_string()));
    (result, events)
}

#[test]
fn a_download_cut_twice_resumes_with_ranges() {
    let image = v2();
    let mut server = FakeServer::new(image.clone(), &[5000, 3]);
    let mut flash = SimFlash::<4>::new(&geometry());
    let (result, events) = fetch_image(&mut server, &mut flash);
    assert_eq!(result, Ok(()));
    assert_eq!(flash.contents(SECONDARY, image.len()), &image[..]);
    let total = image.len();
    assert_eq!(
        events,
        [
            format!("interrupted at 5000: the connection closed after 5000 of {total} bytes of the body"),
            format!("interrupted at 5003: the connection closed after 3 of {} bytes of the body", total - 5000),
        ]
    );
    assert_eq!(
        server.requests,
        [
            "GET /update.bin HTTP/1.1",
            "GET /update.bin HTTP/1.1Range: bytes=5000-",
            "GET /update.bin HTTP/1.1Range: bytes=5003-"
        ]
    );
}

#[test]
fn a_server_that_ignores_ranges_still_completes_the_download() {
    let image = v2();
    let mut server = FakeServer::new(image.clone(), &[7000]);
    server.ignore_range = true;
    let mut flash = SimFlash::<4>::new(&geometry());
    assert_eq!(fetch_image(&mut server, &mut flash).0, Ok(()));
    assert_eq!(flash.contents(SECONDARY, image.len()), &image[..]);
}

#[test]
fn a_download_gives_up_when_attempts_bring_nothing() {
    let mut server = FakeServer::new(v2(), &[100, 0, 0, 0, 0]);
    let mut flash = SimFlash::<4>::new(&geometry());
    let (result, events) = fetch_image(&mut server, &mut flash);
    assert_eq!(
        result.unwrap_err(),
        "gave up after 3 attempts in a row that brought no data (100 bytes so far); the last one failed: the \
         connection closed after 0 of 20569 bytes of the body"
            .replace("20569", &(v2().len() - 100).to_string())
    );
    assert_eq!(events.len(), 3);
    let mut refusing = FakeServer::new(v2(), &[]);
    refusing.refuse_connections = true;
    let (result, _) = fetch_image(&mut refusing, &mut flash);
    assert!(result.unwrap_err().ends_with("the connection failed: \"connection refused\""));
    let status = boot_app::BootControl::new(&mut flash, layout()).unwrap().status().unwrap();
    assert_eq!(status.pending, None);
}

#[test]
fn a_corrupted_or_foreign_file_is_refused_and_not_marked_pending() {
    let mut corrupted = v2();
    corrupted[3000] ^= 4;
    let mut server = FakeServer::new(corrupted, &[1000]);
    let mut flash = SimFlash::<4>::new(&geometry());
    let (result, _) = fetch_image(&mut server, &mut flash);
    assert!(result.unwrap_err().starts_with("update refused: the image's SHA-256 does not match its hash TLV"));
    let mut html = FakeServer::new(b"<html><body>Directory listing</body></html>".repeat(10), &[]);
    let (result, _) = fetch_image(&mut html, &mut flash);
    assert!(result.unwrap_err().starts_with("update refused: not an MCUboot image"));
    let status = boot_app::BootControl::new(&mut flash, layout()).unwrap().status().unwrap();
    assert_eq!(status.pending, None);
}

#[test]
fn progress_counts_up_to_the_announced_size_across_resumes() {
    let image = v2();
    let mut server = FakeServer::new(image.clone(), &[9000]);
    let mut flash = SimFlash::<4>::new(&geometry());
    let mut writer = UpdateWriter::new(&mut flash, layout()).unwrap();
    let mut seen = Vec::new();
    download(&mut server, &SOURCE, &mut writer, &mut [0u8; 1024], &mut |event| match event {
        Event::Progress { received, total } => seen.push((received, total)),
        Event::Connecting { offset } => seen.push((offset, 0)),
        Event::Interrupted { .. } => {}
    })
    .unwrap();
    let total = image.len() as u32;
    assert_eq!(seen.first(), Some(&(0, 0)), "the first connection asks for everything");
    assert!(seen.contains(&(9000, 0)), "the second resumes at 9000: {seen:?}");
    let progress: Vec<_> = seen.iter().filter(|(_, t)| *t != 0).collect();
    assert!(progress.iter().all(|(_, t)| *t == total), "every total is the image's size");
    assert!(progress.windows(2).all(|w| w[0].0 < w[1].0), "received only grows");
    assert_eq!(progress.last(), Some(&&(total, total)));
}
