//! Allocation-free text: decimal parsing, and a fixed buffer that messages
//! are written into. Used by the load-time constructor, where `core::fmt`
//! would be both too big (start-up cost) and unnecessary.

/// Where a message is written: a fixed buffer (constructor, C ABI) or a
/// `core::fmt::Formatter` (the `Display` impl of [`crate::Error`]).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn put_int(&mut self, value: i64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        if value < 0 {
            self.put(b"-");
        }
        self.put(digits.get(i..).unwrap_or(b"?"));
    }

    /// Writes `value` so that any byte string reads unambiguously on one line:
    /// printable ASCII as is, `"` and `\` escaped, everything else as `\xNN`.
    /// Long values are cut at `max` bytes with `...` after the closing quote.
    fn put_quoted(&mut self, value: &[u8], max: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.put(b"\"");
        for &b in value.iter().take(max) {
            match b {
                b'"' | b'\\' => self.put(&[b'\\', b]),
                0x20..=0x7e => self.put(&[b]),
                _ => self.put(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
            }
        }
        self.put(b"\"");
        if value.len() > max {
            self.put(b"...");
        }
    }
}

/// A message under construction in a caller-provided buffer. Overflow
/// truncates (and is remembered) instead of failing.
pub(crate) struct Buf<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Buf<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Buf {
            buf,
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflow
    }
}

impl Sink for Buf<'_> {
    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => {
                    self.overflow = true;
                    return;
                }
            }
        }
    }
}

/// How many decimal digits `value` takes.
pub(crate) fn decimal_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}

/// Parses a non-empty run of ASCII digits (no sign, no spaces) into a u64,
/// `None` on anything else or on overflow.
pub(crate) fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Buf)) -> std::string::String {
        let mut storage = [0u8; 128];
        let mut b = Buf::new(&mut storage);
        f(&mut b);
        std::string::String::from_utf8(b.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn integers() {
        assert_eq!(render(|b| b.put_int(0)), "0");
        assert_eq!(render(|b| b.put_int(-9)), "-9");
        assert_eq!(render(|b| b.put_int(i64::MIN)), "-9223372036854775808");
        assert_eq!(render(|b| b.put_int(4194304)), "4194304");
    }

    #[test]
    fn quoting() {
        assert_eq!(render(|b| b.put_quoted(b"TERM", 8)), "\"TERM\"");
        assert_eq!(
            render(|b| b.put_quoted(b"a\"\\\xff\n", 8)),
            "\"a\\\"\\\\\\xff\\x0a\""
        );
        assert_eq!(render(|b| b.put_quoted(b"abcdefgh", 3)), "\"abc\"...");
    }

    #[test]
    fn overflow_truncates() {
        let mut storage = [0u8; 4];
        let mut b = Buf::new(&mut storage);
        b.put(b"abcdef");
        assert_eq!(b.as_bytes(), b"abcd");
        assert!(b.overflowed());
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"15"), Some(15));
        assert_eq!(parse_decimal(b"007"), Some(7));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-9"), None);
        assert_eq!(parse_decimal(b"+9"), None);
        assert_eq!(parse_decimal(b" 9"), None);
        assert_eq!(parse_decimal(b"99999999999999999999999"), None);
    }
}
