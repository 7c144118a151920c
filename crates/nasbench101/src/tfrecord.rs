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
    /// Off when the caller checks length CRCs itself (in parallel); a length that runs past
    /// the end is still checked here, so a flipped length byte reads as such.
    verify_length: bool,
    failed: bool,
    /// Bytes up to here were prefetched.
    prefetched: usize,
}

/// How far ahead the framing scan prefetches: it reads one length per record, each on a cold
/// cache line, so without prefetching it waits on memory once per record.
const PREFETCH_AHEAD: usize = 8192;

impl<'a> Frames<'a> {
    /// Frames over `buf`; `verify_payload` checks the payload CRC too (the length CRC is
    /// always checked, since a bad length would derail everything after it).
    pub fn new(buf: &'a [u8], verify_payload: bool) -> Frames<'a> {
        Frames {
            buf,
            pos: 0,
            index: 0,
            verify_payload,
            verify_length: true,
            failed: false,
            prefetched: 0,
        }
    }

    /// Frames without checking the length CRC of records that fit in the buffer: the caller
    /// checks them.
    pub(crate) fn unchecked_lengths(buf: &'a [u8]) -> Frames<'a> {
        Frames {
            verify_length: false,
            ..Frames::new(buf, false)
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    #[inline]
    fn prefetch(&mut self) {
        let end = self.pos + PREFETCH_AHEAD;
        if self.prefetched < end {
            crate::crc::prefetch(self.buf, self.prefetched, end);
            self.prefetched = end;
        }
    }

    fn next_frame(&mut self) -> Result<Frame<'a>, FrameError> {
        self.prefetch();
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or(&[]);
        let available = rest.len() as u64;
        let header = rest.get(..12).ok_or(FrameError::Truncated {
            needed: 12,
            available,
        })?;
        let (len_bytes, crc_bytes) = header.split_at(8);
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap_or([0; 8]));
        let stored = u32::from_le_bytes(crc_bytes.try_into().unwrap_or([0; 4]));
        let needed = len.saturating_add(16);
        if self.verify_length || needed > available {
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
        if self.verify_payload {
            let crc = rest
                .get(12 + len..16 + len)
                .ok_or(FrameError::Truncated { needed, available })?;
            let stored = u32::from_le_bytes(crc.try_into().unwrap_or([0; 4]));
            let computed = masked_crc(payload);
            if stored != computed {
                return Err(FrameError::PayloadCrc { stored, computed });
            }
        }
        self.pos = start + 16 + len;
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
