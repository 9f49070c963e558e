//! A polled driver for the SMSC LAN9118 Ethernet controller of QEMU's mps2 boards
//! (`-nic user,model=lan9118`), as a smoltcp [`Device`].
//!
//! Register-level and small: no interrupts, no DMA, no PHY set-up (QEMU's link is
//! always up). Frames go through the controller's FIFOs a 32-bit word at a time:
//!
//! - **receive**: `RX_FIFO_INF` counts the frames waiting; each has a status word in
//!   the RX status FIFO (its length, CRC included) and its bytes in the RX data FIFO,
//!   little-endian, padded to whole words;
//! - **transmit**: two command words (A: this buffer's length, first and last segment;
//!   B: the frame's length), then the bytes, padded to whole words. QEMU sends the frame
//!   as soon as its last word is written, and logs a status word per frame, which the
//!   driver drains.
//!
//! The MAC's own registers (`MAC_CR`, the address) sit behind `MAC_CSR_CMD` and
//! `MAC_CSR_DATA`.

use core::ptr::{read_volatile, write_volatile};

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

/// Where the mps2 boards map the controller.
const MPS2_BASE: usize = 0x4020_0000;

/// Registers, as offsets from the base.
mod reg {
    pub const RX_DATA_FIFO: usize = 0x00;
    pub const TX_DATA_FIFO: usize = 0x20;
    pub const RX_STATUS_FIFO: usize = 0x40;
    pub const TX_STATUS_FIFO: usize = 0x48;
    pub const BYTE_TEST: usize = 0x64;
    pub const TX_CFG: usize = 0x70;
    pub const HW_CFG: usize = 0x74;
    pub const RX_FIFO_INF: usize = 0x7C;
    pub const TX_FIFO_INF: usize = 0x80;
    pub const PMT_CTRL: usize = 0x84;
    pub const FREE_RUN: usize = 0x9C;
    pub const MAC_CSR_CMD: usize = 0xA4;
    pub const MAC_CSR_DATA: usize = 0xA8;
}

/// MAC registers, behind `MAC_CSR_CMD`.
mod mac {
    pub const CR: u32 = 1;
    pub const ADDRH: u32 = 2;
    pub const ADDRL: u32 = 3;
    /// `MAC_CR`: receiver on.
    pub const CR_RXEN: u32 = 1 << 2;
    /// `MAC_CR`: transmitter on.
    pub const CR_TXEN: u32 = 1 << 3;
    /// `MAC_CR`: full duplex.
    pub const CR_FDPX: u32 = 1 << 20;
}

/// `BYTE_TEST` always reads this: the controller is there and the bus works.
const BYTE_TEST_VALUE: u32 = 0x8765_4321;
/// `HW_CFG`: soft reset, cleared by the controller when done.
const HW_CFG_SRST: u32 = 1 << 0;
/// `PMT_CTRL`: the controller is ready.
const PMT_CTRL_READY: u32 = 1 << 0;
/// `TX_CFG`: transmitter on.
const TX_CFG_TX_ON: u32 = 1 << 1;
/// `MAC_CSR_CMD`: start the access; reads back as 1 until it is done.
const CSR_BUSY: u32 = 1 << 31;
/// `MAC_CSR_CMD`: a read (else a write).
const CSR_READ: u32 = 1 << 30;
/// TX command A: first and last segment of the frame (it is sent in one piece).
const TX_FIRST_AND_LAST: u32 = (1 << 13) | (1 << 12);
/// RX status: the error summary bit.
const RX_ERROR: u32 = 1 << 15;
/// How often to look at a busy bit before giving up.
const SPINS: u32 = 100_000;
/// The largest Ethernet frame without its CRC.
const MAX_FRAME: usize = 1514;
/// Frame buffers: the largest frame with its CRC, in whole words.
const BUFFER: usize = 1520;

/// Why the controller could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` did not read `0x87654321`: no LAN9118 there (QEMU without
    /// `-nic user,model=lan9118`, or another board).
    NotFound {
        /// What `BYTE_TEST` read.
        byte_test: u32,
    },
    /// The soft reset did not finish.
    ResetTimeout,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::NotFound { byte_test } => write!(
                f,
                "no LAN9118 Ethernet controller (BYTE_TEST reads {byte_test:#010x}): run QEMU with -nic \
                 user,model=lan9118 (`cargo boot run --nic user,model=lan9118`)"
            ),
            InitError::ResetTimeout => f.write_str("the LAN9118 did not come out of its soft reset"),
        }
    }
}

/// The controller's registers.
#[derive(Clone, Copy)]
struct Regs {
    base: usize,
}

impl Regs {
    fn read(self, offset: usize) -> u32 {
        // SAFETY: a LAN9118 register (see `Lan9118::mps2`).
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }

    /// Waits until `done` holds for the register at `offset`.
    fn wait(self, offset: usize, done: impl Fn(u32) -> bool) -> bool {
        (0..SPINS).any(|_| done(self.read(offset)))
    }

    fn mac_read(self, register: u32) -> u32 {
        self.write(reg::MAC_CSR_CMD, CSR_BUSY | CSR_READ | register);
        self.wait(reg::MAC_CSR_CMD, |cmd| cmd & CSR_BUSY == 0);
        self.read(reg::MAC_CSR_DATA)
    }

    fn mac_write(self, register: u32, value: u32) {
        self.write(reg::MAC_CSR_DATA, value);
        self.write(reg::MAC_CSR_CMD, CSR_BUSY | register);
        self.wait(reg::MAC_CSR_CMD, |cmd| cmd & CSR_BUSY == 0);
    }

    /// Moves the next received frame into `buf`; returns its length without the CRC.
    /// Frames with errors, or too long for `buf`, are read and dropped (`Some(0)`).
    fn receive_into(self, buf: &mut [u8; BUFFER]) -> Option<usize> {
        if (self.read(reg::RX_FIFO_INF) >> 16) & 0xFF == 0 {
            return None;
        }
        let status = self.read(reg::RX_STATUS_FIFO);
        let len = ((status >> 16) & 0x3FFF) as usize;
        let keep = status & RX_ERROR == 0 && (4..=BUFFER).contains(&len);
        for word in 0..len.div_ceil(4) {
            let value = self.read(reg::RX_DATA_FIFO).to_le_bytes();
            if keep {
                buf[4 * word..4 * word + 4].copy_from_slice(&value);
            }
        }
        Some(if keep { len - 4 } else { 0 })
    }

    /// Sends one frame and drains the TX status FIFO.
    fn transmit(self, frame: &[u8]) {
        let len = frame.len() as u32;
        self.write(reg::TX_DATA_FIFO, TX_FIRST_AND_LAST | len);
        self.write(reg::TX_DATA_FIFO, len);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write(reg::TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        while (self.read(reg::TX_FIFO_INF) >> 16) & 0xFF != 0 {
            self.read(reg::TX_STATUS_FIFO);
        }
    }
}

/// The LAN9118, polled, with one receive and one transmit buffer.
pub struct Lan9118 {
    regs: Regs,
    mac: [u8; 6],
    rx: [u8; BUFFER],
    tx: [u8; BUFFER],
}

impl Lan9118 {
    /// Resets and starts the controller of the mps2 boards, with the MAC address QEMU
    /// gave it.
    ///
    /// # Safety
    /// Once: the driver owns the controller.
    pub unsafe fn mps2() -> Result<Self, InitError> {
        let regs = Regs { base: MPS2_BASE };
        let byte_test = regs.read(reg::BYTE_TEST);
        if byte_test != BYTE_TEST_VALUE {
            return Err(InitError::NotFound { byte_test });
        }
        regs.write(reg::HW_CFG, HW_CFG_SRST);
        let ready = regs.wait(reg::HW_CFG, |cfg| cfg & HW_CFG_SRST == 0)
            && regs.wait(reg::PMT_CTRL, |pmt| pmt & PMT_CTRL_READY != 0);
        if !ready {
            return Err(InitError::ResetTimeout);
        }
        let (low, high) = (regs.mac_read(mac::ADDRL).to_le_bytes(), regs.mac_read(mac::ADDRH).to_le_bytes());
        let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];
        // Unicast to this address and broadcast only (the reset leaves it promiscuous).
        regs.mac_write(mac::CR, mac::CR_RXEN | mac::CR_TXEN | mac::CR_FDPX);
        regs.write(reg::TX_CFG, TX_CFG_TX_ON);
        Ok(Self { regs, mac, rx: [0; BUFFER], tx: [0; BUFFER] })
    }

    /// The MAC address.
    pub fn mac_address(&self) -> [u8; 6] {
        self.mac
    }

    /// The controller's free-running 25 MHz counter: differs at every start, a seed
    /// for TCP's initial sequence numbers and local ports.
    pub fn free_running_counter(&self) -> u32 {
        self.regs.read(reg::FREE_RUN)
    }
}

/// A received frame.
pub struct RxFrame<'a>(&'a [u8]);

/// Room for a frame to send.
pub struct TxFrame<'a> {
    regs: Regs,
    buf: &'a mut [u8; BUFFER],
}

impl RxToken for RxFrame<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl TxToken for TxFrame<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = &mut self.buf[..len.min(MAX_FRAME)];
        let result = f(frame);
        self.regs.transmit(frame);
        result
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxFrame<'a>;
    type TxToken<'a> = TxFrame<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxFrame<'_>, TxFrame<'_>)> {
        let len = self.regs.receive_into(&mut self.rx)?;
        let tx = TxFrame { regs: self.regs, buf: &mut self.tx };
        Some((RxFrame(&self.rx[..len]), tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxFrame<'_>> {
        Some(TxFrame { regs: self.regs, buf: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(1);
        caps
    }
}
