//! The over-the-air update of the Mbed OS 5.5 blog post, end to end, with the real
//! `cargo-boot` binary, real cargo and QEMU: the example project is built as version
//! 1.0.0 and as version 1.1.0, `cargo boot serve` serves the new `update.bin`, and
//! version 1.0.0 runs on the virtual board with a LAN9118 network card, downloads the
//! update over HTTP, resets, and the secure bootloader installs it.
//!
//! The guest reaches the host's 127.0.0.1 through QEMU's user network at 10.0.2.2. A
//! small proxy in this test sits between the guest and `cargo boot serve`: it can cut a
//! download half-way (the device resumes with `Range`) and it logs the requests.
//!
//! Needs qemu-system-arm and a Cortex-M toolchain: run `scripts/setup.sh` first.
//! Nothing is skipped when a tool is missing: the test fails and says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const CARGO_BOOT: &str = env!("CARGO_BIN_EXE_cargo-boot");
/// The longest a build may take (the first one builds `core` and the bootloader).
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// The board's own limit for one run (`cargo boot run --timeout`), and ours on top.
const RUN_SECONDS: u64 = 120;
/// How long `cargo boot serve` may take to say where it listens.
const SERVE_START: Duration = Duration::from_secs(30);
/// Socket time-outs in the proxy.
const PROXY_IO: Duration = Duration::from_secs(30);
const MESSAGE_V1: &str = "message A: the first firmware";
const MESSAGE_V2: &str = "message B: the updated firmware";

/// Everything the scenarios share: the directories, the proxy, and the built images.
struct Setup {
    root: PathBuf,
    proxy: Proxy,
    /// The example project as version 1.0.0, built and run by each scenario.
    v1: PathBuf,
    /// `update.bin` of version 1.1.0.
    v2_update: Vec<u8>,
}

/// The shared set-up, once; and a lock, because the scenarios share the proxy's port
/// (compiled into the app) and the build output directory.
fn setup() -> (&'static Setup, MutexGuard<'static, ()>) {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    (SETUP.get_or_init(prepare), guard)
}

fn prepare() -> Setup {
    check_tools();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-ota");
    let work = root.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(root.join("home")).unwrap();
    let proxy = Proxy::start();
    let v2 = copy_example(&work.join("v2"), "1.1.0");
    let started = Instant::now();
    let mut build = cargo_boot(&root, &v2, MESSAGE_V2, proxy.port);
    build.args(["build", "--target-dir"]).arg(root.join("target"));
    let build = run(&mut build, BUILD_TIMEOUT);
    assert!(build.success, "building version 1.1.0 failed:\n{}", build.all());
    eprintln!("build of version 1.1.0: {:.1} s", started.elapsed().as_secs_f64());
    // Every build writes the same output directory: keep this image before v1's build.
    let v2_update = std::fs::read(root.join("target/boot/debug/update.bin")).unwrap();
    let v1 = copy_example(&work.join("v1"), "1.0.0");
    Setup { root, proxy, v1, v2_update }
}

/// Fails with the fix when QEMU is missing.
fn check_tools() {
    let found = Command::new("qemu-system-arm").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "`qemu-system-arm` is missing: run scripts/setup.sh (it installs QEMU and a Cortex-M toolchain)");
}

/// A copy of `example-project` at `dir` with `version`, its path dependencies pointing
/// at this repository's crates.
fn copy_example(dir: &Path, version: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-project");
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boot-templates").canonicalize().unwrap();
    for entry in ["Cargo.lock", "build.rs", "src", ".cargo"] {
        copy_tree(&source.join(entry), &dir.join(entry));
    }
    let manifest = std::fs::read_to_string(source.join("Cargo.toml")).unwrap();
    let manifest = manifest
        .replace("path = \"../boot-templates/", &format!("path = \"{}/", crates.display()))
        .replacen("version = \"1.0.0\"", &format!("version = \"{version}\""), 1);
    assert!(manifest.contains(&format!("version = \"{version}\"")), "the example's version line moved:\n{manifest}");
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir.to_path_buf()
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else if from.exists() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// `cargo boot` in `dir`, with the shared target directory and home, and the demo's
/// build settings.
fn cargo_boot(root: &Path, dir: &Path, message: &str, port: u16) -> Command {
    let mut command = Command::new(CARGO_BOOT);
    command
        .current_dir(dir)
        .arg("boot")
        .env("CARGO_BOOT_HOME", root.join("home"))
        .env("DEMO_MESSAGE", message)
        .env("DEMO_SERVER_PORT", port.to_string())
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// What a process printed, and how it ended.
struct Finished {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Runs `command` to its end, killing it after `limit`.
fn run(command: &mut Command, limit: Duration) -> Finished {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cargo-boot starts");
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    let Some(status) = status else {
        panic!("{command:?} did not end within {} s:\n--- stdout\n{stdout}\n--- stderr\n{stderr}", limit.as_secs());
    };
    Finished { success: status.success(), code: status.code(), stdout, stderr }
}

fn collect(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `cargo boot run` of version 1.0.0 with a network card, against whatever the proxy
/// forwards to.
fn run_v1(setup: &Setup) -> Finished {
    let started = Instant::now();
    let mut command = cargo_boot(&setup.root, &setup.v1, MESSAGE_V1, setup.proxy.port);
    let target_dir = setup.root.join("target");
    command.args(["run", "--nic", "user,model=lan9118", "--timeout", &RUN_SECONDS.to_string(), "--target-dir"]);
    command.arg(target_dir);
    let finished = run(&mut command, BUILD_TIMEOUT + Duration::from_secs(RUN_SECONDS + 30));
    eprintln!("cargo boot run (build and run of version 1.0.0): {:.1} s", started.elapsed().as_secs_f64());
    finished
}

/// `cargo boot serve --file <image> --port 0 --bind 127.0.0.1`, stopped when dropped.
struct Serve {
    child: Child,
    port: u16,
}

impl Serve {
    fn start(root: &Path, image: &[u8], name: &str) -> Serve {
        let file = root.join("work").join(name);
        std::fs::write(&file, image).unwrap();
        let mut child = Command::new(CARGO_BOOT)
            .args(["boot", "serve", "--file"])
            .arg(&file)
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .env("CARGO_BOOT_HOME", root.join("home"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cargo boot serve starts");
        let lines = lines_of(child.stdout.take().unwrap());
        let port = wait_for_port(&lines, &mut child);
        Serve { child, port }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Reads `listening on 127.0.0.1:<port>` from the server's output.
fn wait_for_port(lines: &Receiver<String>, child: &mut Child) -> u16 {
    let deadline = Instant::now() + SERVE_START;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = lines.recv_timeout(left) else { break };
        if let Some(address) = line.strip_prefix("listening on ") {
            return address.rsplit(':').next().unwrap().trim().parse().unwrap();
        }
        seen.push(line);
    }
    let _ = child.kill();
    panic!("cargo boot serve did not say where it listens within {} s:\n{}", SERVE_START.as_secs(), seen.join("\n"));
}

/// What the proxy does with the next connections.
#[derive(Default)]
struct ProxyState {
    /// Where `cargo boot serve` listens.
    upstream: u16,
    /// Close the next `/update.bin` response after this many bytes (then forget it).
    cut_next_image_after: Option<usize>,
    /// Each request's first line and `Range` header.
    requests: Vec<String>,
}

/// A TCP proxy on 127.0.0.1 in front of `cargo boot serve`, one thread per connection.
struct Proxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let state = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = forward(client, &state);
                });
            }
        });
        Proxy { port, state }
    }

    /// Forwards to `upstream` from now on, cutting the next image download if asked.
    fn route(&self, upstream: u16, cut_next_image_after: Option<usize>) {
        let mut state = self.state.lock().unwrap();
        *state = ProxyState { upstream, cut_next_image_after, requests: Vec::new() };
    }

    fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// One connection: the request upstream, the response back (cut if the state says so).
fn forward(mut client: TcpStream, state: &Mutex<ProxyState>) -> std::io::Result<()> {
    client.set_read_timeout(Some(PROXY_IO))?;
    let request = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&request).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    let range = text.lines().find(|l| l.to_ascii_lowercase().starts_with("range:")).map(str::to_string);
    let (upstream, cut) = {
        let mut state = state.lock().unwrap();
        state.requests.push(range.map_or(first.clone(), |range| format!("{first} | {range}")));
        let cut = if first.starts_with("GET /update.bin") { state.cut_next_image_after.take() } else { None };
        (state.upstream, cut)
    };
    let mut server = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    server.set_read_timeout(Some(PROXY_IO))?;
    server.write_all(&request)?;
    let mut limit = cut.unwrap_or(usize::MAX);
    let mut buf = [0u8; 4096];
    while limit > 0 {
        let n = server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let n = n.min(limit);
        client.write_all(&buf[..n])?;
        limit -= n;
    }
    client.shutdown(Shutdown::Both)
}

/// The request header, up to its blank line.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// Asserts that `lines` appear in `console` in this order.
fn assert_in_order(console: &str, lines: &[&str]) {
    let mut from = 0;
    for line in lines {
        match console[from..].find(line) {
            Some(at) => from += at + line.len(),
            None => panic!("expected {line:?} (after what came before) in the console:\n{console}"),
        }
    }
}

#[test]
fn v1_downloads_v2_resumes_after_a_cut_and_the_bootloader_installs_it() {
    let (setup, _lock) = setup();
    let serve = Serve::start(&setup.root, &setup.v2_update, "v2-update.bin");
    let half = setup.v2_update.len() / 2;
    setup.proxy.route(serve.port, Some(half));
    let finished = run_v1(setup);
    let console = &finished.stdout;
    assert!(finished.success, "the run failed:\n{}", finished.all());
    eprintln!("--- the board's console\n{console}");
    assert_in_order(
        console,
        &[
            "[boot] booting v1.0.0",
            &format!("version 1.0.0: {MESSAGE_V1}"),
            "network up: 10.0.2.15",
            "version 1.1.0 is available",
            "connection lost after",
            "resuming: GET with Range: bytes=",
            "100% (",
            "verified and marked pending: resetting",
            "[boot] swapped to v1.1.0 on trial",
            &format!("version 1.1.0: {MESSAGE_V2}"),
            "update confirmed: version 1.1.0 stays installed",
            "the server has version 1.1.0: up to date",
        ],
    );
    let requests = setup.proxy.requests();
    let resumed = requests.iter().find_map(|r| r.split("Range: bytes=").nth(1)).expect("a Range request");
    let offset: usize = resumed.trim_end_matches('-').parse().unwrap();
    assert!(offset > 0 && offset <= half, "resumed at {offset}, cut at {half}: {requests:?}");
    assert_eq!(requests.iter().filter(|r| r.starts_with("GET /update.bin")).count(), 2, "{requests:?}");
}

#[test]
fn a_corrupted_update_is_refused_by_the_client_and_v1_keeps_running() {
    let (setup, _lock) = setup();
    let mut corrupted = setup.v2_update.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x20;
    let serve = Serve::start(&setup.root, &corrupted, "corrupted-update.bin");
    setup.proxy.route(serve.port, None);
    let finished = run_v1(setup);
    let console = &finished.stdout;
    assert_eq!(finished.code, Some(1), "the app reports the refusal:\n{}", finished.all());
    assert_in_order(
        console,
        &[
            &format!("version 1.0.0: {MESSAGE_V1}"),
            "version 1.1.0 is available",
            "update failed: update refused: the image's SHA-256 does not match its hash TLV",
            "still running version 1.0.0",
        ],
    );
    assert!(!console.contains("[boot] swapped"), "nothing may be installed:\n{console}");
    assert_eq!(console.matches("[boot] booting v1.0.0").count(), 1, "no reset:\n{console}");
}

#[test]
fn a_bad_signature_is_refused_by_the_bootloader_and_not_downloaded_again() {
    let (setup, _lock) = setup();
    // The signature is the image's last TLV: the hash still matches, the client (which
    // has no key) accepts it, and the bootloader refuses it.
    let mut forged = setup.v2_update.clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x01;
    let serve = Serve::start(&setup.root, &forged, "forged-update.bin");
    setup.proxy.route(serve.port, None);
    let finished = run_v1(setup);
    let console = &finished.stdout;
    assert_eq!(finished.code, Some(1), "the app reports the refusal:\n{}", finished.all());
    assert_in_order(
        console,
        &[
            &format!("version 1.0.0: {MESSAGE_V1}"),
            "verified and marked pending: resetting",
            "[boot] refused candidate: bad signature; booting v1.0.0",
            &format!("version 1.0.0: {MESSAGE_V1}"),
            "the bootloader refused the last update: the image's signature does not verify",
            "not downloading version 1.1.0 again: the bootloader refused it",
        ],
    );
    let downloads = setup.proxy.requests().iter().filter(|r| r.starts_with("GET /update.bin")).count();
    assert_eq!(downloads, 1, "downloaded once, not in a loop");
}
