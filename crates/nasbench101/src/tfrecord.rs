//! TFRecord framing: `u64 length | masked crc32c(length) | payload | masked crc32c(payload)`,
//! no header or footer. Reading borrows payloads from the input buffer (zero copy).

use std::io::Write;

const MASK_DELTA: u32 = 0xa282_ead8;

/// The TFRecord checksum: CRC32C rotated right by 15 bits plus a constant.
pub fn masked_crc(bytes: &[u8]) -> u32 {
    mask(crc32c::crc32c(bytes))
}

/// The masking step of [`masked_crc`], applied to a plain CRC32C.
pub(crate) fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

/// One framed record borrowed from the file bytes.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 0-based record number in the file.
    pub index: u64,
    /// Byte offset of the record's length field.
    pub offset: u64,
    /// The payload bytes.
    pub payload: &'a [u8],
}

/// Why the framing of a record is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The file ends inside a record.
    #[error("file ends inside the record ({needed} bytes needed, {available} left)")]
    Truncated { needed: u64, available: u64 },
    /// The masked CRC of the length field does not match (a flipped length byte).
    #[error("length CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    LengthCrc { stored: u32, computed: u32 },
    /// The masked CRC of the payload does not match (a flipped payload byte).
    #[error("payload CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    PayloadCrc { stored: u32, computed: u32 },
}

/// Iterates over the records of a TFRecord file held in memory.
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    index: u64,
    verify_payload: bool,
    failed: bool,
}

/// The record whose length field starts at `buf[pos]`: its payload and the position after it.
/// With `check_length` off, the length CRC is checked only when the length runs past the end
/// (so a flipped length byte still reads as such); the caller checks the others.
#[inline]
pub(crate) fn frame_at(
    buf: &[u8],
    pos: usize,
    check_length: bool,
) -> Result<(&[u8], usize), FrameError> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    let available = rest.len() as u64;
    let (len_bytes, len, stored) = header(rest).ok_or(FrameError::Truncated {
        needed: 12,
        available,
    })?;
    let needed = len.saturating_add(16);
    if check_length || needed > available {
        let computed = masked_crc(len_bytes);
        if stored != computed {
            return Err(FrameError::LengthCrc { stored, computed });
        }
    }
    if needed > available {
        return Err(FrameError::Truncated { needed, available });
    }
    // needed <= available <= usize::MAX here.
    let len = len as usize;
    let payload = rest
        .get(12..12 + len)
        .ok_or(FrameError::Truncated { needed, available })?;
    Ok((payload, pos + 16 + len))
}

/// Whether a record may start at `buf[pos]`: its length fits in `buf` and its length CRC
/// matches. Inside a record this holds by chance about once in 2^32 positions, so it finds
/// where records start in the middle of a file; only the chain of records from the file's
/// start proves it.
#[inline]
pub(crate) fn plausible_start(buf: &[u8], pos: usize) -> bool {
    let rest = buf.get(pos..).unwrap_or(&[]);
    // The length first: in text it is huge, so the CRC is rarely computed.
    header(rest).is_some_and(|(len_bytes, len, stored)| {
        len.saturating_add(16) <= rest.len() as u64 && stored == masked_crc(len_bytes)
    })
}

/// A record's first 12 bytes: the length field's bytes, the length, and its stored CRC.
#[inline]
fn header(rest: &[u8]) -> Option<(&[u8], u64, u32)> {
    let (len_bytes, crc_bytes) = rest.get(..12)?.split_at(8);
    let len = u64::from_le_bytes(len_bytes.try_into().ok()?);
    let stored = u32::from_le_bytes(crc_bytes.try_into().ok()?);
    Some((len_bytes, len, stored))
}

impl<'a> Frames<'a> {
    /// Frames over `buf`; `verify_payload` checks the payload CRC too (the length CRC is
    /// always checked, since a bad length would derail everything after it).
    pub fn new(buf: &'a [u8], verify_payload: bool) -> Frames<'a> {
        Frames {
            buf,
            pos: 0,
            index: 0,
            verify_payload,
            failed: false,
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    fn next_frame(&mut self) -> Result<Frame<'a>, FrameError> {
        let start = self.pos;
        let (payload, next) = frame_at(self.buf, start, true)?;
        if self.verify_payload {
            // `frame_at` checked that the payload CRC is there.
            let stored = crate::layout::le_u32(self.buf, next - 4);
            let computed = masked_crc(payload);
            if stored != computed {
                return Err(FrameError::PayloadCrc { stored, computed });
            }
        }
        self.pos = next;
        let frame = Frame {
            index: self.index,
            offset: start as u64,
            payload,
        };
        self.index += 1;
        Ok(frame)
    }
}

impl<'a> Iterator for Frames<'a> {
    /// On error: (record index, byte offset, what is wrong). Iteration stops after an error.
    type Item = Result<Frame<'a>, (u64, u64, FrameError)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match self.next_frame() {
            Ok(f) => Some(Ok(f)),
            Err(e) => {
                self.failed = true;
                Some(Err((self.index, self.pos as u64, e)))
            }
        }
    }
}

/// Writes one framed record.
pub fn write_record<W: Write + ?Sized>(out: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let len = (payload.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc(&len).to_le_bytes())?;
    out.write_all(payload)?;
    out.write_all(&masked_crc(payload).to_le_bytes())
}

/// A TFRecord writer that counts the records it wrote.
pub struct Writer<W: Write> {
    inner: W,
    records: u64,
}

impl<W: Write> Writer<W> {
    /// Wraps a byte sink.
    pub fn new(inner: W) -> Writer<W> {
        Writer { inner, records: 0 }
    }
    /// Frames and writes one payload.
    pub fn write(&mut self, payload: &[u8]) -> std::io::Result<()> {
        write_record(&mut self.inner, payload)?;
        self.records += 1;
        Ok(())
    }
    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }
    /// The underlying sink.
    pub fn into_inner(self) -> W {
        self.inner
    }
}
