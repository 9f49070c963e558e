//! A transmit-only driver for the CMSDK APB UART of QEMU's MPS2 boards.

use core::ptr::{read_volatile, write_volatile};

/// DATA: write a byte to send it.
const DATA: usize = 0x00;
/// STATE: bit 0 is set while the transmit buffer is full.
const STATE: usize = 0x04;
/// CTRL: bit 0 enables the transmitter.
const CTRL: usize = 0x08;
/// BAUDDIV: the peripheral clock divided by the baud rate (at least 16).
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const CTRL_TX_ENABLE: u32 = 1 << 0;

/// UART0 of the MPS2 boards, where `cargo boot run` shows the console.
const UART0: usize = 0x4000_4000;
/// The peripheral clock of the MPS2 boards.
const PCLK_HZ: u32 = 25_000_000;

/// A CMSDK UART, transmitting only.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// UART0 at 115200 baud.
    pub fn uart0() -> Uart {
        // SAFETY: UART0 is a CMSDK UART on every MPS2 board, and nothing else drives it.
        unsafe { Uart::new(UART0, PCLK_HZ / 115_200) }
    }

    /// Enables the transmitter of the UART at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a CMSDK UART that nothing else uses.
    pub unsafe fn new(base: usize, bauddiv: u32) -> Uart {
        let uart = Uart { base };
        uart.write_register(BAUDDIV, bauddiv.max(16));
        uart.write_register(CTRL, CTRL_TX_ENABLE);
        uart
    }

    /// Sends one byte, waiting while the transmit buffer is full.
    pub fn write_byte(&mut self, byte: u8) {
        while self.read_register(STATE) & STATE_TX_FULL != 0 {}
        self.write_register(DATA, u32::from(byte));
    }

    fn read_register(&self, offset: usize) -> u32 {
        // SAFETY: `base` is a CMSDK UART (see `new`) and `offset` one of its registers.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write_register(&self, offset: usize, value: u32) {
        // SAFETY: as in `read_register`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}

impl core::fmt::Write for Uart {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        text.bytes().for_each(|byte| self.write_byte(byte));
        Ok(())
    }
}
