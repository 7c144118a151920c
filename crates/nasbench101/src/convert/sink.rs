//! Where a store's bytes go while it is built: a `Vec` (a tfrecord opened in memory) or the
//! temporary file of an atomic convert, written section by section as the parse goes.

use std::io;
use std::os::unix::fs::FileExt;

/// Positioned writes (and reads, to widen values already written) into a store being built.
pub(crate) trait Sink {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "offset beyond memory")
}

impl Sink for Vec<u8> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let at = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = at.checked_add(bytes.len()).ok_or_else(out_of_range)?;
        if at == self.len() {
            // The usual case: appending, without zero-filling first.
            self.extend_from_slice(bytes);
        } else {
            if end > self.len() {
                self.resize(end, 0);
            }
            self[at..end].copy_from_slice(bytes);
        }
        Ok(())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = usize::try_from(offset).map_err(|_| out_of_range())?;
        let src = at
            .checked_add(buf.len())
            .and_then(|end| self.get(at..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// A file written at positions. On Linux, write-back of every few megabytes is started as
/// soon as they are written, so the final `fsync` has little left to wait for.
pub(crate) struct FileSink<'f> {
    file: &'f std::fs::File,
    /// Bytes written since write-back was last started.
    unsynced: u64,
}

/// Start write-back after this many bytes.
const WRITEBACK_EVERY: u64 = 8 << 20;

impl<'f> FileSink<'f> {
    pub(crate) fn new(file: &'f std::fs::File) -> FileSink<'f> {
        FileSink { file, unsynced: 0 }
    }

    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self, end: u64) {
        use std::os::unix::io::AsRawFd;
        let start = end.saturating_sub(self.unsynced);
        // Only a hint: an error here changes nothing, the final fsync reports real failures.
        // SAFETY: plain syscall on a file descriptor we own; no memory is passed.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                start as libc::off64_t,
                self.unsynced as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.unsynced = 0;
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self, _end: u64) {
        self.unsynced = 0;
    }
}

impl Sink for FileSink<'_> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)?;
        self.unsynced += bytes.len() as u64;
        if self.unsynced >= WRITEBACK_EVERY {
            self.start_writeback(offset + bytes.len() as u64);
        }
        Ok(())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

/// Appends one section in chunks, keeping its CRC32C.
pub(crate) struct SectionWriter {
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]`.
    pos: u64,
    crc: u32,
    chunk: usize,
}

impl SectionWriter {
    pub(crate) fn new(start: u64, chunk: usize) -> SectionWriter {
        SectionWriter {
            buf: Vec::with_capacity(chunk + 64),
            pos: start,
            crc: 0,
            chunk,
        }
    }

    #[inline]
    pub(crate) fn put<S: Sink>(&mut self, sink: &mut S, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= self.chunk {
            self.flush(sink)?;
        }
        Ok(())
    }

    /// Like [`SectionWriter::put`] for a large slice: written directly, not copied into the
    /// chunk buffer.
    pub(crate) fn put_all<S: Sink>(&mut self, sink: &mut S, bytes: &[u8]) -> io::Result<()> {
        self.flush(sink)?;
        sink.write_at(self.pos, bytes)?;
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.pos += bytes.len() as u64;
        Ok(())
    }

    pub(crate) fn flush<S: Sink>(&mut self, sink: &mut S) -> io::Result<()> {
        if !self.buf.is_empty() {
            sink.write_at(self.pos, &self.buf)?;
            self.crc = crc32c::crc32c_append(self.crc, &self.buf);
            self.pos += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Absolute offset after everything put so far.
    pub(crate) fn end(&self) -> u64 {
        self.pos + self.buf.len() as u64
    }

    /// Flushes and returns (end offset, CRC of the section).
    pub(crate) fn finish<S: Sink>(&mut self, sink: &mut S) -> io::Result<(u64, u32)> {
        self.flush(sink)?;
        Ok((self.pos, self.crc))
    }

    /// Continues the section at `end`, everything before it written already with CRC `crc`.
    pub(crate) fn restart_after(&mut self, end: u64, crc: u32) {
        debug_assert!(self.buf.is_empty());
        self.pos = end;
        self.crc = crc;
    }
}
