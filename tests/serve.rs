//! `cargo boot serve` end to end: the real binary, a real HTTP client (curl), loopback only.
//!
//! These tests never skip: without curl they fail and say to run `scripts/setup.sh`.
//! Every client has a time limit, and every server is killed when its test ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

/// A file that is not all one value, so misplaced bytes show.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A running `cargo boot serve --file ...` on 127.0.0.1 and an ephemeral port.
struct Serve {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
    image: Vec<u8>,
}

impl Serve {
    /// Serves `image` with the given extra options.
    fn start(image: Vec<u8>, options: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("firmware-v2.bin");
        std::fs::write(&file, &image).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "not served").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-boot"))
            .args(["boot", "serve", "--bind", "127.0.0.1", "--port", "0", "--file"])
            .arg(&file)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the cargo-boot binary runs");
        let stdout = collect_lines(child.stdout.take().unwrap());
        let stderr = collect_lines(child.stderr.take().unwrap());
        let mut serve = Serve { child, port: 0, stdout, stderr, _dir: dir, image };
        serve.port = serve.wait_for_port();
        serve
    }

    /// The port from the `listening on 127.0.0.1:<port>` line.
    fn wait_for_port(&mut self) -> u16 {
        let line = self.wait_for_line(|line| line.starts_with("listening on "));
        line.rsplit(':').next().unwrap().parse().expect("a port number")
    }

    /// Waits up to 20 s for a stdout line, and returns it.
    #[track_caller]
    fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for(|lines| lines.iter().find(|l| wanted(l)).cloned())
    }

    /// Waits up to 20 s until `found` finds something in the stdout lines.
    #[track_caller]
    fn wait_for<T>(&mut self, found: impl Fn(&[String]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(value) = found(&self.stdout.lock().unwrap()) {
                return value;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cargo boot serve exited ({status}):\n{}", self.output());
            }
            assert!(Instant::now() < deadline, "the output never came; so far:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> String {
        format!("{}\n{}", self.stdout.lock().unwrap().join("\n"), self.stderr.lock().unwrap().join("\n"))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server with a signal, as Ctrl-C does, and returns how it exited.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "Ctrl-C did not stop the server:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines in the background, so the server never blocks on a full pipe.
fn collect_lines(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// One HTTP response as curl saw it.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every response must say its length and must not be chunked.
    #[track_caller]
    fn assert_framed(&self) {
        assert!(self.header("Content-Length").is_some(), "no Content-Length: {:?}", self.headers);
        assert_eq!(self.header("Transfer-Encoding"), None, "chunked: {:?}", self.headers);
    }
}

/// Runs curl with a time limit; fails with the fix when curl is missing.
fn run_curl(args: &[&str]) -> Output {
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--max-time", "30"]).args(args);
    match command.output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run curl ({e}): these tests need curl; run scripts/setup.sh, which installs it"),
    }
}

/// `curl --path-as-is <args> <url>`, with the headers and body kept apart.
fn curl(url: &str, args: &[&str]) -> Reply {
    let dir = tempfile::tempdir().unwrap();
    let (headers, body) = (dir.path().join("headers"), dir.path().join("body"));
    let mut all = vec!["--path-as-is", "--dump-header", headers.to_str().unwrap(), "--output", body.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push(url);
    let output = run_curl(&all);
    assert!(output.status.success(), "curl {all:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    parse_reply(&std::fs::read_to_string(headers).unwrap(), std::fs::read(body).unwrap_or_default())
}

/// The last header block of a `--dump-header` file.
fn parse_reply(dump: &str, body: Vec<u8>) -> Reply {
    let block = dump.trim_end().rsplit("\r\n\r\n").next().unwrap();
    let mut lines = block.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Reply { status, headers, body }
}

/// A raw exchange for what curl cannot send: the bytes are written as given.
fn raw(addr: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn ranges_head_and_lengths_on_a_1_mib_file() {
    let serve = Serve::start(pattern(MIB), &[]);
    let url = serve.url("/update.bin");
    let full = curl(&url, &[]);
    assert_eq!(full.status, 200);
    full.assert_framed();
    assert_eq!(full.header("Content-Length"), Some("1048576"));
    assert_eq!(full.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(full.header("Accept-Ranges"), Some("bytes"));
    assert!(full.header("Last-Modified").is_some());
    assert_eq!(full.body, serve.image);

    for (range, start, end) in [
        ("0-99", 0, 100),
        ("500000-500999", 500_000, 501_000),
        ("-4096", MIB - 4096, MIB),
        ("1048000-", 1_048_000, MIB),
    ] {
        let part = curl(&url, &["--range", range]);
        assert_eq!(part.status, 206, "{range}");
        part.assert_framed();
        assert_eq!(part.header("Content-Range").unwrap(), format!("bytes {start}-{}/{MIB}", end - 1));
        assert_eq!(part.header("Content-Length").unwrap(), (end - start).to_string());
        assert_eq!(part.body, serve.image[start..end], "{range}");
    }

    let past = curl(&url, &["--range", "2000000-"]);
    assert_eq!(past.status, 416);
    past.assert_framed();
    assert_eq!(past.header("Content-Range"), Some("bytes */1048576"));

    let several = curl(&url, &["--range", "0-9,20-29"]);
    assert_eq!(several.status, 200, "several ranges are answered with the whole file");
    assert_eq!(several.body, serve.image);

    let head = curl(&url, &["--head"]);
    assert_eq!(head.status, 200);
    head.assert_framed();
    assert_eq!(head.header("Content-Length"), Some("1048576"));
    assert_eq!(head.header("ETag"), full.header("ETag"));
    let raw_head = raw(&serve.addr(), "HEAD /update.bin HTTP/1.0\r\n\r\n");
    assert!(raw_head.ends_with("\r\n\r\n"), "HEAD has no body: {raw_head}");
    assert!(raw_head.contains("Content-Length: 1048576\r\n"), "{raw_head}");

    let asks_for_chunks = curl(&url, &["--header", "TE: chunked"]);
    asks_for_chunks.assert_framed();
    assert_eq!(asks_for_chunks.body, serve.image);

    let old_client = raw(&serve.addr(), "GET /update.bin HTTP/1.0\r\n\r\n");
    assert!(old_client.starts_with("HTTP/1.0 200") && old_client.contains("Content-Length: 1048576\r\n"));
}

#[test]
fn manifest_describes_the_served_image() {
    let mut image = pattern(4096);
    image[..4].copy_from_slice(&0x96f3_b83du32.to_le_bytes());
    image[20..28].copy_from_slice(&[2, 1, 7, 0, 42, 0, 0, 0]);
    let serve = Serve::start(image.clone(), &[]);
    let reply = curl(&serve.url("/manifest.json"), &[]);
    assert_eq!(reply.status, 200);
    reply.assert_framed();
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    let manifest: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(manifest["version"], "2.1.7+42");
    assert_eq!(manifest["size"], 4096);
    assert_eq!(manifest["sha256"], sha256_hex(&image));
    assert_eq!(manifest["path"], "/update.bin");
    assert!(serve.output().contains("version 2.1.7+42"), "the banner shows the version:\n{}", serve.output());
}

#[test]
fn only_the_named_files_are_served() {
    let serve = Serve::start(pattern(1000), &[]);
    for path in [
        "/",
        "/index.html",
        "/firmware-v2.bin",
        "/secret.txt",
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%2fsecret.txt",
        "//update.bin",
        "/./update.bin",
        "/update.bin/..",
        "/update.bin/",
        "/update%2ebin",
        "/unknown?file=/update.bin",
    ] {
        let reply = curl(&serve.url(path), &[]);
        assert_eq!(reply.status, 404, "{path}");
        reply.assert_framed();
        assert!(!String::from_utf8_lossy(&reply.body).contains("not served"), "{path} leaked a file");
    }
    let absolute = curl(&serve.url("/"), &["--request-target", "http://127.0.0.1/update.bin"]);
    assert_eq!(absolute.status, 404, "absolute URLs are refused");
    let post = curl(&serve.url("/update.bin"), &["--request", "POST", "--data", "x"]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
    post.assert_framed();
    let with_query = curl(&serve.url("/update.bin?v=2"), &[]);
    assert_eq!((with_query.status, with_query.body.len()), (200, 1000), "a query string on a served name is ignored");
}

#[test]
fn etag_gives_304_and_if_range_refuses_a_stale_resume() {
    let serve = Serve::start(pattern(100_000), &[]);
    let url = serve.url("/update.bin");
    let etag = curl(&url, &["--head"]).header("ETag").unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&serve.image)), "a strong ETag: the SHA-256");
    let cached = curl(&url, &["--header", &format!("If-None-Match: {etag}")]);
    assert_eq!(cached.status, 304);
    cached.assert_framed();
    assert!(cached.body.is_empty());
    let changed = curl(&url, &["--header", "If-None-Match: \"something-else\""]);
    assert_eq!(changed.status, 200);

    let same = curl(&url, &["--range", "50000-", "--header", &format!("If-Range: {etag}")]);
    assert_eq!((same.status, same.body.len()), (206, 50_000));
    let stale = curl(&url, &["--range", "50000-", "--header", "If-Range: \"old-image\""]);
    assert_eq!((stale.status, stale.body.len()), (200, 100_000), "a resume of another image gets the whole new one");
}

#[test]
fn a_resumed_download_reassembles_byte_exact() {
    let serve = Serve::start(pattern(MIB), &[]);
    let url = serve.url("/update.bin");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("update.bin");
    std::fs::write(&file, &serve.image[..300_000]).unwrap();
    let resumed = run_curl(&["--continue-at", "-", "--output", file.to_str().unwrap(), &url]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(sha256_hex(&std::fs::read(&file).unwrap()), sha256_hex(&serve.image));

    let first = curl(&url, &["--range", "0-654320"]);
    let rest = curl(&url, &["--range", "654321-"]);
    assert_eq!((first.status, rest.status), (206, 206));
    assert_eq!([first.body, rest.body].concat(), serve.image);
}

#[test]
fn a_hundred_concurrent_downloads_are_all_byte_exact() {
    let mut serve = Serve::start(pattern(MIB), &[]);
    let url = serve.url("/update.bin");
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> =
        ["--parallel", "--parallel-immediate", "--parallel-max", "100", "--fail"].map(String::from).to_vec();
    let outputs: Vec<PathBuf> = (0..100).map(|i| dir.path().join(format!("download-{i}"))).collect();
    for output in &outputs {
        args.extend(["--output".to_string(), output.display().to_string(), url.clone()]);
    }
    let started = Instant::now();
    let result = run_curl(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let expected = sha256_hex(&serve.image);
    for output in &outputs {
        assert_eq!(sha256_hex(&std::fs::read(output).unwrap()), expected, "{}", output.display());
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    let logged =
        |lines: &[String]| lines.iter().filter(|l| l.contains("\"GET /update.bin\" 200 1048576 bytes")).count();
    serve.wait_for(|lines| (logged(lines) == 100).then_some(()));
}

/// Sends a complete request and then reads nothing: the server's writes stall.
fn stalled_reader(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /update.bin HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    stream
}

/// Downloads the whole image and checks it, within `limit`.
#[track_caller]
fn download_within(serve: &Serve, limit: Duration) {
    let started = Instant::now();
    let reply = curl(&serve.url("/update.bin"), &[]);
    assert_eq!(reply.status, 200);
    assert!(reply.body == serve.image, "the download is byte-exact");
    assert!(started.elapsed() < limit, "took {:?}, more than {limit:?}:\n{}", started.elapsed(), serve.output());
}

#[test]
fn stalled_clients_do_not_block_the_others() {
    // Timeouts far away: a silent connection, half a request and a device that reads
    // nothing hold no worker the others need.
    let serve = Serve::start(pattern(32 * MIB), &["--workers", "2", "--send-timeout", "120"]);
    let addr = serve.addr();
    let _silent = TcpStream::connect(&addr).unwrap();
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /update.bin HTTP/1.1\r\nHost: te").unwrap();
    let _reader = stalled_reader(&addr);
    std::thread::sleep(Duration::from_millis(300));
    download_within(&serve, Duration::from_secs(30));
}

#[test]
fn devices_that_read_nothing_are_dropped_after_the_send_timeout() {
    // More devices that read nothing than workers: each is dropped after 2 s without
    // progress, and a download still goes through.
    let mut serve = Serve::start(pattern(32 * MIB), &["--workers", "2", "--send-timeout", "2"]);
    let addr = serve.addr();
    let _readers: Vec<TcpStream> = (0..3).map(|_| stalled_reader(&addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    download_within(&serve, Duration::from_secs(30));
    serve.wait_for_line(|line| line.contains("download stopped") && line.contains("took no data for too long"));
}

#[test]
fn ctrl_c_stops_cleanly_with_connections_open() {
    let mut serve = Serve::start(pattern(1000), &[]);
    let _silent = TcpStream::connect(serve.addr()).unwrap();
    let mut half = TcpStream::connect(serve.addr()).unwrap();
    half.write_all(b"GET /update.bin HTTP/1.1\r\n").unwrap();
    assert_eq!(curl(&serve.url("/update.bin"), &[]).status, 200);
    let status = serve.interrupt();
    assert!(status.success(), "exit status {status}:\n{}", serve.output());
    assert!(serve.output().contains("stopped"), "{}", serve.output());
    assert!(TcpStream::connect(serve.addr()).is_err(), "the port is closed");
}

#[test]
fn a_port_in_use_names_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("update.bin");
    std::fs::write(&file, b"image").unwrap();
    let output = cargo_boot_serve(&["--file", file.to_str().unwrap(), "--bind", "127.0.0.1", "--port", &port]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("port {port} is in use: pass --port")), "{stderr}");
}

#[test]
fn a_missing_file_names_the_fix() {
    let output = cargo_boot_serve(&["--file", "no-such-image.bin", "--bind", "127.0.0.1", "--port", "0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot read the image to serve, no-such-image.bin"), "{stderr}");
    assert!(stderr.contains("check the path given to --file"), "{stderr}");
}

/// `cargo boot serve <args>` expected to exit at once (an error), within 20 s.
fn cargo_boot_serve(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-boot"))
        .args(["boot", "serve"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo boot serve {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
