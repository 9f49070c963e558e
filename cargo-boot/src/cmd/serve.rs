//! `cargo boot serve`: the update image and its manifest over HTTP, for devices to download.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use cargo_boot::cargo::Workspace;
use cargo_boot::pipeline::Project;
use cargo_boot::serve::{self, Artifacts, ServeConfig, ServeEvent, ServeHandle, Server, SourceWatch, UpdateImage};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::args::BuildArgs;

/// How often `--watch` looks at the sources.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Events waiting to be shown, at most.
const EVENT_BACKLOG: usize = 4096;

/// Serve the latest update image over HTTP for over-the-air tests.
///
/// Only /update.bin and /manifest.json are served, with Content-Length, byte ranges
/// (resumable downloads), ETag and Last-Modified; every other path is 404.
#[derive(clap::Args)]
pub struct Cmd {
    /// Serve this image file instead of the project's (nothing is built).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["no_build", "watch"])]
    file: Option<PathBuf>,
    /// Serve the last build's image without building first.
    #[arg(long)]
    no_build: bool,
    /// Rebuild and serve the new image whenever the package's sources change.
    #[arg(long)]
    watch: bool,
    /// Address to listen on; 0.0.0.0 (every interface) lets devices on the network reach it.
    #[arg(long, value_name = "ADDRESS", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on; 0 picks a free port (printed at start).
    #[arg(long, default_value_t = serve::DEFAULT_PORT)]
    port: u16,
    /// Threads answering requests: each download in progress holds one.
    #[arg(long, value_name = "N", default_value_t = serve::DEFAULT_WORKERS as u16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: u16,
    /// Drop a device that takes no data for this many seconds (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = serve::DEFAULT_SEND_TIMEOUT.as_secs())]
    send_timeout: u64,
    // Cargo's options come after the serve options, under their own heading.
    #[command(flatten)]
    build: BuildArgs,
}

impl Cmd {
    /// Builds (unless told not to), serves until Ctrl-C, and rebuilds on changes with `--watch`.
    pub fn run(self) -> anyhow::Result<()> {
        let image = self.image()?;
        let artifacts = Artifacts::load(&image)?;
        let workspace = self.watch.then(|| Workspace::load(&self.build.cargo.selection())).transpose()?;
        // Bounded: if the terminal cannot keep up, requests wait rather than memory grow.
        let (events, received) = mpsc::sync_channel(EVENT_BACKLOG);
        let view = std::thread::spawn(move || EventView::new().show_all(received));
        let server = Server::start(&self.config(), artifacts.clone(), move |event| {
            let _ = events.send(event);
        })?;
        print_banner(&image, &artifacts, server.addr());
        let handle = server.handle();
        let stop = handle.clone();
        ctrlc::set_handler(move || stop.stop()).context("cannot handle Ctrl-C")?;
        if let Some(workspace) = workspace {
            let args = self.build.clone();
            std::thread::spawn(move || watch(&args, &workspace.package_dir(), &handle));
        }
        let result = server.wait();
        let _ = view.join();
        result?;
        println!("stopped");
        Ok(())
    }

    fn config(&self) -> ServeConfig {
        ServeConfig {
            addr: SocketAddr::new(self.bind, self.port),
            workers: usize::from(self.workers),
            send_timeout: (self.send_timeout > 0).then(|| Duration::from_secs(self.send_timeout)),
        }
    }

    /// The file to serve: `--file`, the last build's image, or a new build's.
    fn image(&self) -> anyhow::Result<PathBuf> {
        if let Some(file) = &self.file {
            return Ok(file.clone());
        }
        let image = if self.no_build { last_build_image(&self.build)? } else { built_image(&self.build)? };
        Ok(announce(image))
    }
}

/// Builds, then picks the build's signed `update.bin`, else its app image.
fn built_image(args: &BuildArgs) -> anyhow::Result<UpdateImage> {
    let output = super::build::build(args)?;
    Ok(match output.update {
        Some(update) => UpdateImage::Signed(update),
        None => UpdateImage::Unsigned(output.application),
    })
}

/// The update image of the last build, without building.
// TODO(lead): an update.bin left by an older signed build would be served even if the
// project no longer signs; the build could record what it wrote.
fn last_build_image(args: &BuildArgs) -> anyhow::Result<UpdateImage> {
    let selection = args.cargo.selection();
    let project = Project::load(&selection)?;
    let name = project.workspace.binary_name(&selection)?;
    Ok(serve::update_image(&project.output_dir(), &name)?)
}

/// Warns when the image is not a signed `update.bin`, and returns its path.
fn announce(image: UpdateImage) -> PathBuf {
    if let UpdateImage::Unsigned(path) = &image {
        eprintln!(
            "warning: this build has no signed update.bin: serving the app image {} instead; \
             devices that check signatures will refuse it",
            path.display()
        );
    }
    image.path().to_path_buf()
}

/// What is served and where, and the manifest.
fn print_banner(image: &Path, artifacts: &Artifacts, addr: SocketAddr) {
    let manifest = artifacts.manifest();
    let version = manifest.version.as_deref().unwrap_or("none: not an MCUboot-format image");
    println!("Serving {}: {} bytes, version {version}", image.display(), manifest.size);
    println!("listening on {addr}");
    let urls = urls(addr);
    for (url, note) in &urls {
        println!("  {url}{}{note}", serve::IMAGE_PATH);
    }
    println!("manifest, {}{}:", urls[0].0, serve::MANIFEST_PATH);
    print!("{}", artifacts.manifest_json());
    println!("Press Ctrl-C to stop.");
}

/// Base URLs that reach `addr`, with a note on who can use each.
fn urls(addr: SocketAddr) -> Vec<(String, &'static str)> {
    let base = |ip: IpAddr| format!("http://{}", SocketAddr::new(ip, addr.port()));
    let qemu = (base(IpAddr::from([10, 0, 2, 2])), "  (from a QEMU guest with user networking)");
    let ip = addr.ip();
    if ip.is_loopback() {
        return vec![(base(ip), "  (this machine only)"), qemu];
    }
    if !ip.is_unspecified() {
        return vec![(base(ip), "")];
    }
    let loopback = if ip.is_ipv4() { IpAddr::from([127, 0, 0, 1]) } else { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) };
    let mut urls = vec![(base(loopback), "  (this machine)")];
    if let Some(lan) = lan_address() {
        urls.push((base(lan), "  (devices on this network)"));
    }
    urls.push(qemu);
    urls
}

/// This machine's address on its default route, if it has one.
fn lan_address() -> Option<IpAddr> {
    // Connecting a UDP socket sends nothing: it only chooses the outgoing interface.
    // 192.0.2.1 is TEST-NET-1 (RFC 5737), never a real host.
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// `--watch`: rebuilds when the sources have changed and then stayed still for a poll.
fn watch(args: &BuildArgs, package_dir: &Path, handle: &ServeHandle) {
    let mut sources = SourceWatch::new(package_dir);
    let mut pending = false;
    while !handle.is_stopped() {
        std::thread::sleep(WATCH_INTERVAL);
        if sources.changed() {
            pending = true;
        } else if pending {
            pending = false;
            rebuild(args, handle);
        }
    }
}

/// Rebuilds and serves the new image; on failure keeps serving the old one.
fn rebuild(args: &BuildArgs, handle: &ServeHandle) {
    eprintln!("sources changed: rebuilding");
    let loaded = built_image(args).and_then(|image| Ok(Artifacts::load(&announce(image))?));
    match loaded {
        Ok(artifacts) => handle.reload(artifacts),
        Err(err) => eprintln!("error: the rebuild failed, still serving the previous image: {err:#}"),
    }
}

/// Shows the server's events: a log line per request, a progress bar per download.
struct EventView {
    /// Progress bars, only when both stdout and stderr are terminals.
    bars: Option<MultiProgress>,
    downloads: HashMap<u64, ProgressBar>,
}

impl EventView {
    fn new() -> EventView {
        let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        EventView { bars: interactive.then(MultiProgress::new), downloads: HashMap::new() }
    }

    /// Shows events until the server has stopped.
    fn show_all(mut self, events: mpsc::Receiver<ServeEvent>) {
        for event in events {
            self.show(event);
        }
    }

    fn show(&mut self, event: ServeEvent) {
        match event {
            ServeEvent::Request { peer, method, path, status, bytes, elapsed, .. } => {
                self.line(format!("{} \"{method} {path}\" {status} {bytes} bytes {elapsed:.1?}", peer_text(peer)));
            }
            ServeEvent::DownloadStarted { id, peer, offset, total } => self.start_bar(id, peer, offset, total),
            ServeEvent::DownloadProgress { id, sent, .. } => {
                if let Some(bar) = self.downloads.get(&id) {
                    bar.set_position(sent);
                }
            }
            ServeEvent::DownloadDone { id, .. } => self.finish_bar(id),
            ServeEvent::DownloadAborted { id, peer, sent, total, reason } => {
                self.finish_bar(id);
                self.line(format!("{}: download stopped after {sent} of {total} bytes: {reason}", peer_text(peer)));
            }
            ServeEvent::Reloaded { version, size, sha256 } => {
                let version = version.unwrap_or_else(|| "none".into());
                self.line(format!("reloaded: now serving {size} bytes, version {version}, sha256 {sha256}"));
            }
            ServeEvent::Failed { message } => self.line(format!("error: {message}")),
        }
    }

    fn start_bar(&mut self, id: u64, peer: Option<SocketAddr>, offset: u64, total: u64) {
        let Some(multi) = &self.bars else {
            return;
        };
        let style = ProgressStyle::with_template("{prefix:>21} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .expect("valid template")
            .progress_chars("=> ");
        let bar = multi.add(ProgressBar::new(total).with_style(style).with_prefix(peer_text(peer)));
        if offset > 0 {
            bar.set_message(format!("(resumed at {offset})"));
        }
        self.downloads.insert(id, bar);
    }

    fn finish_bar(&mut self, id: u64) {
        if let Some(bar) = self.downloads.remove(&id) {
            bar.finish_and_clear();
        }
    }

    /// A log line, above the progress bars when there are any.
    fn line(&self, text: String) {
        match &self.bars {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => println!("{text}"),
        }
    }
}

fn peer_text(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "-".to_string(), |peer| peer.to_string())
}
