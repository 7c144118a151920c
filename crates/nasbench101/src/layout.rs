//! The store format: every fixed layout of a store file, each one type with `encode` and
//! `decode`, used by the writer ([`crate::convert`]) and the reader ([`crate::Nb101`]). A
//! parsed tfrecord is held in memory in the same layout, so both sources answer through the
//! same code.
//!
//! Layout (all integers little-endian, offsets u64):
//!
//! | part | size | content |
//! |---|---|---|
//! | header ([`StoreHeader`]) | 128 | magic `NB1S1-NB101STORE`, version 2, flags (bit 0: values are f32, bit 1: synthetic), counts, budgets, section offsets, CRC32C of the metadata sections, of the data section and of the header |
//! | data | 8 values × (4 or 8) × data points | per model, budgets ascending, repeats in file order |
//! | models ([`ModelEntry`]) | 48 × models | file order: hash, first data point, params, adjacency bits, op codes, vertex count, repeats per budget |
//! | index ([`IndexEntry`]) | 20 × models | (hash, model number) sorted by hash |
//! | directory | 4 × 65537 | first index slot per 16-bit hash prefix |
//!
//! The data section comes first so that a convert streams values to disk while it parses
//! (version 1 had it last).

use crate::hash::ModelHash;
use crate::op::{Op, INPUT, OUTPUT};

pub(crate) const MAGIC: &[u8; 16] = b"NB1S1-NB101STORE";
/// Version 2 puts the data section first, so a convert can write values as it parses.
pub(crate) const VERSION: u32 = 2;
pub(crate) const HEADER_LEN: usize = 128;
pub(crate) const MODEL_LEN: usize = 48;
pub(crate) const INDEX_LEN: usize = 20;
pub(crate) const DIR_SLOTS: usize = 65537;
pub(crate) const DIR_LEN: usize = DIR_SLOTS * 4;
/// Most distinct epoch budgets a table can hold.
pub const MAX_BUDGETS: usize = 8;
/// Most vertices a stored model may have.
pub const MAX_STORED_VERTICES: usize = 7;
const FLAG_F32: u32 = 1;
const FLAG_SYNTHETIC: u32 = 2;

/// The reserved hash of the marker record that labels a file as synthetic
/// (md5 of "nb1s1 synthetic NAS-Bench-101 data"); readers skip it.
pub const SYNTHETIC_MARKER: ModelHash = ModelHash([
    0x13, 0xb1, 0xfa, 0xd9, 0x68, 0x52, 0x2d, 0x39, 0x1f, 0x7f, 0x32, 0x29, 0x5e, 0x0d, 0x8c, 0xc9,
]);

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The store header: what the file holds and where its sections lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreHeader {
    /// Values are f32 (every one round-trips exactly), else f64.
    pub f32_values: bool,
    pub synthetic: bool,
    pub n_models: u64,
    pub n_datapoints: u64,
    /// Ascending, at most [`MAX_BUDGETS`].
    pub budgets: Vec<u32>,
    /// CRC32C of everything after the data section.
    pub meta_crc: u32,
    /// CRC32C of the data section.
    pub data_crc: u32,
}

/// Byte offsets of the sections, as a header's counts imply them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sections {
    pub data: u64,
    pub models: u64,
    pub index: u64,
    pub dir: u64,
    /// The file's length.
    pub end: u64,
}

/// Why a header is refused: the byte it is about and what is wrong.
#[derive(Debug)]
pub(crate) struct HeaderError {
    pub offset: u64,
    pub what: String,
}

fn bad(offset: u64, what: impl Into<String>) -> HeaderError {
    HeaderError {
        offset,
        what: what.into(),
    }
}

impl StoreHeader {
    /// Bytes per value: 4 or 8.
    pub(crate) fn width(&self) -> u64 {
        if self.f32_values {
            4
        } else {
            8
        }
    }

    /// Where the sections lie; `None` when the counts overflow a u64.
    pub(crate) fn sections(&self) -> Option<Sections> {
        let data = HEADER_LEN as u64;
        let models = self
            .n_datapoints
            .checked_mul(8 * self.width())?
            .checked_add(data)?;
        let index = self
            .n_models
            .checked_mul(MODEL_LEN as u64)?
            .checked_add(models)?;
        let dir = self
            .n_models
            .checked_mul(INDEX_LEN as u64)?
            .checked_add(index)?;
        let end = dir.checked_add(DIR_LEN as u64)?;
        Some(Sections {
            data,
            models,
            index,
            dir,
            end,
        })
    }

    /// The 128 header bytes, their own CRC last. `sections` are [`StoreHeader::sections`].
    pub(crate) fn encode(&self, s: &Sections) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..16].copy_from_slice(MAGIC);
        h[16..20].copy_from_slice(&VERSION.to_le_bytes());
        let flags = if self.f32_values { FLAG_F32 } else { 0 }
            | if self.synthetic { FLAG_SYNTHETIC } else { 0 };
        h[20..24].copy_from_slice(&flags.to_le_bytes());
        h[24..32].copy_from_slice(&self.n_models.to_le_bytes());
        h[32..40].copy_from_slice(&self.n_datapoints.to_le_bytes());
        h[40..44].copy_from_slice(&(self.budgets.len() as u32).to_le_bytes());
        for (slot, b) in self.budgets.iter().take(MAX_BUDGETS).enumerate() {
            h[44 + 4 * slot..48 + 4 * slot].copy_from_slice(&b.to_le_bytes());
        }
        h[76..80].copy_from_slice(&self.meta_crc.to_le_bytes());
        h[80..88].copy_from_slice(&s.models.to_le_bytes());
        h[88..96].copy_from_slice(&s.index.to_le_bytes());
        h[96..104].copy_from_slice(&s.dir.to_le_bytes());
        h[104..112].copy_from_slice(&s.data.to_le_bytes());
        h[112..120].copy_from_slice(&s.end.to_le_bytes());
        h[120..124].copy_from_slice(&self.data_crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&h[..124]);
        h[124..128].copy_from_slice(&header_crc.to_le_bytes());
        h
    }

    /// Reads and checks the header of the store `file` (all of it: its length must be the one
    /// the header implies): magic, version, the header's CRC, budgets and section offsets.
    pub(crate) fn decode(file: &[u8]) -> Result<(StoreHeader, Sections), HeaderError> {
        if file.len() < HEADER_LEN {
            return Err(bad(
                file.len() as u64,
                format!("truncated header ({} of {HEADER_LEN} bytes)", file.len()),
            ));
        }
        if file.get(..16) != Some(&MAGIC[..]) {
            return Err(bad(0, "wrong magic"));
        }
        let version = le_u32(file, 16);
        if version != VERSION {
            return Err(bad(
                16,
                format!(
                    "unsupported version {version} (this build reads {VERSION}); convert the \
                     tfrecord again (`nb1s1 nb101 convert`)"
                ),
            ));
        }
        if crc32c::crc32c(&file[..124]) != le_u32(file, 124) {
            return Err(bad(124, "header checksum mismatch"));
        }
        let flags = le_u32(file, 20);
        let nb = le_u32(file, 40) as usize;
        if nb > MAX_BUDGETS {
            return Err(bad(40, format!("{nb} budgets, at most {MAX_BUDGETS}")));
        }
        let budgets: Vec<u32> = (0..nb).map(|s| le_u32(file, 44 + 4 * s)).collect();
        if budgets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(44, "budgets not strictly ascending"));
        }
        let header = StoreHeader {
            f32_values: flags & FLAG_F32 != 0,
            synthetic: flags & FLAG_SYNTHETIC != 0,
            n_models: le_u64(file, 24),
            n_datapoints: le_u64(file, 32),
            budgets,
            meta_crc: le_u32(file, 76),
            data_crc: le_u32(file, 120),
        };
        let s = header
            .sections()
            .ok_or_else(|| bad(24, "section sizes overflow"))?;
        let stated = [
            (80, s.models),
            (88, s.index),
            (96, s.dir),
            (104, s.data),
            (112, s.end),
        ];
        for (at, want) in stated {
            if le_u64(file, at) != want {
                return Err(bad(at as u64, "inconsistent section offsets"));
            }
        }
        let len = file.len() as u64;
        if len < s.end {
            return Err(bad(
                len,
                format!("truncated: {len} bytes, header says {}", s.end),
            ));
        }
        if len > s.end {
            return Err(bad(s.end, format!("{} trailing bytes", len - s.end)));
        }
        Ok((header, s))
    }
}

/// One entry of the models section: a model's fixed data and where its values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelEntry {
    pub hash: ModelHash,
    /// Its first data point; the others follow, budgets ascending.
    pub first_dp: u64,
    /// `trainable_parameters` of its first record.
    pub params: i32,
    /// Upper-triangle bits, row by row ([`unpack_adjacency`]).
    pub adj: u32,
    /// 3-bit op codes, vertex 0 lowest ([`op_code`]).
    pub ops: u32,
    /// Number of vertices.
    pub nv: u8,
    /// Repeats per budget slot (the header's budgets).
    pub counts: [u8; MAX_BUDGETS],
}

impl ModelEntry {
    pub(crate) fn encode(&self) -> [u8; MODEL_LEN] {
        let mut e = [0u8; MODEL_LEN];
        e[0..16].copy_from_slice(&self.hash.0);
        e[16..24].copy_from_slice(&self.first_dp.to_le_bytes());
        e[24..28].copy_from_slice(&self.params.to_le_bytes());
        e[28..32].copy_from_slice(&self.adj.to_le_bytes());
        e[32..36].copy_from_slice(&self.ops.to_le_bytes());
        e[36] = self.nv;
        e[37..37 + MAX_BUDGETS].copy_from_slice(&self.counts);
        e
    }

    /// Reads an entry (missing bytes read as zeros; the store's CRC has vouched for them).
    /// Inlined, a caller that uses one field reads only that field.
    #[inline]
    pub(crate) fn decode(e: &[u8]) -> ModelEntry {
        let mut hash = [0u8; 16];
        if let Some(h) = e.get(..16) {
            hash.copy_from_slice(h);
        }
        let mut counts = [0u8; MAX_BUDGETS];
        if let Some(c) = e.get(37..37 + MAX_BUDGETS) {
            counts.copy_from_slice(c);
        }
        ModelEntry {
            hash: ModelHash(hash),
            first_dp: le_u64(e, 16),
            params: le_u32(e, 24) as i32,
            adj: le_u32(e, 28),
            ops: le_u32(e, 32),
            nv: e.get(36).copied().unwrap_or(0),
            counts,
        }
    }
}

/// One entry of the index section: a hash and its model's position in the models section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub hash: ModelHash,
    pub model: u32,
}

impl IndexEntry {
    pub(crate) fn encode(&self) -> [u8; INDEX_LEN] {
        let mut e = [0u8; INDEX_LEN];
        e[..16].copy_from_slice(&self.hash.0);
        e[16..].copy_from_slice(&self.model.to_le_bytes());
        e
    }

    /// The model number of an entry (its hash is compared in place by the lookup).
    pub(crate) fn decode_model(e: &[u8]) -> u32 {
        le_u32(e, 16)
    }
}

/// Op code of a vertex in the store: interior ops by label, then input and output.
pub(crate) fn op_code(name: &str) -> Option<u32> {
    op_code_bytes(name.as_bytes())
}

/// [`op_code`] of a name given as bytes (the names are [`INPUT`], [`OUTPUT`] and
/// [`Op::name`]; the unit test checks they agree).
pub(crate) fn op_code_bytes(name: &[u8]) -> Option<u32> {
    match name {
        b"input" => Some(3),
        b"output" => Some(4),
        b"conv3x3-bn-relu" => Some(Op::Conv3x3.label() as u32),
        b"conv1x1-bn-relu" => Some(Op::Conv1x1.label() as u32),
        b"maxpool3x3" => Some(Op::MaxPool3x3.label() as u32),
        _ => None,
    }
}

pub(crate) fn op_name(code: u32) -> &'static str {
    match code {
        3 => INPUT,
        4 => OUTPUT,
        c => Op::from_label(c as i32).map_or("?", Op::name),
    }
}

/// Rows of a packed adjacency.
pub(crate) fn unpack_adjacency(adj: u32, nv: usize) -> Vec<Vec<u8>> {
    let mut m = vec![vec![0u8; nv]; nv];
    let mut bit = 0;
    for (r, row) in m.iter_mut().enumerate() {
        for cell in row.iter_mut().skip(r + 1) {
            *cell = ((adj >> bit) & 1) as u8;
            bit += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> StoreHeader {
        StoreHeader {
            f32_values: true,
            synthetic: true,
            n_models: 3,
            n_datapoints: 9,
            budgets: vec![4, 12, 36, 108],
            meta_crc: 0xdead_beef,
            data_crc: 0x1234_5678,
        }
    }

    #[test]
    fn a_header_decodes_to_itself_and_refuses_a_wrong_length() {
        let h = header();
        let s = h.sections().unwrap();
        assert_eq!(s.models, 128 + 9 * 32);
        assert_eq!(s.end, s.dir + DIR_LEN as u64);
        let mut file = vec![0u8; s.end as usize];
        file[..HEADER_LEN].copy_from_slice(&h.encode(&s));
        assert_eq!(StoreHeader::decode(&file).unwrap(), (h.clone(), s));
        file.push(0);
        let e = StoreHeader::decode(&file).unwrap_err();
        assert_eq!((e.offset, e.what.as_str()), (s.end, "1 trailing bytes"));
        file.truncate(s.end as usize);
        file[50] ^= 1;
        assert_eq!(StoreHeader::decode(&file).unwrap_err().offset, 124);
    }

    #[test]
    fn entries_decode_to_themselves() {
        let m = ModelEntry {
            hash: ModelHash([7; 16]),
            first_dp: 1 << 40,
            params: -3,
            adj: 0x1f_ffff,
            ops: 0o4_2103,
            nv: 7,
            counts: [3, 0, 255, 1, 0, 0, 0, 9],
        };
        assert_eq!(ModelEntry::decode(&m.encode()), m);
        let i = IndexEntry {
            hash: m.hash,
            model: 77,
        };
        let e = i.encode();
        assert_eq!(
            (&e[..16], IndexEntry::decode_model(&e)),
            (&m.hash.0[..], 77)
        );
    }

    #[test]
    fn op_codes_follow_the_op_names() {
        assert_eq!(op_code(INPUT), Some(3));
        assert_eq!(op_code(OUTPUT), Some(4));
        for op in Op::ALL {
            assert_eq!(op_code(op.name()), Some(op.label() as u32));
            assert_eq!(op_name(op.label() as u32), op.name());
        }
        assert_eq!(op_code("conv3x3"), None);
    }
}
