//! A small client for the GDB remote serial protocol, as QEMU's gdb stub speaks it.
//!
//! Packets are `$<payload>#<two hex digits of checksum>`; each side acknowledges a packet
//! with `+`. The stub answers every request with one packet, except `c` (continue),
//! which it answers only when the CPU stops again. A raw `0x03` byte asks a running CPU
//! to stop. QEMU's stub has no `X` (binary write) and no `p` (one register): memory
//! goes through `M`/`m` in hex, registers through `g`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes per `M` packet or `m` answer: twice as many hex digits, plus the framing, stay
/// under QEMU's 4096-byte packets.
const CHUNK: usize = 2000;
/// How long a request may wait for its answer while the CPU is stopped.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the CPU stopped, from a stop-reply packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stopped with this signal (5, SIGTRAP: a breakpoint or a step; 2: an interrupt).
    Signal(u8),
    /// QEMU is exiting: the guest ended the run with this status (semihosting exit).
    Exited(u8),
    /// QEMU is exiting after this signal.
    Terminated(u8),
}

/// The core registers of a Cortex-M, from a `g` packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registers {
    /// r0 to r15 (r13 is SP, r14 LR, r15 PC).
    pub r: [u32; 16],
    /// xPSR: its low 9 bits are the number of the active exception.
    pub xpsr: u32,
}

impl Registers {
    /// The program counter.
    pub fn pc(&self) -> u32 {
        self.r[15]
    }

    /// The number of the exception being handled (0 in thread mode, 3 for HardFault).
    pub fn exception(&self) -> u32 {
        self.xpsr & 0x1FF
    }
}

/// A connection to a gdb stub.
pub struct GdbClient {
    stream: TcpStream,
    /// Bytes received but not parsed yet.
    pending: Vec<u8>,
}

impl GdbClient {
    /// Wraps a connected stream and checks that a stub answers on it.
    pub fn new(stream: TcpStream) -> io::Result<GdbClient> {
        stream.set_nodelay(true)?;
        let mut client = GdbClient { stream, pending: Vec::new() };
        client.request(b"qSupported")?;
        Ok(client)
    }

    /// Sends one packet.
    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let checksum = payload.iter().fold(0u8, |sum, &b| sum.wrapping_add(b));
        let mut packet = Vec::with_capacity(payload.len() + 4);
        packet.push(b'$');
        packet.extend_from_slice(payload);
        packet.extend_from_slice(format!("#{checksum:02x}").as_bytes());
        self.stream.write_all(&packet)
    }

    /// Receives one packet, waiting at most `timeout` (`None`: until one comes or the
    /// stub goes away). `Ok(None)` means no packet came in time.
    pub fn receive(&mut self, timeout: Option<Duration>) -> io::Result<Option<Vec<u8>>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(payload) = self.take_packet()? {
                self.stream.write_all(b"+")?;
                return Ok(Some(payload));
            }
            let wait = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(None),
                },
                None => None,
            };
            self.stream.set_read_timeout(wait)?;
            let mut buffer = [0u8; 8192];
            match self.stream.read(&mut buffer) {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the gdb stub closed the connection"))
                }
                Ok(n) => self.pending.extend_from_slice(&buffer[..n]),
                // A signal (Ctrl-C) interrupts the wait like a timeout: wait on until the deadline.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the first complete packet out of `pending`, skipping acknowledgements.
    fn take_packet(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(start) = self.pending.iter().position(|&b| b == b'$') else {
            self.pending.clear();
            return Ok(None);
        };
        let Some(hash) = self.pending[start..].iter().position(|&b| b == b'#').map(|i| start + i) else {
            return Ok(None);
        };
        if self.pending.len() < hash + 3 {
            return Ok(None);
        }
        let payload = self.pending[start + 1..hash].to_vec();
        let checksum =
            std::str::from_utf8(&self.pending[hash + 1..hash + 3]).ok().and_then(|s| u8::from_str_radix(s, 16).ok());
        self.pending.drain(..hash + 3);
        let sum = payload.iter().fold(0u8, |sum, &b| sum.wrapping_add(b));
        if checksum != Some(sum) {
            return Err(protocol_error(format!("a packet with a bad checksum: {}", String::from_utf8_lossy(&payload))));
        }
        Ok(Some(payload))
    }

    /// Sends a request and returns the answer.
    pub fn request(&mut self, payload: &[u8]) -> io::Result<Vec<u8>> {
        self.send(payload)?;
        self.receive(Some(REPLY_TIMEOUT))?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, format!("no answer to `{}`", String::from_utf8_lossy(payload)))
        })
    }

    /// Sends a request that must be answered `OK`.
    fn request_ok(&mut self, payload: &[u8]) -> io::Result<()> {
        let answer = self.request(payload)?;
        if answer == b"OK" {
            return Ok(());
        }
        let request = String::from_utf8_lossy(&payload[..payload.len().min(24)]).into_owned();
        Err(protocol_error(format!("`{request}` was answered `{}`", String::from_utf8_lossy(&answer))))
    }

    /// Writes `bytes` to memory at `address`, with the CPU stopped.
    pub fn write_memory(&mut self, address: u32, bytes: &[u8]) -> io::Result<()> {
        for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
            let at = address + (i * CHUNK) as u32;
            let mut packet = format!("M{at:x},{:x}:", chunk.len()).into_bytes();
            packet.extend_from_slice(to_hex(chunk).as_bytes());
            self.request_ok(&packet)?;
        }
        Ok(())
    }

    /// Reads `len` bytes of memory at `address`, with the CPU stopped.
    pub fn read_memory(&mut self, address: u32, len: usize) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let at = address + bytes.len() as u32;
            let count = CHUNK.min(len - bytes.len());
            let answer = self.request(format!("m{at:x},{count:x}").as_bytes())?;
            let chunk = from_hex(&answer).filter(|c| c.len() == count).ok_or_else(|| {
                protocol_error(format!(
                    "reading {count} bytes at {at:#010x} was answered `{}`",
                    String::from_utf8_lossy(&answer)
                ))
            })?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Reads the core registers, with the CPU stopped.
    pub fn registers(&mut self) -> io::Result<Registers> {
        let answer = self.request(b"g")?;
        parse_registers(&answer).ok_or_else(|| {
            protocol_error(format!("the registers were answered `{}`", String::from_utf8_lossy(&answer)))
        })
    }

    /// Runs a QEMU monitor command and returns what it printed.
    pub fn monitor(&mut self, command: &str) -> io::Result<String> {
        let mut packet = b"qRcmd,".to_vec();
        packet.extend_from_slice(to_hex(command.as_bytes()).as_bytes());
        self.send(&packet)?;
        let mut output = String::new();
        loop {
            let answer = self.receive(Some(REPLY_TIMEOUT))?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::TimedOut, format!("no answer to the monitor command `{command}`"))
            })?;
            match answer.as_slice() {
                b"OK" => return Ok(output),
                [b'O', hex @ ..] => output.push_str(&String::from_utf8_lossy(&from_hex(hex).unwrap_or_default())),
                other => {
                    return Err(protocol_error(format!(
                        "the monitor command `{command}` was answered `{}`",
                        String::from_utf8_lossy(other)
                    )))
                }
            }
        }
    }

    /// Inserts a breakpoint at `address`.
    pub fn insert_breakpoint(&mut self, address: u32) -> io::Result<()> {
        self.request_ok(format!("Z0,{address:x},2").as_bytes())
    }

    /// Removes the breakpoint at `address`.
    pub fn remove_breakpoint(&mut self, address: u32) -> io::Result<()> {
        self.request_ok(format!("z0,{address:x},2").as_bytes())
    }

    /// Lets the CPU run; the stub answers when it stops (see [`GdbClient::receive`]).
    pub fn resume(&mut self) -> io::Result<()> {
        self.send(b"c")
    }

    /// Executes one instruction and returns why the CPU stopped afterwards.
    pub fn step(&mut self) -> io::Result<Stop> {
        let answer = self.request(b"s")?;
        parse_stop(&answer)
            .ok_or_else(|| protocol_error(format!("a step was answered `{}`", String::from_utf8_lossy(&answer))))
    }

    /// Asks the running CPU to stop; the stub answers with a stop reply.
    pub fn interrupt(&mut self) -> io::Result<()> {
        self.stream.write_all(&[0x03])
    }
}

/// Parses a stop reply (`T05...`, `S05`, `W00`, `X0f`).
pub fn parse_stop(packet: &[u8]) -> Option<Stop> {
    let (&kind, rest) = packet.split_first()?;
    let value = std::str::from_utf8(rest.get(..2)?).ok().and_then(|s| u8::from_str_radix(s, 16).ok())?;
    match kind {
        b'T' | b'S' => Some(Stop::Signal(value)),
        b'W' => Some(Stop::Exited(value)),
        b'X' => Some(Stop::Terminated(value)),
        _ => None,
    }
}

/// Parses a `g` answer: r0-r15 first, xPSR in the last four bytes (QEMU puts the old
/// FPA registers in between when no target description was asked for).
fn parse_registers(hex: &[u8]) -> Option<Registers> {
    let bytes = from_hex(hex)?;
    if bytes.len() < 17 * 4 {
        return None;
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"));
    let mut r = [0u32; 16];
    for (i, reg) in r.iter_mut().enumerate() {
        *reg = word(i * 4);
    }
    Some(Registers { r, xpsr: word(bytes.len() - 4) })
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        hex.push(DIGITS[usize::from(b >> 4)] as char);
        hex.push(DIGITS[usize::from(b & 0xF)] as char);
    }
    hex
}

fn from_hex(hex: &[u8]) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    hex.chunks_exact(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

fn protocol_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_replies_are_parsed() {
        assert_eq!(parse_stop(b"T05thread:p01.01;"), Some(Stop::Signal(5)));
        assert_eq!(parse_stop(b"S02"), Some(Stop::Signal(2)));
        assert_eq!(parse_stop(b"W01"), Some(Stop::Exited(1)));
        assert_eq!(parse_stop(b"X0f"), Some(Stop::Terminated(15)));
        assert_eq!(parse_stop(b"OK"), None);
        assert_eq!(parse_stop(b"T"), None);
    }

    #[test]
    fn registers_take_xpsr_from_the_end() {
        let mut bytes = Vec::new();
        for i in 0..16u32 {
            bytes.extend_from_slice(&(0x100 + i).to_le_bytes());
        }
        bytes.extend_from_slice(&[0; 8 * 12 + 4]);
        bytes.extend_from_slice(&0x0100_0003u32.to_le_bytes());
        let regs = parse_registers(to_hex(&bytes).as_bytes()).unwrap();
        assert_eq!(regs.pc(), 0x10F);
        assert_eq!(regs.r[0], 0x100);
        assert_eq!(regs.exception(), 3);
        assert_eq!(parse_registers(b"0011"), None);
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0x00, 0xAB, 0xff]), "00abff");
        assert_eq!(from_hex(b"00abff").unwrap(), [0x00, 0xAB, 0xFF]);
        assert_eq!(from_hex(b"0"), None);
        assert_eq!(from_hex(b"zz"), None);
    }

    #[test]
    fn packets_are_framed_and_checked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stub = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut request = [0u8; 64];
            let n = peer.read(&mut request).unwrap();
            assert_eq!(&request[..n], b"$qSupported#37");
            peer.write_all(b"+$PacketSize=1000#f1").unwrap();
            let n = peer.read(&mut request).unwrap();
            assert_eq!(&request[..n], b"+");
            peer.write_all(b"$OK#00").unwrap();
        });
        let mut client = GdbClient::new(TcpStream::connect(("127.0.0.1", port)).unwrap()).unwrap();
        let err = client.receive(Some(Duration::from_secs(5))).unwrap_err();
        assert!(err.to_string().contains("bad checksum"), "{err}");
        stub.join().unwrap();
    }
}
