//! `cargo boot serve`: the update image and its manifest over HTTP, for devices that
//! download their own updates.
//!
//! Only two names are served, both from memory: [`IMAGE_PATH`] and [`MANIFEST_PATH`].
//! Everything else is `404`. The request target is compared byte for byte with those
//! two names, never decoded nor joined to a directory, so `..`, `%2e%2e`, `//` and
//! absolute URLs cannot reach any file. A query string is allowed on the two names
//! (`/update.bin?v=2` busts caches) and ignored.
//!
//! Every response has a `Content-Length` and is never chunked (devices size their
//! download from it), plus `Accept-Ranges: bytes`, a strong `ETag` (the SHA-256 of the
//! content), `Last-Modified` and `Cache-Control: no-cache`:
//!
//! - `GET` with one byte range (`bytes=a-b`, `a-`, `-n`) answers `206` with
//!   `Content-Range`; a range that starts past the end answers `416` with
//!   `Content-Range: bytes */len`. A request for several ranges gets the whole file
//!   (`200`), which HTTP allows; a malformed `Range` is ignored the same way.
//! - `If-Range` resumes only the same content (same strong `ETag`, or exactly the same
//!   `Last-Modified` date); otherwise the whole new image is sent.
//! - `If-None-Match` (or, without it, `If-Modified-Since`) answers `304`.
//! - `HEAD` answers the same headers as `GET` with no body (a `Range` is ignored on
//!   `HEAD`, as HTTP requires).
//!
//! A pool of worker threads answers requests, so one slow device does not hold up the
//! others; a device that takes no data for [`ServeConfig::send_timeout`] is dropped.
//! (tiny_http 0.12's connection pool has a flaw with bursts of connections, worked
//! around at start; see `pin_idle_pool_threads`.) The server reports what it does as
//! [`ServeEvent`]s and never prints.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tiny_http::{HTTPVersion, Header, Method, Request, StatusCode};

/// Where the update image is served.
pub const IMAGE_PATH: &str = "/update.bin";
/// Where the manifest describing the image is served.
pub const MANIFEST_PATH: &str = "/manifest.json";
/// The port of the seed's `python -m SimpleHTTPServer`, kept so device code need not change.
pub const DEFAULT_PORT: u16 = 8000;
/// Worker threads by default: each device downloading at the same moment holds one.
pub const DEFAULT_WORKERS: usize = 64;
/// A device that takes no data for this long is dropped, by default.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies are written in pieces of this size; a download reports progress after each.
/// Larger pieces cost fewer system calls: 64 KiB pieces were measurably slower in
/// `scripts/bench-serve.sh`.
const PIECE: usize = 256 * 1024;
/// MCUboot's image header magic, little-endian at offset 0.
const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// Request targets longer than this are cut in events (they only ever get a 404).
const MAX_SHOWN_TARGET: usize = 200;

/// Errors of `cargo boot serve`, each naming the fix.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("port {port} is in use: pass --port with another port (or --port 0 for any free one), or stop the program using it")]
    PortInUse { port: u16 },
    #[error(
        "listening on port {port} needs extra privileges: pass --port {DEFAULT_PORT} (ports below 1024 need root)"
    )]
    PortNeedsPrivileges { port: u16 },
    #[error(
        "{ip} is not an address of this machine: pass --bind with one of its addresses, or 0.0.0.0 for all of them"
    )]
    AddressNotHere { ip: std::net::IpAddr },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the image to serve, {path}: {source}: check the path given to --file, or build it with `cargo boot build`")]
    ReadImage {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the image to serve, {path}, is empty: build it again with `cargo boot build`, or pass --file with another image")]
    EmptyImage { path: String },
    #[error("no image to serve in {dir}: run `cargo boot build` first, or pass --file with an image")]
    NoImage { dir: String },
    #[error("cannot start the server's threads: {0}: lower --workers")]
    Threads(#[source] io::Error),
    #[error(
        "the server stopped accepting connections: {0}: raise the open-file limit (`ulimit -n`) and start it again"
    )]
    Accept(#[source] io::Error),
}

/// The version in an MCUboot-format image header (`ih_ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Revision.
    pub revision: u16,
    /// Build number.
    pub build: u32,
}

impl fmt::Display for ImageVersion {
    /// `major.minor.revision+build`, the way imgtool writes versions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}+{}", self.major, self.minor, self.revision, self.build)
    }
}

/// The version of an MCUboot-format image, or `None` for any other file.
///
/// Reads only the magic (offset 0) and `ih_ver` (bytes 20..28: u8 major, u8 minor,
/// u16 revision, u32 build, little-endian).
// TODO(lead): switch to the `boot-image` crate's header parser once it lands.
pub fn image_version(image: &[u8]) -> Option<ImageVersion> {
    let header = image.get(..28)?;
    let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
    if word(0) != IMAGE_MAGIC {
        return None;
    }
    Some(ImageVersion {
        major: header[20],
        minor: header[21],
        revision: u16::from_le_bytes([header[22], header[23]]),
        build: word(24),
    })
}

/// `/manifest.json`: what a device needs to decide whether to download the image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The image's version (`1.2.3+4`), or `null` if it is not an MCUboot-format image.
    pub version: Option<String>,
    /// The image's size in bytes.
    pub size: u64,
    /// The image's SHA-256, lowercase hex.
    pub sha256: String,
    /// Where to download the image, relative to the server: always `/update.bin`.
    pub path: String,
}

/// One served file: its bytes, shared by every download, and its validators.
#[derive(Debug, Clone)]
struct Resource {
    bytes: Arc<[u8]>,
    content_type: &'static str,
    /// Strong entity tag, quotes included: `"<sha256 hex>"`.
    etag: String,
    /// Whole seconds, never later than when the server read the file.
    last_modified: SystemTime,
}

impl Resource {
    fn new(bytes: Arc<[u8]>, sha256: &str, content_type: &'static str, last_modified: SystemTime) -> Resource {
        Resource { bytes, content_type, etag: format!("\"{sha256}\""), last_modified }
    }

    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The headers every answer about this resource carries.
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Content-Type", self.content_type.to_string()),
            ("Accept-Ranges", "bytes".to_string()),
            ("ETag", self.etag.clone()),
            ("Last-Modified", httpdate::fmt_http_date(self.last_modified)),
            ("Cache-Control", "no-cache".to_string()),
        ]
    }
}

/// What the server serves: one update image and its manifest, read once, immutable.
#[derive(Debug, Clone)]
pub struct Artifacts {
    image: Resource,
    manifest_resource: Resource,
    manifest: Manifest,
}

impl Artifacts {
    /// Artifacts for an image held in memory, last modified at `modified`.
    pub fn new(image: Vec<u8>, modified: SystemTime) -> Artifacts {
        let last_modified = http_time(modified);
        let sha256 = hex(&Sha256::digest(&image));
        let manifest = Manifest {
            version: image_version(&image).map(|v| v.to_string()),
            size: image.len() as u64,
            sha256: sha256.clone(),
            path: IMAGE_PATH.to_string(),
        };
        let json = manifest_json(&manifest).into_bytes();
        let json_sha256 = hex(&Sha256::digest(&json));
        Artifacts {
            image: Resource::new(image.into(), &sha256, "application/octet-stream", last_modified),
            manifest_resource: Resource::new(json.into(), &json_sha256, "application/json", last_modified),
            manifest,
        }
    }

    /// Reads an image file; its modification time becomes `Last-Modified`.
    pub fn load(path: &Path) -> Result<Artifacts, ServeError> {
        let shown = path.display().to_string();
        let read_error = |source| ServeError::ReadImage { path: shown.clone(), source };
        let bytes = std::fs::read(path).map_err(read_error)?;
        if bytes.is_empty() {
            return Err(ServeError::EmptyImage { path: shown });
        }
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now());
        Ok(Artifacts::new(bytes, modified))
    }

    /// The manifest served at [`MANIFEST_PATH`].
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest exactly as served.
    pub fn manifest_json(&self) -> String {
        String::from_utf8_lossy(&self.manifest_resource.bytes).into_owned()
    }

    /// The image bytes.
    pub fn image(&self) -> &[u8] {
        &self.image.bytes
    }
}

/// The manifest as pretty JSON with a final newline.
fn manifest_json(manifest: &Manifest) -> String {
    let mut json = serde_json::to_string_pretty(manifest).expect("a manifest is strings and numbers");
    json.push('\n');
    json
}

/// `time` as HTTP can say it: whole seconds, not before 1970, not in the future.
fn http_time(time: SystemTime) -> SystemTime {
    let clamped = time.clamp(UNIX_EPOCH, SystemTime::now());
    let seconds = clamped.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which file of a build directory to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateImage {
    /// `update.bin`: the signed update image.
    Signed(PathBuf),
    /// `<name>_application.bin`: the app alone, unsigned (no `update.bin` was built).
    Unsigned(PathBuf),
}

impl UpdateImage {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            UpdateImage::Signed(path) | UpdateImage::Unsigned(path) => path,
        }
    }
}

/// The update image in `target/boot/<profile>/`: `update.bin`, else the app image.
pub fn update_image(dir: &Path, name: &str) -> Result<UpdateImage, ServeError> {
    let signed = dir.join("update.bin");
    if signed.is_file() {
        return Ok(UpdateImage::Signed(signed));
    }
    let unsigned = dir.join(format!("{name}_application.bin"));
    if unsigned.is_file() {
        return Ok(UpdateImage::Unsigned(unsigned));
    }
    Err(ServeError::NoImage { dir: dir.display().to_string() })
}

/// What a `Range` header asks of a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Send everything: no usable range (another unit, bad syntax, or several ranges).
    Full,
    /// Send bytes `start..end` (`end` exclusive, never past the end): `206`.
    Partial {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// The range starts past the end: `416`.
    Unsatisfiable,
}

/// Reads a `Range` header value against a representation of `len` bytes.
pub fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return RangeRequest::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeRequest::Full;
    }
    let specs: Vec<&str> = set.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    match specs.as_slice() {
        [spec] => parse_range_spec(spec, len),
        _ => RangeRequest::Full,
    }
}

/// One `first-last`, `first-` or `-suffix`.
fn parse_range_spec(spec: &str, len: u64) -> RangeRequest {
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (digits(first), digits(last)) {
        (None, Some(suffix)) if first.is_empty() => suffix_range(suffix, len),
        (Some(start), None) if last.is_empty() => bounded_range(start, u64::MAX, len),
        (Some(start), Some(last)) if start <= last => bounded_range(start, last, len),
        _ => RangeRequest::Full,
    }
}

/// The last `suffix` bytes.
fn suffix_range(suffix: u64, len: u64) -> RangeRequest {
    if suffix == 0 || len == 0 {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial { start: len.saturating_sub(suffix), end: len }
}

/// Bytes `start..=last`, cut at the end.
fn bounded_range(start: u64, last: u64, len: u64) -> RangeRequest {
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial { start, end: last.saturating_add(1).min(len) }
}

/// A decimal number of ASCII digits only (no sign, no spaces).
fn digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether an `If-None-Match` value names `etag` (weak comparison, as HTTP says).
fn etag_listed(value: &str, etag: &str) -> bool {
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Where a request target leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// [`IMAGE_PATH`].
    Image,
    /// [`MANIFEST_PATH`].
    Manifest,
}

/// The route of a request target, compared byte for byte (a query string is ignored).
pub fn route(target: &str) -> Option<Route> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        IMAGE_PATH => Some(Route::Image),
        MANIFEST_PATH => Some(Route::Manifest),
        _ => None,
    }
}

/// What a request asks, with its headers looked up by name.
struct RequestHead<'a> {
    method: &'a Method,
    target: &'a str,
    headers: &'a [Header],
}

impl RequestHead<'_> {
    /// The first value of a header.
    fn header(&self, name: &'static str) -> Option<&str> {
        self.headers.iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str())
    }

    /// Every value of a header, joined with commas (as HTTP allows for lists).
    fn header_list(&self, name: &'static str) -> Option<String> {
        let values: Vec<&str> = self.headers.iter().filter(|h| h.field.equiv(name)).map(|h| h.value.as_str()).collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// How to answer a request: status, headers, and which bytes make the body.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Arc<[u8]>,
    /// Body bytes `start..end` of `body` (also the `Content-Length`, even for `HEAD` and `304`).
    start: usize,
    end: usize,
}

impl Reply {
    fn text(status: u16, text: &str, mut headers: Vec<(&'static str, String)>) -> Reply {
        headers.push(("Content-Type", "text/plain; charset=utf-8".to_string()));
        let body: Arc<[u8]> = text.as_bytes().into();
        Reply { status, headers, end: body.len(), body, start: 0 }
    }

    fn whole(status: u16, resource: &Resource, headers: Vec<(&'static str, String)>) -> Reply {
        Reply { status, headers, body: resource.bytes.clone(), start: 0, end: resource.bytes.len() }
    }

    fn len(&self) -> u64 {
        (self.end - self.start) as u64
    }
}

/// Decides the answer to a request, from the artifacts being served.
fn answer(artifacts: &Artifacts, head: &RequestHead) -> Reply {
    let resource = match route(head.target) {
        Some(Route::Image) => &artifacts.image,
        Some(Route::Manifest) => &artifacts.manifest_resource,
        None => return Reply::text(404, "not found: this server has only /update.bin and /manifest.json\n", vec![]),
    };
    if !matches!(head.method, Method::Get | Method::Head) {
        let allow = vec![("Allow", "GET, HEAD".to_string())];
        return Reply::text(405, "method not allowed: use GET or HEAD\n", allow);
    }
    answer_resource(resource, head)
}

/// `200`, `206`, `304` or `416` for a `GET` or `HEAD` of a served resource.
fn answer_resource(resource: &Resource, head: &RequestHead) -> Reply {
    let mut headers = resource.headers();
    if not_modified(resource, head) {
        return Reply::whole(304, resource, headers);
    }
    match requested_range(resource, head) {
        RangeRequest::Full => Reply::whole(200, resource, headers),
        RangeRequest::Partial { start, end } => {
            headers.push(("Content-Range", format!("bytes {start}-{}/{}", end - 1, resource.len())));
            Reply { status: 206, headers, body: resource.bytes.clone(), start: start as usize, end: end as usize }
        }
        RangeRequest::Unsatisfiable => {
            headers.push(("Content-Range", format!("bytes */{}", resource.len())));
            Reply { status: 416, headers, body: resource.bytes.clone(), start: 0, end: 0 }
        }
    }
}

/// `If-None-Match`, else `If-Modified-Since`: the client already has this content.
fn not_modified(resource: &Resource, head: &RequestHead) -> bool {
    if let Some(tags) = head.header_list("If-None-Match") {
        return etag_listed(&tags, &resource.etag);
    }
    let since = head.header("If-Modified-Since").and_then(|date| httpdate::parse_http_date(date).ok());
    since.is_some_and(|since| resource.last_modified <= since)
}

/// The range to send: only for `GET`, and only if `If-Range` (when given) still holds.
fn requested_range(resource: &Resource, head: &RequestHead) -> RangeRequest {
    let Some(range) = head.header("Range") else {
        return RangeRequest::Full;
    };
    if *head.method != Method::Get {
        return RangeRequest::Full;
    }
    if let Some(validator) = head.header("If-Range") {
        if !if_range_holds(resource, validator.trim()) {
            return RangeRequest::Full;
        }
    }
    parse_range(range, resource.len())
}

/// `If-Range`: the same strong entity tag, or exactly the same `Last-Modified` date.
fn if_range_holds(resource: &Resource, validator: &str) -> bool {
    if validator.starts_with('"') || validator.starts_with("W/") {
        return validator == resource.etag;
    }
    httpdate::parse_http_date(validator).is_ok_and(|date| date == resource.last_modified)
}

/// What the server reports, for a command line (or a test) to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeEvent {
    /// A request was answered (after its body was sent, or failed).
    Request {
        /// Request number, shared with the download events of the same request.
        id: u64,
        /// The client's address.
        peer: Option<SocketAddr>,
        /// `GET`, `HEAD`, ...
        method: String,
        /// The request target, control characters replaced, cut at 200 characters.
        path: String,
        /// The status sent.
        status: u16,
        /// Body bytes handed to the connection.
        bytes: u64,
        /// From the request being picked up to the last byte written.
        elapsed: Duration,
    },
    /// A download of the image has started.
    DownloadStarted {
        /// Request number.
        id: u64,
        /// The client's address.
        peer: Option<SocketAddr>,
        /// Offset of the first byte sent (non-zero when resuming).
        offset: u64,
        /// Bytes this response will send.
        total: u64,
    },
    /// More of a download was sent (every 256 KiB, and at the end).
    DownloadProgress {
        /// Request number.
        id: u64,
        /// The client's address.
        peer: Option<SocketAddr>,
        /// Bytes sent so far.
        sent: u64,
        /// Bytes this response sends.
        total: u64,
    },
    /// A download was sent completely.
    DownloadDone {
        /// Request number.
        id: u64,
        /// The client's address.
        peer: Option<SocketAddr>,
        /// Bytes sent.
        sent: u64,
        /// How long it took.
        elapsed: Duration,
    },
    /// A download stopped before the end (the device went away, or took no data).
    DownloadAborted {
        /// Request number.
        id: u64,
        /// The client's address.
        peer: Option<SocketAddr>,
        /// Bytes sent before it stopped.
        sent: u64,
        /// Bytes the response should have sent.
        total: u64,
        /// Why.
        reason: String,
    },
    /// New artifacts are being served (new downloads get them; running ones finish the old).
    Reloaded {
        /// The new image's version, if it is an MCUboot-format image.
        version: Option<String>,
        /// The new image's size.
        size: u64,
        /// The new image's SHA-256.
        sha256: String,
    },
    /// The server cannot accept connections any more and is stopping.
    Failed {
        /// What went wrong.
        message: String,
    },
}

/// Where the server sends its events; called from the worker threads.
pub type EventSink = Arc<dyn Fn(ServeEvent) + Send + Sync>;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address and port to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Threads answering requests: each download in progress holds one.
    pub workers: usize,
    /// Drop a client that takes no data for this long (`None`: wait forever).
    /// Also bounds how long [`ServeHandle::stop`] waits for downloads in progress.
    pub send_timeout: Option<Duration>,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            workers: DEFAULT_WORKERS,
            send_timeout: Some(DEFAULT_SEND_TIMEOUT),
        }
    }
}

/// State shared by the worker threads and the handles.
struct Shared {
    http: tiny_http::Server,
    artifacts: RwLock<Arc<Artifacts>>,
    on_event: EventSink,
    stopping: AtomicBool,
    next_id: AtomicU64,
    workers: usize,
    failure: Mutex<Option<io::Error>>,
    /// Idle connections to ourselves, see [`pin_idle_pool_threads`]; closed on stop.
    pins: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn current(&self) -> Arc<Artifacts> {
        self.artifacts.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn stop(&self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            self.pins.lock().unwrap_or_else(PoisonError::into_inner).clear();
            // Each unblock wakes one `recv`, now or later: one per worker.
            for _ in 0..self.workers {
                self.http.unblock();
            }
        }
    }

    fn fail(&self, error: io::Error) {
        (self.on_event)(ServeEvent::Failed { message: error.to_string() });
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
        self.stop();
    }
}

/// A running server. Stop it through a [`ServeHandle`], then [`Server::wait`].
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Controls a running server from any thread (a Ctrl-C handler, a file watcher).
///
/// It does not keep the server alive: once the server has stopped it does nothing.
#[derive(Clone)]
pub struct ServeHandle {
    shared: Weak<Shared>,
}

impl ServeHandle {
    /// Stops the server: workers finish the response they are sending, then exit.
    pub fn stop(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.stop();
        }
    }

    /// Whether the server is stopping or stopped.
    pub fn is_stopped(&self) -> bool {
        self.shared.upgrade().is_none_or(|shared| shared.stopping.load(Ordering::SeqCst))
    }

    /// Serves new artifacts from now on; downloads in progress finish with the old ones.
    pub fn reload(&self, artifacts: Artifacts) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let manifest = artifacts.manifest.clone();
        *shared.artifacts.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(artifacts);
        (shared.on_event)(ServeEvent::Reloaded {
            version: manifest.version,
            size: manifest.size,
            sha256: manifest.sha256,
        });
    }
}

impl Server {
    /// Listens on `config.addr` and starts the workers.
    pub fn start(
        config: &ServeConfig,
        artifacts: Artifacts,
        on_event: impl Fn(ServeEvent) + Send + Sync + 'static,
    ) -> Result<Server, ServeError> {
        let listener = listen(config.addr, config.send_timeout)?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen { addr: config.addr, source })?;
        let http = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| ServeError::Listen { addr, source: io::Error::other(e.to_string()) })?;
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared {
            http,
            artifacts: RwLock::new(Arc::new(artifacts)),
            on_event: Arc::new(on_event),
            stopping: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            workers,
            failure: Mutex::new(None),
            pins: Mutex::new(pin_idle_pool_threads(addr)),
        });
        let mut server = Server { shared, threads: Vec::with_capacity(workers), addr };
        for index in 0..workers {
            let shared = server.shared.clone();
            let thread = std::thread::Builder::new().name(format!("serve-{index}")).spawn(move || work(&shared));
            server.threads.push(thread.map_err(ServeError::Threads)?);
        }
        Ok(server)
    }

    /// The address the server listens on (with the real port when port 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle to stop or reload the server from another thread.
    pub fn handle(&self) -> ServeHandle {
        ServeHandle { shared: Arc::downgrade(&self.shared) }
    }

    /// Waits until the server has stopped and its workers have finished. The port is
    /// closed moments later, when tiny_http's accept thread notices.
    pub fn wait(mut self) -> Result<(), ServeError> {
        for thread in std::mem::take(&mut self.threads) {
            let _ = thread.join();
        }
        let failure = self.shared.failure.lock().unwrap_or_else(PoisonError::into_inner).take();
        failure.map_or(Ok(()), |error| Err(ServeError::Accept(error)))
    }
}

impl Drop for Server {
    /// A server dropped without [`Server::wait`] stops; its workers exit in the background.
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// A listening socket whose connections time out on writes that make no progress.
///
/// Accepted sockets inherit the send timeout and `TCP_NODELAY` from the listener (Linux,
/// macOS and the BSDs do), which is the only way to set them on tiny_http's connections.
fn listen(addr: SocketAddr, send_timeout: Option<Duration>) -> Result<TcpListener, ServeError> {
    use socket2::{Domain, Socket, Type};
    let listen_error = |source: io::Error| match source.kind() {
        io::ErrorKind::AddrInUse => ServeError::PortInUse { port: addr.port() },
        io::ErrorKind::PermissionDenied => ServeError::PortNeedsPrivileges { port: addr.port() },
        io::ErrorKind::AddrNotAvailable => ServeError::AddressNotHere { ip: addr.ip() },
        _ => ServeError::Listen { addr, source },
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(listen_error)?;
    #[cfg(unix)]
    socket.set_reuse_address(true).map_err(listen_error)?;
    socket.set_write_timeout(send_timeout.filter(|t| !t.is_zero())).map_err(listen_error)?;
    // Each response is a few large writes: send them at once, never waiting for an ACK.
    socket.set_tcp_nodelay(true).map_err(listen_error)?;
    socket.bind(&addr.into()).map_err(listen_error)?;
    socket.listen(1024).map_err(listen_error)?;
    Ok(socket.into())
}

/// How many connection threads tiny_http 0.12 keeps waiting for connections forever.
const TINY_HTTP_IDLE_THREADS: usize = 4;

/// Opens idle connections to the server that hold tiny_http's permanently idle threads.
///
/// tiny_http 0.12 runs each connection on a pool thread until the connection closes.
/// Its pool counts idle threads before they wake: when a burst of connections arrives,
/// it queues more connections than it has idle threads, and the extra ones wait until
/// another connection closes (with keep-alive clients, possibly forever: 100 parallel
/// `curl` downloads on a fresh server hang this way). Once no thread is idle, the pool
/// starts a new thread for every connection, so a burst on a fresh server is served at
/// once. The pool's 4 idle threads may start after the first pins arrive, hence twice
/// as many pins, spaced out.
///
/// What remains: threads that served a connection stay idle for 5 s, and a burst larger
/// than the number of connections that closed in those 5 s can still wait for the next
/// connection to close.
// TODO(lead): owning the accept loop (tiny_http 0.12's API does not allow it) or an
// upstream fix of its TaskPool would remove this.
fn pin_idle_pool_threads(addr: SocketAddr) -> Vec<TcpStream> {
    let target = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    };
    let mut pins = Vec::with_capacity(2 * TINY_HTTP_IDLE_THREADS);
    for _ in 0..2 * TINY_HTTP_IDLE_THREADS {
        // Let the pool's threads start, and take each pin before the next one arrives.
        std::thread::sleep(Duration::from_millis(3));
        let Ok(pin) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
            break;
        };
        pins.push(pin);
    }
    pins
}

/// One worker: answers requests until the server stops.
fn work(shared: &Shared) {
    loop {
        match shared.http.recv() {
            Ok(request) if shared.stopping.load(Ordering::SeqCst) => {
                refuse(request);
                break;
            }
            Ok(request) => handle(shared, request),
            Err(_) if shared.stopping.load(Ordering::SeqCst) => break,
            Err(error) => {
                shared.fail(error);
                break;
            }
        }
    }
}

/// Answers `503` to a request that arrived while stopping.
fn refuse(request: Request) {
    let method = request.method().clone();
    let head = RequestHead { method: &method, target: request.url(), headers: request.headers() };
    let framing = Framing::new(&head, request.http_version());
    let reply = Reply::text(503, "the server is stopping\n", vec![]);
    let _ = send(&mut request.into_writer(), &reply, &framing, &mut |_| {});
}

/// Answers one request and reports it.
fn handle(shared: &Shared, request: Request) {
    let started = Instant::now();
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let peer = request.remote_addr().copied();
    let method = request.method().clone();
    let path = shown_target(request.url());
    let head = RequestHead { method: &method, target: request.url(), headers: request.headers() };
    let reply = answer(&shared.current(), &head);
    let framing = Framing::new(&head, request.http_version());
    let download = is_download(&head, &reply).then(|| Download {
        id,
        peer,
        total: reply.len(),
        on_event: shared.on_event.clone(),
    });
    if let Some(download) = &download {
        download.started(reply.start as u64);
    }
    let mut writer = request.into_writer();
    let (bytes, result) = send(&mut writer, &reply, &framing, &mut |sent| {
        if let Some(download) = &download {
            download.progress(sent);
        }
    });
    // The connection's next response may only start once this writer is gone.
    drop(writer);
    if let Some(download) = &download {
        download.finished(bytes, &result, started.elapsed());
    }
    let (method, status, elapsed) = (method.to_string(), reply.status, started.elapsed());
    (shared.on_event)(ServeEvent::Request { id, peer, method, path, status, bytes, elapsed });
}

/// Whether a reply sends the image (or part of it), which is reported as a download.
fn is_download(head: &RequestHead, reply: &Reply) -> bool {
    *head.method == Method::Get
        && route(head.target) == Some(Route::Image)
        && matches!(reply.status, 200 | 206)
        && reply.len() > 0
}

/// A request target fit for a log line.
fn shown_target(target: &str) -> String {
    target.chars().take(MAX_SHOWN_TARGET).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// How a response is framed for the request it answers.
#[derive(Debug, PartialEq, Eq)]
struct Framing {
    /// The request's version, repeated in the status line.
    version: HTTPVersion,
    /// `Connection: close` or `keep-alive`, when the default (by version) does not apply.
    connection: Option<&'static str>,
    /// `false` for `HEAD`.
    with_body: bool,
}

impl Framing {
    /// Keeps the connection open exactly when tiny_http keeps reading it, and says so.
    fn new(head: &RequestHead, version: &HTTPVersion) -> Framing {
        let asked = head.header_list("Connection").unwrap_or_default().to_ascii_lowercase();
        let connection = if asked.contains("close") || asked.contains("upgrade") {
            Some("close")
        } else if *version == HTTPVersion(1, 0) && asked.contains("keep-alive") {
            Some("keep-alive")
        } else {
            None
        };
        Framing { version: version.clone(), connection, with_body: *head.method != Method::Head }
    }
}

/// Writes a reply: status line, headers, `Content-Length` (always: never chunked), and
/// the body in pieces, calling `on_progress` with the body bytes written so far.
///
/// Written here rather than through `tiny_http::Response`, which chunks large bodies,
/// chunks any body when the client asks with `TE`, and copies through an 8 KiB buffer.
fn send(
    writer: &mut dyn Write,
    reply: &Reply,
    framing: &Framing,
    on_progress: &mut dyn FnMut(u64),
) -> (u64, io::Result<()>) {
    if let Err(error) = writer.write_all(head_text(reply, framing).as_bytes()) {
        return (0, Err(error));
    }
    let mut sent = 0;
    if framing.with_body && reply.status != 304 {
        for piece in reply.body[reply.start..reply.end].chunks(PIECE) {
            if let Err(error) = writer.write_all(piece) {
                return (sent, Err(error));
            }
            sent += piece.len() as u64;
            on_progress(sent);
        }
    }
    (sent, writer.flush())
}

/// The status line and headers of a reply, with the blank line that ends them.
fn head_text(reply: &Reply, framing: &Framing) -> String {
    use std::fmt::Write as _;
    let HTTPVersion(major, minor) = framing.version;
    let reason = StatusCode(reply.status).default_reason_phrase();
    let mut head = format!("HTTP/{major}.{minor} {} {reason}\r\n", reply.status);
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if let Some(connection) = framing.connection {
        let _ = write!(head, "Connection: {connection}\r\n");
    }
    let date = httpdate::fmt_http_date(SystemTime::now());
    let _ = write!(head, "Date: {date}\r\nServer: cargo-boot\r\nContent-Length: {}\r\n\r\n", reply.len());
    head
}

/// A download being reported.
struct Download {
    id: u64,
    peer: Option<SocketAddr>,
    total: u64,
    on_event: EventSink,
}

impl Download {
    fn started(&self, offset: u64) {
        (self.on_event)(ServeEvent::DownloadStarted { id: self.id, peer: self.peer, offset, total: self.total });
    }

    fn progress(&self, sent: u64) {
        (self.on_event)(ServeEvent::DownloadProgress { id: self.id, peer: self.peer, sent, total: self.total });
    }

    fn finished(&self, sent: u64, result: &io::Result<()>, elapsed: Duration) {
        let (id, peer, total) = (self.id, self.peer, self.total);
        let reason = match result {
            Ok(()) => return (self.on_event)(ServeEvent::DownloadDone { id, peer, sent, elapsed }),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                "the client took no data for too long".to_string()
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => {
                "the client went away".to_string()
            }
            Err(e) => e.to_string(),
        };
        (self.on_event)(ServeEvent::DownloadAborted { id, peer, sent, total, reason });
    }
}

/// Notices changes to a package's sources by polling their sizes and modification times.
pub struct SourceWatch {
    roots: Vec<PathBuf>,
    last: Vec<(PathBuf, u64, Option<SystemTime>)>,
}

impl SourceWatch {
    /// Watches `src/`, `Cargo.toml` and `build.rs` of the package in `package_dir`.
    pub fn new(package_dir: &Path) -> SourceWatch {
        let roots = ["src", "Cargo.toml", "build.rs"].iter().map(|name| package_dir.join(name)).collect();
        let mut watch = SourceWatch { roots, last: Vec::new() };
        watch.last = watch.scan();
        watch
    }

    /// Whether anything changed (a file added, removed, resized or touched) since the last call.
    pub fn changed(&mut self) -> bool {
        let now = self.scan();
        let changed = now != self.last;
        self.last = now;
        changed
    }

    fn scan(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut files = Vec::new();
        for root in &self.roots {
            collect_files(root, &mut files);
        }
        files.sort();
        files
    }
}

/// Every file under `path` (not following links to directories), with size and mtime.
fn collect_files(path: &Path, files: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return;
    };
    if metadata.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            collect_files(&entry.path(), files);
        }
        return;
    }
    let metadata = std::fs::metadata(path).unwrap_or(metadata);
    files.push((path.to_path_buf(), metadata.len(), metadata.modified().ok()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn artifacts(len: usize) -> Artifacts {
        Artifacts::new(image(len), UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
        pairs.iter().map(|(name, value)| Header::from_bytes(*name, *value).unwrap()).collect()
    }

    fn ask(artifacts: &Artifacts, method: Method, target: &str, pairs: &[(&str, &str)]) -> Reply {
        let headers = headers(pairs);
        answer(artifacts, &RequestHead { method: &method, target, headers: &headers })
    }

    fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
        reply.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn ranges_of_every_form() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-99", 1000), Partial { start: 0, end: 100 });
        assert_eq!(parse_range("bytes=100-", 1000), Partial { start: 100, end: 1000 });
        assert_eq!(parse_range("bytes=-10", 1000), Partial { start: 990, end: 1000 });
        assert_eq!(parse_range(" Bytes = 5 - 5 ", 1000), Partial { start: 5, end: 6 });
        assert_eq!(parse_range("bytes=900-5000", 1000), Partial { start: 900, end: 1000 });
        assert_eq!(parse_range("bytes=-5000", 1000), Partial { start: 0, end: 1000 });
        assert_eq!(parse_range("bytes=0-18446744073709551615", 10), Partial { start: 0, end: 10 });
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn malformed_or_multiple_ranges_mean_the_whole_file() {
        for value in
            ["bytes=5-1", "bytes=a-b", "bytes=+1-2", "bytes=-", "bytes=1", "items=0-1", "0-1", "bytes=0-1,5-9", ""]
        {
            assert_eq!(parse_range(value, 1000), RangeRequest::Full, "{value}");
        }
    }

    #[test]
    fn only_the_two_names_are_routed() {
        assert_eq!(route("/update.bin"), Some(Route::Image));
        assert_eq!(route("/update.bin?v=3"), Some(Route::Image));
        assert_eq!(route("/manifest.json"), Some(Route::Manifest));
        for target in [
            "/",
            "",
            "*",
            "update.bin",
            "//update.bin",
            "/./update.bin",
            "/../update.bin",
            "/%2e%2e/update.bin",
            "/update%2ebin",
            "/update.bin/",
            "/UPDATE.BIN",
            "http://localhost/update.bin",
            "/etc/passwd",
            "/?x=/update.bin",
        ] {
            assert_eq!(route(target), None, "{target}");
        }
    }

    #[test]
    fn version_is_read_from_mcuboot_headers_only() {
        let mut header = vec![0u8; 32];
        header[..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
        header[20..28].copy_from_slice(&[1, 2, 0x03, 0x01, 0x04, 0, 0, 0]);
        let version = image_version(&header).unwrap();
        assert_eq!(version, ImageVersion { major: 1, minor: 2, revision: 0x0103, build: 4 });
        assert_eq!(version.to_string(), "1.2.259+4");
        assert_eq!(image_version(&header[..27]), None);
        header[0] = 0;
        assert_eq!(image_version(&header), None);
    }

    #[test]
    fn manifest_describes_the_image() {
        let artifacts = Artifacts::new(b"abc".to_vec(), SystemTime::now());
        let manifest: Manifest = serde_json::from_str(&artifacts.manifest_json()).unwrap();
        assert_eq!(manifest.size, 3);
        assert_eq!(manifest.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(manifest.version, None);
        assert_eq!(manifest.path, "/update.bin");
    }

    #[test]
    fn full_download_has_validators() {
        let served = artifacts(1000);
        let reply = ask(&served, Method::Get, "/update.bin", &[]);
        assert_eq!((reply.status, reply.len()), (200, 1000));
        assert_eq!(header(&reply, "Content-Type"), Some("application/octet-stream"));
        assert_eq!(header(&reply, "Accept-Ranges"), Some("bytes"));
        assert_eq!(header(&reply, "ETag").unwrap(), format!("\"{}\"", served.manifest().sha256));
        assert_eq!(header(&reply, "Last-Modified"), Some("Tue, 14 Nov 2023 22:13:20 GMT"));
        let manifest = ask(&served, Method::Get, "/manifest.json", &[]);
        assert_eq!(header(&manifest, "Content-Type"), Some("application/json"));
    }

    #[test]
    fn range_and_unsatisfiable_range() {
        let served = artifacts(1000);
        let reply = ask(&served, Method::Get, "/update.bin", &[("Range", "bytes=10-19")]);
        assert_eq!((reply.status, reply.start, reply.end), (206, 10, 20));
        assert_eq!(header(&reply, "Content-Range"), Some("bytes 10-19/1000"));
        let reply = ask(&served, Method::Get, "/update.bin", &[("Range", "bytes=1000-")]);
        assert_eq!((reply.status, reply.len()), (416, 0));
        assert_eq!(header(&reply, "Content-Range"), Some("bytes */1000"));
    }

    #[test]
    fn head_ignores_range_and_keeps_the_length() {
        let reply = ask(&artifacts(1000), Method::Head, "/update.bin", &[("Range", "bytes=0-9")]);
        assert_eq!((reply.status, reply.len()), (200, 1000));
    }

    #[test]
    fn if_none_match_and_if_modified_since_give_304() {
        let served = artifacts(1000);
        let etag = format!("\"{}\"", served.manifest().sha256);
        for value in [etag.as_str(), "*", &format!("\"other\", W/{etag}")] {
            let reply = ask(&served, Method::Get, "/update.bin", &[("If-None-Match", value)]);
            assert_eq!(reply.status, 304, "{value}");
            assert_eq!(reply.len(), 1000, "a 304's Content-Length is the 200's");
        }
        let other = ask(&served, Method::Get, "/update.bin", &[("If-None-Match", "\"other\"")]);
        assert_eq!(other.status, 200);
        let later = [("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT")];
        assert_eq!(ask(&served, Method::Get, "/update.bin", &later).status, 304);
        let earlier = [("If-Modified-Since", "Mon, 13 Nov 2023 00:00:00 GMT")];
        assert_eq!(ask(&served, Method::Get, "/update.bin", &earlier).status, 200);
    }

    #[test]
    fn if_range_resumes_only_the_same_image() {
        let served = artifacts(1000);
        let etag = format!("\"{}\"", served.manifest().sha256);
        let same = [("Range", "bytes=500-"), ("If-Range", etag.as_str())];
        assert_eq!(ask(&served, Method::Get, "/update.bin", &same).status, 206);
        let date = [("Range", "bytes=500-"), ("If-Range", "Tue, 14 Nov 2023 22:13:20 GMT")];
        assert_eq!(ask(&served, Method::Get, "/update.bin", &date).status, 206);
        for stale in ["\"old\"", "W/\"x\"", "Tue, 14 Nov 2023 22:13:21 GMT", "garbage"] {
            let pairs = [("Range", "bytes=500-"), ("If-Range", stale)];
            let reply = ask(&served, Method::Get, "/update.bin", &pairs);
            assert_eq!((reply.status, reply.len()), (200, 1000), "{stale}");
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        let served = artifacts(10);
        let reply = ask(&served, Method::Get, "/../../etc/passwd", &[]);
        assert_eq!(reply.status, 404);
        assert_eq!(header(&reply, "Content-Type"), Some("text/plain; charset=utf-8"));
        let reply = ask(&served, Method::Post, "/update.bin", &[]);
        assert_eq!(reply.status, 405);
        assert_eq!(header(&reply, "Allow"), Some("GET, HEAD"));
        assert_eq!(ask(&served, Method::Post, "/nothing", &[]).status, 404);
    }

    fn framing(method: Method, version: HTTPVersion, pairs: &[(&str, &str)]) -> Framing {
        let headers = headers(pairs);
        Framing::new(&RequestHead { method: &method, target: "/", headers: &headers }, &version)
    }

    #[test]
    fn connection_header_follows_what_tiny_http_does_with_the_connection() {
        let v10 = || HTTPVersion(1, 0);
        let v11 = || HTTPVersion(1, 1);
        assert_eq!(framing(Method::Get, v11(), &[]).connection, None);
        assert_eq!(framing(Method::Get, v11(), &[("Connection", "Close")]).connection, Some("close"));
        assert_eq!(framing(Method::Get, v10(), &[]).connection, None);
        assert_eq!(framing(Method::Get, v10(), &[("Connection", "Keep-Alive")]).connection, Some("keep-alive"));
        assert!(!framing(Method::Head, v11(), &[]).with_body);
    }

    #[test]
    fn send_writes_the_length_and_the_slice_in_pieces() {
        let served = artifacts(600_000);
        let reply = ask(&served, Method::Get, "/update.bin", &[("Range", "bytes=1000-")]);
        let mut out = Vec::new();
        let mut progress = Vec::new();
        let (sent, result) =
            send(&mut out, &reply, &framing(Method::Get, HTTPVersion(1, 1), &[]), &mut |n| progress.push(n));
        result.unwrap();
        assert_eq!(sent, 599_000);
        assert_eq!(progress, [262_144, 524_288, 599_000]);
        let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&out[..split]);
        assert!(head.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 599000\r\n") && !head.contains("chunked"), "{head}");
        assert_eq!(out[split..], served.image()[1000..]);
    }

    #[test]
    fn head_and_304_send_the_length_but_no_body() {
        let served = artifacts(1000);
        let etag = format!("\"{}\"", served.manifest().sha256);
        for (method, pairs) in [(Method::Head, vec![]), (Method::Get, vec![("If-None-Match", etag.as_str())])] {
            let reply = ask(&served, method.clone(), "/update.bin", &pairs);
            let mut out = Vec::new();
            let (sent, _) = send(&mut out, &reply, &framing(method, HTTPVersion(1, 0), &[]), &mut |_| {});
            let text = String::from_utf8(out).unwrap();
            assert_eq!(sent, 0);
            assert!(text.starts_with("HTTP/1.0 ") && text.ends_with("Content-Length: 1000\r\n\r\n"), "{text}");
        }
    }

    #[test]
    fn shown_targets_have_no_control_characters() {
        assert_eq!(shown_target("/a\x1b[2Jb"), "/a?[2Jb");
        assert_eq!(shown_target(&"x".repeat(500)).len(), MAX_SHOWN_TARGET);
    }

    #[test]
    fn http_time_is_whole_seconds_and_never_future() {
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(http_time(time), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert!(http_time(SystemTime::now() + Duration::from_secs(3600)) <= SystemTime::now());
        assert_eq!(http_time(UNIX_EPOCH - Duration::from_secs(5)), UNIX_EPOCH);
    }

    #[test]
    fn update_image_prefers_update_bin() {
        let dir = tempfile::tempdir().unwrap();
        let err = update_image(dir.path(), "app").unwrap_err();
        assert!(err.to_string().contains("run `cargo boot build` first"), "{err}");
        std::fs::write(dir.path().join("app_application.bin"), b"x").unwrap();
        assert!(matches!(update_image(dir.path(), "app").unwrap(), UpdateImage::Unsigned(_)));
        std::fs::write(dir.path().join("update.bin"), b"x").unwrap();
        assert!(matches!(update_image(dir.path(), "app").unwrap(), UpdateImage::Signed(_)));
    }

    #[test]
    fn load_refuses_missing_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Artifacts::load(&dir.path().join("nope.bin")).unwrap_err();
        assert!(missing.to_string().contains("check the path given to --file"), "{missing}");
        std::fs::write(dir.path().join("empty.bin"), b"").unwrap();
        let empty = Artifacts::load(&dir.path().join("empty.bin")).unwrap_err();
        assert!(matches!(empty, ServeError::EmptyImage { .. }), "{empty}");
    }

    #[test]
    fn source_watch_sees_edits_additions_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}").unwrap();
        let mut watch = SourceWatch::new(dir.path());
        assert!(!watch.changed());
        std::fs::write(dir.path().join("src/main.rs"), "fn main() { }").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::write(dir.path().join("build.rs"), "").unwrap();
        assert!(watch.changed());
        std::fs::remove_file(dir.path().join("build.rs")).unwrap();
        assert!(watch.changed());
        std::fs::write(dir.path().join("README.md"), "not watched").unwrap();
        assert!(!watch.changed());
    }

    fn start(config: &ServeConfig, served: Artifacts) -> (Server, Arc<Mutex<Vec<ServeEvent>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let server = Server::start(config, served, move |event| sink.lock().unwrap().push(event)).unwrap();
        (server, events)
    }

    fn loopback() -> ServeConfig {
        ServeConfig { addr: "127.0.0.1:0".parse().unwrap(), workers: 2, ..ServeConfig::default() }
    }

    /// A raw HTTP/1.0 exchange: the whole response as text up to the body, and the body.
    fn fetch(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (String::from_utf8_lossy(&response[..split]).into_owned(), response[split..].to_vec())
    }

    #[test]
    fn server_reports_downloads_reloads_and_frees_the_port_when_stopped() {
        let (server, events) = start(&loopback(), artifacts(600_000));
        let addr = server.addr();
        let handle = server.handle();
        let (head, body) = fetch(addr, "GET /update.bin HTTP/1.0\r\n\r\n");
        assert!(head.starts_with("HTTP/1.0 200") && head.contains("Content-Length: 600000"), "{head}");
        assert_eq!(body, image(600_000));
        handle.reload(artifacts(5));
        let (head, _) = fetch(addr, "HEAD /update.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(head.contains("Content-Length: 5\r\n"), "{head}");
        handle.stop();
        assert!(handle.is_stopped());
        server.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(Instant::now() < deadline, "the port is closed soon after wait");
            std::thread::sleep(Duration::from_millis(10));
        }
        let events = events.lock().unwrap();
        let progress = events.iter().filter(|e| matches!(e, ServeEvent::DownloadProgress { .. })).count();
        assert_eq!(progress, 3, "every 256 KiB and at the end: {events:?}");
        assert!(matches!(events[0], ServeEvent::DownloadStarted { id: 1, offset: 0, total: 600_000, .. }));
        assert!(events.iter().any(|e| matches!(e, ServeEvent::DownloadDone { id: 1, sent: 600_000, .. })));
        assert!(events.iter().any(|e| matches!(e, ServeEvent::Reloaded { size: 5, .. })));
        let requests: Vec<(u16, u64)> = events
            .iter()
            .filter_map(|e| match e {
                ServeEvent::Request { status, bytes, .. } => Some((*status, *bytes)),
                _ => None,
            })
            .collect();
        assert_eq!(requests, [(200, 600_000), (200, 0)]);
    }

    #[test]
    fn port_in_use_names_the_fix() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = ServeConfig { addr: taken.local_addr().unwrap(), ..loopback() };
        let Err(err) = Server::start(&config, artifacts(1), |_| {}) else {
            panic!("a second server on a taken port must fail");
        };
        let port = config.addr.port();
        assert_eq!(
            err.to_string(),
            format!(
                "port {port} is in use: pass --port with another port (or --port 0 for any free one), or stop the program using it"
            )
        );
    }

    #[test]
    fn foreign_address_names_the_fix() {
        let config = ServeConfig { addr: "192.0.2.1:0".parse().unwrap(), ..loopback() };
        let Err(err) = Server::start(&config, artifacts(1), |_| {}) else {
            panic!("192.0.2.1 (TEST-NET-1) is not an address of this machine");
        };
        assert!(err.to_string().contains("pass --bind"), "{err}");
    }
}
