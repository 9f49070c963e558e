//! The network: smoltcp over the LAN9118, one TCP socket to the update server, as the
//! update client's [`Transport`].
//!
//! QEMU's user networking puts the guest at 10.0.2.15/24 behind a gateway at 10.0.2.2,
//! which is also how the guest reaches the host's loopback: a server on the host's
//! 127.0.0.1:8000 is 10.0.2.2:8000 from here.

use boot_update::http::Transport;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint, Ipv4Address};

use crate::clock;
use crate::lan9118::Lan9118;

/// The guest's address on QEMU's user network.
pub const GUEST: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The gateway, which forwards to the host (its loopback included).
pub const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// How long a connection may take to open.
const CONNECT_MS: u32 = 5_000;
/// How long a connection may stay silent.
const IDLE_MS: u32 = 10_000;
/// Local ports are picked from here up.
const FIRST_PORT: u16 = 49_152;

/// Why the connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// Nothing happened for this long.
    Timeout {
        /// What was waited for.
        waiting_for: &'static str,
    },
    /// The server refused or reset the connection before it was open.
    Refused,
    /// The connection is closed: nothing more can be sent.
    Closed,
}

/// The socket set's and the socket's memory.
pub struct Buffers<'a> {
    sockets: [SocketStorage<'a>; 1],
    rx: [u8; 8192],
    tx: [u8; 1024],
}

impl Buffers<'_> {
    /// Empty buffers.
    pub const fn new() -> Self {
        Self { sockets: [SocketStorage::EMPTY; 1], rx: [0; 8192], tx: [0; 1024] }
    }
}

/// The interface and one TCP socket to `server`.
pub struct Net<'b> {
    device: Lan9118,
    iface: Interface,
    sockets: SocketSet<'b>,
    tcp: SocketHandle,
    server: IpEndpoint,
    next_port: u16,
}

impl<'b> Net<'b> {
    /// The network at 10.0.2.15/24, through 10.0.2.2, with `server` to connect to.
    pub fn new(device: Lan9118, buffers: &'b mut Buffers<'b>, server: IpEndpoint) -> Self {
        let mut device = device;
        let seed = device.free_running_counter();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(device.mac_address())));
        config.random_seed = u64::from(seed);
        let mut iface = Interface::new(config, &mut device, clock::now());
        iface.update_ip_addrs(|addresses| {
            // One address fits the interface's fixed-size list.
            let _ = addresses.push(IpCidr::new(GUEST.into(), 24));
        });
        let _ = iface.routes_mut().add_default_ipv4_route(GATEWAY);
        let Buffers { sockets, rx, tx } = buffers;
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(&mut rx[..]), tcp::SocketBuffer::new(&mut tx[..]));
        let tcp = sockets.add(socket);
        let next_port = FIRST_PORT + (seed % 8192) as u16;
        Self { device, iface, sockets, tcp, server, next_port }
    }

    /// Lets smoltcp send and receive what it can.
    fn poll(&mut self) {
        self.iface.poll(clock::now(), &mut self.device, &mut self.sockets);
    }

    fn socket(&mut self) -> &mut tcp::Socket<'b> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }

    /// Polls until `check` returns a result, or for `ms` milliseconds.
    fn wait<T>(
        &mut self,
        ms: u32,
        waiting_for: &'static str,
        mut check: impl FnMut(&mut tcp::Socket<'b>) -> Option<Result<T, NetError>>,
    ) -> Result<T, NetError> {
        let deadline = clock::deadline(ms);
        loop {
            self.poll();
            if let Some(result) = check(self.socket()) {
                return result;
            }
            if clock::passed(deadline) {
                return Err(NetError::Timeout { waiting_for });
            }
        }
    }

    fn take_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port == u16::MAX { FIRST_PORT } else { port + 1 };
        port
    }
}

impl Transport for Net<'_> {
    type Error = NetError;

    fn connect(&mut self) -> Result<(), NetError> {
        self.socket().abort();
        self.poll();
        let (server, port) = (self.server, self.take_port());
        let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp);
        socket.connect(self.iface.context(), server, port).map_err(|_| NetError::Refused)?;
        self.wait(CONNECT_MS, "the server to accept the connection", |socket| match socket.state() {
            State::Established => Some(Ok(())),
            State::Closed => Some(Err(NetError::Refused)),
            _ => None,
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let sent = self.wait(IDLE_MS, "room to send", |socket| match socket.send_slice(rest) {
                Ok(0) if socket.may_send() => None,
                Ok(0) | Err(_) => Some(Err(NetError::Closed)),
                Ok(n) => Some(Ok(n)),
            })?;
            rest = &rest[sent..];
        }
        self.wait(IDLE_MS, "the server to acknowledge the request", |socket| match socket.send_queue() {
            0 => Some(Ok(())),
            _ if !socket.may_send() => Some(Err(NetError::Closed)),
            _ => None,
        })
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.wait(IDLE_MS, "data from the server", |socket| {
            if socket.can_recv() {
                return Some(socket.recv_slice(buf).map_err(|_| NetError::Closed));
            }
            // The server closed (or reset) the connection and every byte was read.
            (!socket.may_recv() && socket.state() != State::SynSent).then_some(Ok(0))
        })
    }

    fn close(&mut self) {
        self.socket().close();
        // Give the FIN a chance to leave; `connect` aborts whatever is left.
        for _ in 0..10 {
            self.poll();
        }
    }
}
