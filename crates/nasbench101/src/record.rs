//! The record payload: a JSON list `[hash, epochs, adjacency bits, ops, base64(ModelMetrics)]`
//! written in Python `json.dumps` default style, with MIME base64 (76-char lines, each ending
//! in a newline that JSON escapes as `\n`).

use crate::hash::ModelHash;
use crate::proto::{ModelMetrics, ProtoError};
use base64::Engine;
use std::borrow::Cow;

/// One decoded record: one training run of one model at one epoch budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub hash: ModelHash,
    pub epochs: u32,
    pub matrix: Vec<Vec<u8>>,
    pub ops: Vec<String>,
    pub metrics: ModelMetrics,
}

/// Why a payload does not decode. Offsets are byte offsets inside the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("broken JSON at payload byte {offset}: {what}")]
    Json { offset: usize, what: &'static str },
    #[error("JSON list has {found} elements, expected 5")]
    Arity { found: usize },
    #[error("bad module hash {0:?} (32 hex characters expected)")]
    Hash(String),
    #[error("bad epoch budget (a non-negative integer below 2^32 expected)")]
    Epochs,
    #[error("bad adjacency text: {0}")]
    Matrix(&'static str),
    #[error("bad ops text: {0}")]
    Ops(&'static str),
    #[error("bad base64: {0}")]
    Base64(String),
    #[error("bad ModelMetrics protobuf: {0}")]
    Protobuf(ProtoError),
}

impl From<ProtoError> for PayloadError {
    fn from(e: ProtoError) -> Self {
        PayloadError::Protobuf(e)
    }
}

/// The raw fields of a payload, borrowed where no JSON escape was present.
#[derive(Debug)]
pub struct RawRecord<'a> {
    pub hash: ModelHash,
    pub epochs: u32,
    pub matrix: Cow<'a, str>,
    pub ops: Cow<'a, str>,
    pub metrics: ModelMetrics,
}

struct Json<'a> {
    b: &'a [u8],
    /// The same bytes, validated as UTF-8 once (enables memchr-based searches).
    text: &'a str,
    i: usize,
}

fn jerr<T>(offset: usize, what: &'static str) -> Result<T, PayloadError> {
    Err(PayloadError::Json { offset, what })
}

impl<'a> Json<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8, what: &'static str) -> Result<(), PayloadError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            jerr(self.i, what)
        }
    }
    fn hex4(&mut self) -> Result<u32, PayloadError> {
        let s = self.b.get(self.i..self.i + 4).ok_or(PayloadError::Json {
            offset: self.i,
            what: "truncated \\u escape",
        })?;
        let t = std::str::from_utf8(s).map_err(|_| PayloadError::Json {
            offset: self.i,
            what: "bad \\u escape",
        })?;
        let v = u32::from_str_radix(t, 16).map_err(|_| PayloadError::Json {
            offset: self.i,
            what: "bad \\u escape",
        })?;
        self.i += 4;
        Ok(v)
    }
    fn string(&mut self) -> Result<Cow<'a, str>, PayloadError> {
        self.ws();
        if self.peek() != Some(b'"') {
            return jerr(self.i, "string expected");
        }
        self.i += 1;
        let start = self.i;
        // Fast path: up to the next quote there is no escape and no control character.
        if let Some(seg) = self
            .text
            .get(start..)
            .and_then(|rest| rest.find('"').and_then(|q| rest.get(..q)))
        {
            if !seg.contains('\\') && !seg.bytes().fold(false, |a, c| a | (c < 0x20)) {
                self.i = start + seg.len() + 1;
                return Ok(Cow::Borrowed(seg));
            }
        }
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let s = self.b.get(start..self.i).unwrap_or(&[]);
                    self.i += 1;
                    return std::str::from_utf8(s)
                        .map(Cow::Borrowed)
                        .or_else(|_| jerr(start, "string is not UTF-8"));
                }
                b'\\' => break,
                0..=0x1f => return jerr(self.i, "control character in string"),
                _ => self.i += 1,
            }
        }
        let mut out: Vec<u8> = self.b.get(start..self.i).unwrap_or(&[]).to_vec();
        loop {
            let Some(c) = self.peek() else {
                return jerr(self.i, "unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return jerr(self.i, "unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xd800..0xdc00).contains(&cp) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return jerr(self.i, "lone surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return jerr(self.i, "bad surrogate pair");
                                }
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                            }
                            let ch = char::from_u32(cp).ok_or(PayloadError::Json {
                                offset: self.i,
                                what: "bad code point",
                            })?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return jerr(self.i - 1, "unknown escape"),
                    }
                }
                0..=0x1f => return jerr(self.i - 1, "control character in string"),
                _ => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Cow::Owned)
            .or_else(|_| jerr(start, "string is not UTF-8"))
    }
    /// Reads a JSON string holding MIME base64 straight into `scratch`, dropping the `\n`
    /// (and `\r`) escapes; other escapes fall back to the general string parser.
    fn base64_string(&mut self, scratch: &mut Vec<u8>) -> Result<(), PayloadError> {
        self.ws();
        if self.peek() != Some(b'"') {
            return jerr(self.i, "string expected");
        }
        let start = self.i;
        self.i += 1;
        scratch.clear();
        let region = self
            .text
            .get(self.i..)
            .and_then(|rest| rest.find('"').and_then(|q| rest.get(..q)));
        let Some(region) = region else {
            return jerr(self.i, "unterminated string");
        };
        let bytes = region.as_bytes();
        let mut pos = 0;
        loop {
            let next = region.get(pos..).and_then(|r| r.find('\\'));
            match next {
                None => {
                    scratch.extend_from_slice(bytes.get(pos..).unwrap_or(&[]));
                    self.i += region.len() + 1;
                    return Ok(());
                }
                Some(p) => {
                    scratch.extend_from_slice(bytes.get(pos..pos + p).unwrap_or(&[]));
                    match bytes.get(pos + p + 1) {
                        Some(b'n' | b'r') => pos += p + 2,
                        _ => {
                            // Another escape: the general parser decides.
                            self.i = start;
                            let text = self.string()?;
                            scratch.clear();
                            scratch.extend(text.bytes().filter(|&c| c != b'\n' && c != b'\r'));
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    fn uint(&mut self) -> Result<u32, PayloadError> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v * 10 + u64::from(c - b'0');
            if v > u64::from(u32::MAX) {
                return Err(PayloadError::Epochs);
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(PayloadError::Epochs);
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(PayloadError::Epochs);
        }
        Ok(v as u32)
    }
    fn skip_value(&mut self) -> Result<(), PayloadError> {
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'[') | Some(b'{') => {
                let mut depth = 0usize;
                loop {
                    self.ws();
                    match self.peek() {
                        None => return jerr(self.i, "unterminated container"),
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'[' | b'{') => depth += 1,
                        Some(b']' | b'}') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    return jerr(self.i, "value expected");
                }
                Ok(())
            }
            None => jerr(self.i, "value expected"),
        }
    }
}

/// Decodes MIME base64: newlines (and carriage returns) are dropped, other characters
/// outside the alphabet are errors. `scratch` is reused to avoid allocations.
pub fn decode_mime_base64(
    text: &str,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), PayloadError> {
    scratch.clear();
    scratch.extend(text.bytes().filter(|&c| c != b'\n' && c != b'\r'));
    decode_base64(scratch, out)
}

/// Decodes base64 text that has no line breaks left. The SIMD decoder does the work; on bad
/// input the `base64` crate decodes again for a message that says what and where.
pub(crate) fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> Result<(), PayloadError> {
    out.clear();
    // Into the vector's spare capacity: nothing is zeroed first.
    if base64_simd::STANDARD.decode_append(text, out).is_ok() {
        return Ok(());
    }
    // Refused: the `base64` crate says why.
    out.clear();
    out.resize(text.len() / 4 * 3 + 3, 0);
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(text, &mut out[..])
        .map_err(|e| PayloadError::Base64(e.to_string()))?;
    out.truncate(n);
    Ok(())
}

/// Encodes MIME base64 the Python `base64.encodebytes` way: 76-char lines, each followed by
/// a newline, the last one included.
pub fn encode_mime_base64(bytes: &[u8]) -> String {
    let plain = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(plain.len() + plain.len() / 76 + 1);
    for chunk in plain.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out
}

/// Parses the payload's JSON list and decodes the metrics; matrix and ops stay as text.
pub fn decode_raw<'a>(
    payload: &'a [u8],
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Result<RawRecord<'a>, PayloadError> {
    let (hash, epochs, matrix, ops) = decode_fields(payload, scratch, proto)?;
    let metrics = ModelMetrics::decode(proto)?;
    Ok(RawRecord {
        hash,
        epochs,
        matrix,
        ops,
        metrics,
    })
}

/// Hash, epochs, adjacency text and ops text of a payload.
pub(crate) type Fields<'a> = (ModelHash, u32, Cow<'a, str>, Cow<'a, str>);

/// The JSON list; the protobuf bytes are left in `proto`.
pub(crate) fn decode_fields<'a>(
    payload: &'a [u8],
    scratch: &mut Vec<u8>,
    proto: &mut Vec<u8>,
) -> Result<Fields<'a>, PayloadError> {
    let text = std::str::from_utf8(payload).map_err(|e| PayloadError::Json {
        offset: e.valid_up_to(),
        what: "payload is not UTF-8",
    })?;
    let mut j = Json {
        b: payload,
        text,
        i: 0,
    };
    j.eat(b'[', "'[' expected")?;
    let hash_text = j.string()?;
    let hash = ModelHash::from_hex_bytes(hash_text.as_bytes())
        .ok_or_else(|| PayloadError::Hash(hash_text.to_string()))?;
    j.eat(b',', "',' expected after the hash")?;
    let epochs = j.uint()?;
    j.eat(b',', "',' expected after the epochs")?;
    let matrix = j.string()?;
    j.eat(b',', "',' expected after the adjacency")?;
    let ops = j.string()?;
    j.eat(b',', "',' expected after the ops")?;
    j.base64_string(scratch)?;
    j.ws();
    if j.peek() != Some(b']') {
        // Count the remaining elements for a clear message.
        let mut found = 5;
        while j.peek() == Some(b',') {
            j.i += 1;
            j.skip_value()?;
            found += 1;
            j.ws();
        }
        if j.peek() == Some(b']') {
            return Err(PayloadError::Arity { found });
        }
        return jerr(j.i, "']' expected");
    }
    j.i += 1;
    j.ws();
    if j.i != payload.len() {
        return jerr(j.i, "trailing bytes after the list");
    }
    decode_base64(scratch, proto)?;
    Ok((hash, epochs, matrix, ops))
}

/// Parses the flattened 0/1 adjacency text into a square matrix.
pub fn parse_matrix(text: &str) -> Result<Vec<Vec<u8>>, PayloadError> {
    let len = text.len();
    let n = (len as f64).sqrt().round() as usize;
    if n == 0 || n * n != len {
        return Err(PayloadError::Matrix("length is not a positive square"));
    }
    let mut rows = Vec::with_capacity(n);
    for chunk in text.as_bytes().chunks(n) {
        let mut row = Vec::with_capacity(n);
        for &c in chunk {
            match c {
                b'0' => row.push(0),
                b'1' => row.push(1),
                _ => return Err(PayloadError::Matrix("characters other than 0 and 1")),
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Decodes a whole payload into owned fields.
pub fn decode_payload(payload: &[u8]) -> Result<Record, PayloadError> {
    let mut scratch = Vec::new();
    let mut proto = Vec::new();
    let raw = decode_raw(payload, &mut scratch, &mut proto)?;
    Ok(Record {
        hash: raw.hash,
        epochs: raw.epochs,
        matrix: parse_matrix(&raw.matrix)?,
        ops: raw.ops.split(',').map(str::to_string).collect(),
        metrics: raw.metrics,
    })
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                // json.dumps escapes non-ASCII as \uXXXX (ensure_ascii=True).
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
            c => out.push(c as u8),
        }
    }
    out.push(b'"');
}

/// Encodes a record payload exactly like the released files (`json.dumps` default style).
pub fn encode_payload(
    hash: &ModelHash,
    epochs: u32,
    matrix: &[Vec<u8>],
    ops: &[String],
    metrics: &ModelMetrics,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(420);
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(&hash.to_hex_bytes());
    out.extend_from_slice(b"\", ");
    out.extend_from_slice(epochs.to_string().as_bytes());
    out.extend_from_slice(b", \"");
    for row in matrix {
        for &v in row {
            out.push(if v != 0 { b'1' } else { b'0' });
        }
    }
    out.extend_from_slice(b"\", ");
    push_json_string(&mut out, &ops.join(","));
    out.extend_from_slice(b", ");
    push_json_string(&mut out, &encode_mime_base64(&metrics.encode()));
    out.push(b']');
    out
}

impl Record {
    /// This record's payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_payload(
            &self.hash,
            self.epochs,
            &self.matrix,
            &self.ops,
            &self.metrics,
        )
    }
}
