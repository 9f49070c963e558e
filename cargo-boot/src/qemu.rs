//! Running images on the virtual boards in QEMU.
//!
//! A virtual board is a QEMU machine (`[qemu]` in its board file) whose SSRAM1, at
//! address 0, stands in for flash. QEMU rewrites images given with `-kernel` or
//! `-device loader` at every reset, which would undo any update the bootloader
//! installs. So the runner programs the flash the way a debug probe does: QEMU starts
//! halted with its gdb stub on a local port, the runner writes the whole flash with
//! memory-write packets, resets the machine (the CPU then boots from the vector table at
//! address 0) and lets it run. From then on only the guest changes the flash, and a
//! reset (`SYSRESETREQ`) keeps it.
//!
//! The console (UART0, and semihosting output) is streamed line by line to a callback,
//! which can stop the run. A run ends when the guest exits through semihosting (its
//! status is the run's), when the callback says stop, or at the timeout. With
//! [`RunOptions::save_flash`], the flash is written to a file when the run ends, so the
//! next run can start where this one stopped (see [`traps`] for the semihosting exit).
//! QEMU never outlives the run: it is killed on every path out, errors included.

mod rsp;
mod traps;

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::board::{Board, QemuInfo};
use crate::elf::FlatImage;
use crate::error::Result;
use crate::fsutil;
use rsp::{GdbClient, Registers, Stop};
use traps::{ExitTraps, Trap};

/// The QEMU program for the Arm machines.
pub const QEMU_PROGRAM: &str = "qemu-system-arm";
/// How long QEMU may take to open its gdb port.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long QEMU may take to exit once the guest asked it to, or to stop when asked.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the run loop looks at the console, the clock and the gdb stub.
const POLL: Duration = Duration::from_millis(20);
/// Console lines kept for error messages.
const LAST_LINES: usize = 5;
/// Ports tried when another program takes the chosen one first.
const PORT_ATTEMPTS: usize = 3;

/// Errors running QEMU.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{0} is not a virtual board: `cargo boot run` needs a board with a [qemu] section, such as qemu-an386")]
    NotVirtual(String),
    #[error("`{program}` was not found on PATH: install QEMU (`apt-get install qemu-system-arm` on Debian and Ubuntu, `brew install qemu` on macOS) or run scripts/setup.sh")]
    NotInstalled { program: String },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("QEMU did not start ({status}): {stderr}")]
    DidNotStart { status: String, stderr: String },
    #[error("QEMU did not open its gdb port within {seconds} s: is the machine overloaded? QEMU said: {stderr}")]
    NoGdbPort { seconds: u64, stderr: String },
    #[error("the gdb connection to QEMU failed while {doing}: {source}")]
    Gdb {
        doing: String,
        #[source]
        source: io::Error,
    },
    #[error("the flash contents are {size} bytes, but the flash of {board} is {expected} bytes: pass the whole flash, from its base")]
    FlashSize { size: usize, expected: u32, board: String },
    #[error("the image at {start:#010x}-{end:#010x} does not fit the flash of {board} ({flash_start:#010x}-{flash_end:#010x}): build it for this board")]
    ImageOutsideFlash { start: u64, end: u64, board: String, flash_start: u32, flash_end: u64 },
    #[error("the board was still running after {seconds} s: {cpu}. Last console output:\n{last_output}\nRaise the timeout if the app needs longer; an app that is done ends the run with a semihosting exit (`cortex_m_semihosting::debug::exit`)")]
    Timeout { seconds: f64, cpu: String, last_output: String },
    #[error("QEMU ended without an exit status ({status}){stderr}")]
    Killed { status: String, stderr: String },
}

/// How to run a board.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The whole flash at power-on: `flash.size` bytes from the board's flash base
    /// (see [`flash_with_image`]).
    pub flash: Vec<u8>,
    /// Where to write the whole flash when the run ends.
    pub save_flash: Option<PathBuf>,
    /// Vector tables whose reset handlers start a boot stage, usually the bootloader's
    /// (the flash base) and the app's (`layout.app_start`). With `save_flash`, the runner
    /// looks for semihosting exits again whenever one starts (see [`traps`]).
    pub boot_stages: Vec<u32>,
    /// End the run (with [`QemuError::Timeout`]) after this long.
    pub timeout: Option<Duration>,
    /// A `-nic` option value per network card, such as `user,model=lan9118`; none:
    /// QEMU's default.
    pub nics: Vec<String>,
    /// More QEMU arguments, appended to the command line as they are (such as
    /// `-icount`, `shift=0` to count instructions on the virtual clock).
    pub extra_args: Vec<String>,
    /// Set it to end the run as [`Control::Stop`] does (from a Ctrl-C handler, say).
    /// With a flag, QEMU runs in its own process group, so that the terminal's Ctrl-C
    /// reaches only the caller, which then ends the run in order (flash saved).
    pub stop: Option<Arc<AtomicBool>>,
}

/// What the console callback wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep running.
    Continue,
    /// End the run now.
    Stop,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The guest exited through semihosting with this status.
    Exited { code: i32 },
    /// The console callback or the stop flag ended the run.
    Stopped,
}

/// What was written to [`RunOptions::save_flash`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedFlash {
    /// No file was asked for.
    NotRequested,
    /// The flash as the run left it.
    Final(PathBuf),
    /// The guest exited through a semihosting call that appeared after the last boot
    /// stage started (or one in RAM): the file holds the flash as of that start.
    AsOfLastBootStage(PathBuf),
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// How it ended.
    pub end: RunEnd,
    /// What happened to the flash file.
    pub saved_flash: SavedFlash,
}

/// The board's whole flash, erased, with `image` programmed into it.
pub fn flash_with_image(board: &Board, image: &FlatImage) -> Result<Vec<u8>, QemuError> {
    let mut flash = vec![board.flash.erased_value; board.flash.size as usize];
    let start = u64::from(image.base);
    let outside = QemuError::ImageOutsideFlash {
        start,
        end: image.end(),
        board: board.name.clone(),
        flash_start: board.flash.base,
        flash_end: u64::from(board.flash_end()),
    };
    let Some(offset) = image.base.checked_sub(board.flash.base) else { return Err(outside) };
    let Some(slot) = flash.get_mut(offset as usize..offset as usize + image.bytes.len()) else { return Err(outside) };
    slot.copy_from_slice(&image.bytes);
    Ok(flash)
}

/// Runs a virtual board until the guest exits, `on_line` returns [`Control::Stop`], or
/// the timeout. Every console line goes to `on_line`, without its line ending.
pub fn run(board: &Board, options: &RunOptions, on_line: &mut dyn FnMut(&str) -> Control) -> Result<RunReport> {
    let info = board.qemu.as_ref().ok_or_else(|| QemuError::NotVirtual(board.name.clone()))?;
    if options.flash.len() != board.flash.size as usize {
        let (size, expected) = (options.flash.len(), board.flash.size);
        return Err(QemuError::FlashSize { size, expected, board: board.name.clone() }.into());
    }
    let program = which::which(QEMU_PROGRAM).map_err(|_| QemuError::NotInstalled { program: QEMU_PROGRAM.into() })?;
    let (qemu, gdb) = start(&program, info, options)?;
    let mut session = Session::new(qemu, gdb, board, options);
    session.program()?;
    let deadline = options.timeout.map(|t| Instant::now() + t);
    session.run(deadline, on_line)
}

/// The QEMU command line for a machine, with the gdb stub on `port` and the CPU halted,
/// a `-nic` per entry of `nics`, then `extra` as it is.
pub fn qemu_args(info: &QemuInfo, gdb_port: u16, nics: &[String], extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-machine",
        &info.machine,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-semihosting-config",
        "enable=on,target=native",
        "-S",
        "-gdb",
        &format!("tcp:{}:{gdb_port}", Ipv4Addr::LOCALHOST),
    ]
    .map(String::from)
    .to_vec();
    for nic in nics {
        args.extend(["-nic".to_string(), nic.clone()]);
    }
    args.extend(extra.iter().cloned());
    args
}

/// Starts QEMU and connects to its gdb stub, with another port if the first is taken.
fn start(program: &Path, info: &QemuInfo, options: &RunOptions) -> Result<(Qemu, GdbClient), QemuError> {
    let mut attempt = 1;
    let group = if options.stop.is_some() { ProcessGroup::Own } else { ProcessGroup::Callers };
    loop {
        let port = free_port().map_err(|source| QemuError::Gdb { doing: "choosing a local port".into(), source })?;
        let mut qemu = Qemu::spawn(program, &qemu_args(info, port, &options.nics, &options.extra_args), group)?;
        match qemu.connect(port) {
            Err(QemuError::DidNotStart { stderr, .. }) if port_taken(&stderr) && attempt < PORT_ATTEMPTS => {
                attempt += 1
            }
            other => return other.map(|gdb| (qemu, gdb)),
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (QEMU binds it a moment later).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn port_taken(stderr: &str) -> bool {
    stderr.contains("Address already in use") || stderr.contains("Failed to bind")
}

/// Which process group QEMU runs in, and so who gets the terminal's Ctrl-C.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessGroup {
    /// The caller's: Ctrl-C ends QEMU at once, with the caller.
    Callers,
    /// Its own: the caller handles Ctrl-C and ends the run.
    Own,
}

/// A running QEMU process: killed and reaped when dropped.
struct Qemu {
    child: Child,
    /// Kept open: QEMU's serial port reads it.
    _stdin: Option<ChildStdin>,
    /// Console lines from QEMU's stdout.
    lines: Receiver<String>,
    /// Everything QEMU wrote to stderr.
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Qemu {
    fn spawn(program: &Path, args: &[String], group: ProcessGroup) -> Result<Qemu, QemuError> {
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        #[cfg(unix)]
        if group == ProcessGroup::Own {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        #[cfg(not(unix))]
        let _ = group;
        let mut child =
            command.spawn().map_err(|source| QemuError::Spawn { program: program.display().to_string(), source })?;
        let (sender, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdout_reader = std::thread::spawn(move || {
            for_each_line(stdout, |line| {
                let _ = sender.send(line);
            })
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let child_stderr = child.stderr.take().expect("stderr is piped");
        let stderr_reader = std::thread::spawn(move || {
            for_each_line(child_stderr, |line| {
                let mut text = sink.lock().expect("no panics while holding the lock");
                text.push_str(&line);
                text.push('\n');
            })
        });
        let stdin = child.stdin.take();
        Ok(Qemu { child, _stdin: stdin, lines, stderr, readers: vec![stdout_reader, stderr_reader] })
    }

    /// Connects to the gdb stub on `port`, waiting until QEMU listens.
    fn connect(&mut self, port: u16) -> Result<GdbClient, QemuError> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.join_readers();
                return Err(QemuError::DidNotStart { status: status.to_string(), stderr: self.stderr_text() });
            }
            if let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
                return GdbClient::new(stream)
                    .map_err(|source| QemuError::Gdb { doing: "connecting to the gdb stub".into(), source });
            }
            if Instant::now() > deadline {
                return Err(QemuError::NoGdbPort { seconds: START_TIMEOUT.as_secs(), stderr: self.stderr_text() });
            }
            std::thread::sleep(POLL);
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|text| text.trim().to_string()).unwrap_or_default()
    }

    /// Waits for QEMU to exit by itself, killing it after `EXIT_TIMEOUT`.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill()
    }

    fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap_or_else(|_| ExitStatus::default())
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill();
        }
    }
}

/// Calls `f` with each line `reader` yields, without its line ending, then with the
/// last unterminated line, if any.
fn for_each_line(reader: impl Read, mut f: impl FnMut(String)) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        f(String::from_utf8_lossy(&line).into_owned());
        line.clear();
    }
}

/// One run: the process, its gdb connection and what the run has seen.
struct Session<'a> {
    qemu: Qemu,
    gdb: GdbClient,
    board: &'a Board,
    options: &'a RunOptions,
    /// Set when the flash is to be saved.
    traps: Option<ExitTraps>,
    /// The flash as of the last time the traps looked at it.
    last_scan: Vec<u8>,
    /// True until the CPU first stops: no code has run since `last_scan`.
    scan_is_current: bool,
    saved_flash: SavedFlash,
    last_lines: VecDeque<String>,
}

impl<'a> Session<'a> {
    fn new(qemu: Qemu, gdb: GdbClient, board: &'a Board, options: &'a RunOptions) -> Session<'a> {
        let traps = options.save_flash.as_ref().map(|_| ExitTraps::new(board.flash.base, &options.boot_stages));
        let saved_flash = SavedFlash::NotRequested;
        let last_scan = Vec::new();
        let last_lines = VecDeque::new();
        Session { qemu, gdb, board, options, traps, last_scan, scan_is_current: false, saved_flash, last_lines }
    }

    /// Writes the flash, resets the machine so that it boots from it, and sets the traps.
    fn program(&mut self) -> Result<()> {
        let (base, flash) = (self.board.flash.base, &self.options.flash);
        self.gdb.write_memory(base, flash).map_err(gdb_error("programming the flash"))?;
        self.gdb.monitor("system_reset").map_err(gdb_error("resetting the board"))?;
        self.wait_for_reset()?;
        if let Some(exit_traps) = &mut self.traps {
            exit_traps.arm(&mut self.gdb, flash).map_err(gdb_error("setting breakpoints"))?;
            self.last_scan = flash.clone();
            self.scan_is_current = true;
        }
        Ok(())
    }

    /// QEMU resets the machine asynchronously: waits until the CPU sits on the reset
    /// handler of the programmed vector table.
    fn wait_for_reset(&mut self) -> Result<()> {
        let base = self.board.flash.base;
        let Some(handler) = traps::reset_handler(&self.options.flash, base, base) else { return Ok(()) };
        for _ in 0..50 {
            let pc = self.gdb.registers().map_err(gdb_error("reading the registers after the reset"))?.pc();
            if pc == handler {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let source = io::Error::other(format!("the CPU did not reach the reset handler at {handler:#010x}"));
        Err(QemuError::Gdb { doing: "resetting the board".into(), source }.into())
    }

    /// Lets the board run and handles what happens until the run ends.
    fn run(mut self, deadline: Option<Instant>, on_line: &mut dyn FnMut(&str) -> Control) -> Result<RunReport> {
        self.gdb.resume().map_err(gdb_error("starting the board"))?;
        loop {
            while let Ok(line) = self.qemu.lines.try_recv() {
                if self.show(&line, on_line) == Control::Stop {
                    return self.stop(Ending::Stopped, on_line);
                }
            }
            if self.options.stop.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                return self.stop(Ending::Stopped, on_line);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.stop(Ending::Timeout, on_line);
            }
            let exiting = match self.gdb.receive(Some(POLL)) {
                Ok(Some(packet)) => match rsp::parse_stop(&packet) {
                    Some(Stop::Signal(_)) => self.on_breakpoint()? == Running::Exiting,
                    Some(Stop::Exited(_) | Stop::Terminated(_)) => true,
                    None => false,
                },
                Ok(None) => false,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
                Err(source) => return Err(QemuError::Gdb { doing: "running the board".into(), source }.into()),
            };
            if exiting {
                return self.finish_exit(on_line);
            }
        }
    }

    /// Passes a console line on and remembers it for error messages.
    fn show(&mut self, line: &str, on_line: &mut dyn FnMut(&str) -> Control) -> Control {
        if self.last_lines.len() == LAST_LINES {
            self.last_lines.pop_front();
        }
        self.last_lines.push_back(line.to_string());
        on_line(line)
    }

    /// Handles a stop at a breakpoint: rearms the traps when a boot stage starts, saves
    /// the flash before a semihosting exit, and lets the CPU go on.
    fn on_breakpoint(&mut self) -> Result<Running> {
        let registers = self.gdb.registers().map_err(gdb_error("reading the registers"))?;
        let scan_is_current = std::mem::take(&mut self.scan_is_current);
        let Some(exit_traps) = &self.traps else {
            self.gdb.resume().map_err(gdb_error("resuming the board"))?;
            return Ok(Running::Yes);
        };
        match exit_traps.at(registers.pc()) {
            Some(Trap::BootStage) if !scan_is_current => self.rearm()?,
            Some(Trap::SemihostingCall) => {
                let instruction = self.gdb.read_memory(registers.pc(), 2).map_err(gdb_error("reading code"))?;
                if traps::is_exit_call(&registers, &instruction) {
                    let flash = self.read_flash()?;
                    self.save_flash(&flash, SavedFlash::Final)?;
                }
            }
            Some(Trap::BootStage) | None => {}
        }
        self.step_and_resume()
    }

    /// Reads the flash and points the traps at what is in it now.
    fn rearm(&mut self) -> Result<()> {
        let flash = self.read_flash()?;
        if let Some(exit_traps) = &mut self.traps {
            exit_traps.arm(&mut self.gdb, &flash).map_err(gdb_error("setting breakpoints"))?;
        }
        self.last_scan = flash;
        Ok(())
    }

    /// Steps over the instruction under a breakpoint (continuing would stop on it
    /// again), then lets the CPU run.
    fn step_and_resume(&mut self) -> Result<Running> {
        match self.gdb.step().map_err(gdb_error("stepping over a breakpoint"))? {
            Stop::Signal(_) => {
                self.gdb.resume().map_err(gdb_error("resuming the board"))?;
                Ok(Running::Yes)
            }
            Stop::Exited(_) | Stop::Terminated(_) => Ok(Running::Exiting),
        }
    }

    fn read_flash(&mut self) -> Result<Vec<u8>> {
        let (base, size) = (self.board.flash.base, self.board.flash.size as usize);
        Ok(self.gdb.read_memory(base, size).map_err(gdb_error("reading the flash"))?)
    }

    fn save_flash(&mut self, flash: &[u8], kind: fn(PathBuf) -> SavedFlash) -> Result<()> {
        if let Some(path) = &self.options.save_flash {
            fsutil::write_atomic(path, flash)?;
            self.saved_flash = kind(path.clone());
        }
        Ok(())
    }

    /// QEMU is exiting because the guest asked it to: collects its status and the rest
    /// of the console.
    fn finish_exit(mut self, on_line: &mut dyn FnMut(&str) -> Control) -> Result<RunReport> {
        let status = self.qemu.wait();
        self.drain_console(on_line);
        if self.options.save_flash.is_some() && self.saved_flash == SavedFlash::NotRequested {
            let flash = std::mem::take(&mut self.last_scan);
            self.save_flash(&flash, SavedFlash::AsOfLastBootStage)?;
        }
        let Some(code) = status.code() else {
            let stderr = self.qemu.stderr_text();
            let stderr = if stderr.is_empty() { String::new() } else { format!(": {stderr}") };
            return Err(QemuError::Killed { status: status.to_string(), stderr }.into());
        };
        Ok(RunReport { end: RunEnd::Exited { code }, saved_flash: self.saved_flash })
    }

    /// Ends the run from this side: halts the CPU, saves the flash, stops QEMU.
    fn stop(mut self, ending: Ending, on_line: &mut dyn FnMut(&str) -> Control) -> Result<RunReport> {
        self.gdb.interrupt().map_err(gdb_error("stopping the board"))?;
        match self.gdb.receive(Some(EXIT_TIMEOUT)) {
            Ok(Some(packet)) if matches!(rsp::parse_stop(&packet), Some(Stop::Exited(_) | Stop::Terminated(_))) => {
                return self.finish_exit(on_line);
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return self.finish_exit(on_line),
            _ => {}
        }
        if self.options.save_flash.is_some() {
            let flash = self.read_flash()?;
            self.save_flash(&flash, SavedFlash::Final)?;
        }
        let cpu = match ending {
            Ending::Timeout => describe_cpu(self.gdb.registers().ok()),
            Ending::Stopped => String::new(),
        };
        self.qemu.kill();
        match ending {
            Ending::Stopped => Ok(RunReport { end: RunEnd::Stopped, saved_flash: self.saved_flash }),
            Ending::Timeout => {
                self.drain_console(on_line);
                let last_output = if self.last_lines.is_empty() {
                    "(nothing)".to_string()
                } else {
                    Vec::from(self.last_lines.clone()).join("\n")
                };
                let seconds = self.options.timeout.unwrap_or_default().as_secs_f64();
                Err(QemuError::Timeout { seconds, cpu, last_output }.into())
            }
        }
    }

    /// Passes on the console lines QEMU wrote before it exited.
    fn drain_console(&mut self, on_line: &mut dyn FnMut(&str) -> Control) {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.qemu.lines.recv_timeout(left) {
                Ok(line) => {
                    self.show(&line, on_line);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        self.qemu.join_readers();
    }
}

/// Whether the CPU runs on after a breakpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    Yes,
    /// The guest's semihosting exit went ahead: QEMU is exiting.
    Exiting,
}

/// Why the runner ends a run itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Stopped,
    Timeout,
}

fn gdb_error(doing: &'static str) -> impl FnOnce(io::Error) -> QemuError {
    move |source| QemuError::Gdb { doing: doing.to_string(), source }
}

/// Where the CPU is, in words: what a hung board was doing.
fn describe_cpu(registers: Option<Registers>) -> String {
    let Some(registers) = registers else { return "the CPU state could not be read".into() };
    let pc = registers.pc();
    match registers.exception() {
        _ if pc & !1 == 0xEFFF_FFFE => "the CPU is locked up: it faulted inside the HardFault handler".into(),
        0 => format!("the CPU is running the app's main code, at pc {pc:#010x}"),
        3 => format!(
            "the CPU is in the HardFault handler (pc {pc:#010x}): the code crashed. \
             Look for the faulting address in the exception frame on the stack (sp {:#010x})",
            registers.r[13]
        ),
        n => format!("the CPU is in exception handler {n} (pc {pc:#010x})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardDatabase;

    fn board(name: &str) -> Board {
        BoardDatabase::bundled().get(name).unwrap().clone()
    }

    #[test]
    fn the_command_line_halts_the_cpu_and_binds_gdb_to_loopback_only() {
        let an386 = board("qemu-an386");
        let args = qemu_args(an386.qemu.as_ref().unwrap(), 4242, &[], &[]).join(" ");
        assert_eq!(
            args,
            "-machine mps2-an386 -nographic -monitor none -serial stdio \
             -semihosting-config enable=on,target=native -S -gdb tcp:127.0.0.1:4242"
        );
        let nics = ["user,model=lan9118".to_string()];
        let args = qemu_args(an386.qemu.as_ref().unwrap(), 1, &nics, &[]);
        assert_eq!(args[args.len() - 2..], ["-nic", "user,model=lan9118"]);
    }

    #[test]
    fn extra_arguments_come_last_as_they_are() {
        let an386 = board("qemu-an386");
        let nics = ["user,model=lan9118".to_string()];
        let extra = ["-icount".to_string(), "shift=0".to_string()];
        let args = qemu_args(an386.qemu.as_ref().unwrap(), 1, &nics, &extra);
        assert_eq!(args[args.len() - 4..], ["-nic", "user,model=lan9118", "-icount", "shift=0"]);
        assert!(args.contains(&"-S".to_string()), "the CPU still starts halted for the gdb stub");
    }

    #[test]
    fn an_image_is_programmed_into_erased_flash() {
        let an385 = board("qemu-an385");
        let flash = flash_with_image(&an385, &FlatImage { base: 0x10, bytes: vec![1, 2, 3] }).unwrap();
        assert_eq!(flash.len(), 0x40_0000);
        assert_eq!(&flash[0x0E..0x14], &[0xFF, 0xFF, 1, 2, 3, 0xFF]);
        let err = flash_with_image(&an385, &FlatImage { base: 0x3F_FFFF, bytes: vec![1, 2] }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the image at 0x003fffff-0x00400001 does not fit the flash of qemu-an385 (0x00000000-0x00400000): build it for this board"
        );
    }

    #[test]
    fn running_a_hardware_board_says_which_boards_are_virtual() {
        let odin = board("odin-w2");
        let options = RunOptions { flash: vec![0xFF; odin.flash.size as usize], ..RunOptions::default() };
        let err = run(&odin, &options, &mut |_| Control::Continue).unwrap_err().to_string();
        assert_eq!(
            err,
            "odin-w2 is not a virtual board: `cargo boot run` needs a board with a [qemu] section, such as qemu-an386"
        );
    }

    #[test]
    fn flash_of_the_wrong_size_is_refused() {
        let an386 = board("qemu-an386");
        let options = RunOptions { flash: vec![0xFF; 16], ..RunOptions::default() };
        let err = run(&an386, &options, &mut |_| Control::Continue).unwrap_err().to_string();
        assert!(err.contains("the flash contents are 16 bytes, but the flash of qemu-an386 is 4194304 bytes"), "{err}");
    }

    #[test]
    fn errors_name_the_fix() {
        let missing = QemuError::NotInstalled { program: QEMU_PROGRAM.into() }.to_string();
        assert!(missing.contains("apt-get install qemu-system-arm"), "{missing}");
        assert!(missing.contains("scripts/setup.sh"), "{missing}");
        let timeout = QemuError::Timeout {
            seconds: 2.5,
            cpu: describe_cpu(None),
            last_output: "booting\nwaiting for the network".into(),
        }
        .to_string();
        assert!(timeout.starts_with("the board was still running after 2.5 s"), "{timeout}");
        assert!(timeout.contains("Last console output:\nbooting\nwaiting for the network\n"), "{timeout}");
        assert!(timeout.contains("Raise the timeout"), "{timeout}");
    }

    #[test]
    fn a_hung_cpu_is_described() {
        let mut registers = Registers { r: [0; 16], xpsr: 0x0100_0000 };
        registers.r[15] = 0x1_0400;
        assert!(describe_cpu(Some(registers)).contains("main code, at pc 0x00010400"));
        registers.xpsr = 0x0100_0003;
        registers.r[13] = 0x2000_1000;
        let text = describe_cpu(Some(registers));
        assert!(text.contains("in the HardFault handler (pc 0x00010400): the code crashed"), "{text}");
        assert!(text.contains("sp 0x20001000"), "{text}");
        registers.r[15] = 0xEFFF_FFFE;
        assert!(describe_cpu(Some(registers)).contains("locked up"));
        registers.r[15] = 0x100;
        registers.xpsr = 15;
        assert!(describe_cpu(Some(registers)).contains("exception handler 15"));
    }

    #[test]
    fn console_lines_lose_their_line_endings() {
        let mut lines = Vec::new();
        for_each_line(&b"one\r\ntwo\n\nthree"[..], |line| lines.push(line));
        assert_eq!(lines, ["one", "two", "", "three"]);
    }
}
