//! Reading text input in blocks: open a file or stdin, decompress gzip/zstd transparently
//! (recognised by magic bytes, not by file name), and cut the stream into [`Block`]s of a few
//! MiB that end at a newline, so that a caller can parse blocks on several threads while
//! this reader fetches the next one.
//!
//! This is the only I/O in the text path; the parsers in [`crate::text`] are pure.

mod block;
mod error;

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use block::{Block, BlockLines};
pub use error::{Compression, SourceError};

/// Default size of a block: big enough to amortise handing it to a thread, small enough that a
/// few blocks in flight stay cheap.
pub const DEFAULT_BLOCK_BYTES: usize = 2 << 20;

/// No flow record is anywhere near this long; a "line" this long means binary input.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Buffer between the file and a decompressor.
const COMPRESSED_BUFFER_BYTES: usize = 256 << 10;

/// Cuts an input into [`Block`]s of whole lines. See the [module docs](self).
pub struct BlockReader {
    path: PathBuf,
    reader: Box<dyn Read + Send>,
    compression: Compression,
    progress: Progress,
    /// The start of a line whose end has not been read yet.
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
    block_bytes: usize,
    max_line_bytes: usize,
}

impl fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockReader")
            .field("path", &self.path)
            .field("compression", &self.compression)
            .field("progress", &self.progress)
            .field("next_line", &self.next_line)
            .field("eof", &self.eof)
            .field("block_bytes", &self.block_bytes)
            .finish_non_exhaustive()
    }
}

impl BlockReader {
    /// Opens `path`, or stdin when `path` is `-`, and recognises its compression.
    ///
    /// An empty input is not an error: it yields no blocks.
    pub fn open(path: &Path) -> Result<Self, SourceError> {
        if path == Path::new("-") {
            return Self::from_reader(path, io::stdin(), None);
        }
        let metadata = std::fs::metadata(path).map_err(|e| SourceError::open(path, e))?;
        if metadata.is_dir() {
            return Err(SourceError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(|e| SourceError::open(path, e))?;
        // Pipes and devices have no meaningful length.
        let len = metadata.is_file().then_some(metadata.len());
        Self::from_reader(path, file, len)
    }

    /// Reads from any byte stream; `name` is used in errors, `len` (the stream's size, when
    /// known) for progress. Compression is recognised as in [`BlockReader::open`].
    pub fn from_reader(
        name: impl Into<PathBuf>,
        reader: impl Read + Send + 'static,
        len: Option<u64>,
    ) -> Result<Self, SourceError> {
        let path = name.into();
        let progress = Progress {
            consumed: Arc::new(AtomicU64::new(0)),
            len,
        };
        let mut counted = CountingReader {
            inner: reader,
            count: Arc::clone(&progress.consumed),
        };
        let (head, head_len) = read_head(&mut counted).map_err(|source| SourceError::Read {
            path: path.clone(),
            source,
        })?;
        let compression = Compression::sniff(&head[..head_len]);
        let stream = Cursor::new(head).take(head_len as u64).chain(counted);
        let reader: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(stream),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
                BufReader::with_capacity(COMPRESSED_BUFFER_BYTES, stream),
            )),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
                    COMPRESSED_BUFFER_BYTES,
                    stream,
                ))
                .map_err(|source| SourceError::read(&path, compression, source))?,
            ),
        };
        Ok(Self {
            path,
            reader,
            compression,
            progress,
            carry: Vec::new(),
            next_line: 1,
            eof: false,
            block_bytes: DEFAULT_BLOCK_BYTES,
            max_line_bytes: MAX_LINE_BYTES,
        })
    }

    /// Sets the target block size (at least 1 byte; blocks still end at a newline, so one may
    /// be longer). Mostly for tests; the default suits parsing.
    pub fn with_block_bytes(mut self, bytes: usize) -> Self {
        self.block_bytes = bytes.max(1);
        self
    }

    /// The next block of whole lines, or `None` at the end of the input.
    ///
    /// Errors name the input: an I/O error, a corrupt or truncated compressed stream, or a
    /// line longer than [`MAX_LINE_BYTES`].
    pub fn next_block(&mut self) -> Result<Option<Block>, SourceError> {
        let mut data = std::mem::take(&mut self.carry);
        // The carried-over start of a line has no newline; never search it again.
        let mut searched = data.len();
        loop {
            if !self.eof {
                // Fill up to the block size; after a long carried-over line, still read at
                // least half a block so that progress is made.
                let want = self
                    .block_bytes
                    .saturating_sub(data.len())
                    .max(self.block_bytes / 2)
                    .max(1);
                data.reserve(want);
                let got = (&mut self.reader)
                    .take(want as u64)
                    .read_to_end(&mut data)
                    .map_err(|e| SourceError::read(&self.path, self.compression, e))?;
                self.eof = got < want;
            }
            if self.eof {
                // Whatever is left, including a last line without a newline.
                return Ok((!data.is_empty()).then(|| self.make_block(data)));
            }
            match memchr::memrchr(b'\n', &data[searched..]) {
                Some(newline) => {
                    let end = searched + newline + 1;
                    self.carry = data[end..].to_vec();
                    data.truncate(end);
                    return Ok(Some(self.make_block(data)));
                }
                None if data.len() > self.max_line_bytes => {
                    return Err(SourceError::LineTooLong {
                        path: self.path.clone(),
                        line: self.next_line,
                        limit: self.max_line_bytes,
                    });
                }
                None => searched = data.len(),
            }
        }
    }

    fn make_block(&mut self, data: Vec<u8>) -> Block {
        let first_line = self.next_line;
        self.next_line += memchr::memchr_iter(b'\n', &data).count() as u64;
        Block::new(first_line, data)
    }

    /// The input's name as given (`-` for stdin).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The compression recognised from the first bytes.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Bytes read so far from the underlying file or pipe (compressed bytes for compressed
    /// input; includes read-ahead), for a progress bar against [`BlockReader::len`].
    pub fn bytes_consumed(&self) -> u64 {
        self.progress.bytes_consumed()
    }

    /// Size of the underlying file, when known (not for stdin or pipes).
    pub fn len(&self) -> Option<u64> {
        self.progress.len()
    }

    /// `true` when the underlying file is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// A handle to watch progress from another thread while this reader runs.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

/// A cloneable, thread-safe view of a [`BlockReader`]'s progress.
#[derive(Debug, Clone)]
pub struct Progress {
    consumed: Arc<AtomicU64>,
    len: Option<u64>,
}

impl Progress {
    /// Bytes read so far from the underlying file or pipe.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// Size of the underlying file, when known.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// `true` when the underlying file is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }
}

/// Counts the bytes that pass through, for [`Progress`].
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads up to 4 bytes (enough for any magic number), however the stream chunks them.
fn read_head(reader: &mut impl Read) -> io::Result<([u8; 4], usize)> {
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, filled))
}

#[cfg(test)]
mod tests;
