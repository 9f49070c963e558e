//! The one-line boot log, on the CMSDK UART0 of the virtual boards (feature `log-uart`).
//! Without the feature every function is empty and the strings are not linked in.
//!
//! No `core::fmt`: numbers are printed by hand, which keeps the formatting machinery
//! out of the bootloader.

#[cfg(feature = "log-uart")]
mod uart {
    /// CMSDK APB UART0 on the mps2 boards.
    const BASE: usize = 0x4000_4000;
    /// DATA: write a byte to send it.
    const DATA: usize = BASE;
    /// STATE: bit 0 is "TX buffer full".
    const STATE: usize = BASE + 0x04;
    /// CTRL: bit 0 enables the transmitter.
    const CTRL: usize = BASE + 0x08;
    /// BAUDDIV: the baud rate divider (must be at least 16).
    const BAUDDIV: usize = BASE + 0x10;

    fn read(address: usize) -> u32 {
        // SAFETY: a UART register of the mps2 boards.
        unsafe { core::ptr::read_volatile(address as *const u32) }
    }

    fn write(address: usize, value: u32) {
        // SAFETY: a UART register of the mps2 boards.
        unsafe { core::ptr::write_volatile(address as *mut u32, value) }
    }

    pub fn init() {
        if read(BAUDDIV) < 16 {
            // 25 MHz / 217 = 115200 baud (QEMU ignores the rate, hardware does not).
            write(BAUDDIV, 217);
        }
        write(CTRL, read(CTRL) | 1);
    }

    pub fn byte(b: u8) {
        while read(STATE) & 1 != 0 {}
        write(DATA, u32::from(b));
    }
}

#[cfg(not(feature = "log-uart"))]
mod uart {
    #[inline(always)]
    pub fn init() {}
    #[inline(always)]
    pub fn byte(_: u8) {}
}

/// Prepares the UART.
#[inline(always)]
pub fn init() {
    uart::init();
}

/// Writes text.
#[inline(always)]
pub fn text(s: &str) {
    if cfg!(feature = "log-uart") {
        for &b in s.as_bytes() {
            uart::byte(b);
        }
    }
}

/// Writes a number in decimal.
#[inline(always)]
pub fn number(mut n: u32) {
    if cfg!(feature = "log-uart") {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            uart::byte(d);
        }
    }
}

/// Ends the line.
#[inline(always)]
pub fn end() {
    text("\r\n");
}
