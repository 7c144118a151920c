//! Packing a record's cell for the models section: the adjacency text read eight cells at a
//! time and the op names matched by fixed-length comparisons. Each fast reading is tested by
//! proptest against the cell-by-cell, name-by-name reading it must agree with (faults
//! included), which is also the fallback that names the first fault.

use crate::hash::ModelHash;
use crate::layout::{op_code_bytes, MAX_STORED_VERTICES};
use crate::record::PayloadError;

/// A model's fixed data packed for the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedModel {
    pub hash: ModelHash,
    pub params: i32,
    pub adj: u32,
    pub ops: u32,
    pub nv: u8,
}

/// Packs an adjacency (flattened 0/1 text or rows) and op names.
pub(crate) fn pack_model(
    hash: ModelHash,
    params: i32,
    matrix_text: &str,
    ops_text: &str,
) -> Result<PackedModel, PayloadError> {
    let len = matrix_text.len();
    let n = (1..=len).take_while(|k| k * k <= len).last().unwrap_or(0);
    if n == 0 || n * n != len {
        return Err(PayloadError::Matrix("length is not a positive square"));
    }
    if n > MAX_STORED_VERTICES {
        return Err(PayloadError::Matrix("more than 7 vertices"));
    }
    let bytes = matrix_text.as_bytes();
    // Eight cells at a time: '0'/'1' become bits of a row-major mask; anything else, or a 1
    // on or below the diagonal, goes to the cell-by-cell loop below, which names the first
    // fault in reading order.
    let (mut mask, mut bad) = (0u64, 0u64);
    for (k, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [b'0'; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let d = u64::from_le_bytes(w) ^ 0x3030_3030_3030_3030;
        bad |= d & 0xfefe_fefe_fefe_fefe;
        // Gathers bit 0 of every byte into one byte (byte i to bit i; no carries).
        let bits = (d & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        mask |= bits << (8 * k);
    }
    if bad == 0 && mask & LOWER_TRIANGLE[n] == 0 {
        let (mut adj, mut bit) = (0u32, 0);
        for r in 0..n {
            let row = (mask >> (r * n)) & ((1 << n) - 1);
            adj |= ((row >> (r + 1)) as u32) << bit;
            bit += n - r - 1;
        }
        return pack_ops(hash, params, adj, n, ops_text);
    }
    let mut adj = 0u32;
    let mut bit = 0;
    for r in 0..n {
        for c in 0..n {
            let v = bytes.get(r * n + c).copied().unwrap_or(b'0');
            match (v, c > r) {
                (b'0', _) => {}
                (b'1', true) => adj |= 1 << bit,
                (b'1', false) => return Err(PayloadError::Matrix("not strictly upper triangular")),
                _ => return Err(PayloadError::Matrix("characters other than 0 and 1")),
            }
            if c > r {
                bit += 1;
            }
        }
    }
    pack_ops(hash, params, adj, n, ops_text)
}

/// Bits (r, c) with c ≤ r of an n × n row-major mask, for n up to 7.
const LOWER_TRIANGLE: [u64; MAX_STORED_VERTICES + 1] = {
    let mut t = [0u64; MAX_STORED_VERTICES + 1];
    let mut n = 1;
    while n <= MAX_STORED_VERTICES {
        let mut r = 0;
        while r < n {
            let mut c = 0;
            while c <= r {
                t[n] |= 1 << (r * n + c);
                c += 1;
            }
            r += 1;
        }
        n += 1;
    }
    t
};

/// The op codes part of [`pack_model`].
fn pack_ops(
    hash: ModelHash,
    params: i32,
    adj: u32,
    n: usize,
    ops_text: &str,
) -> Result<PackedModel, PayloadError> {
    if let Some(ops) = ops_fast(ops_text.as_bytes(), n) {
        return Ok(PackedModel {
            hash,
            params,
            adj,
            ops,
            nv: n as u8,
        });
    }
    let mut ops = 0u32;
    let mut count = 0usize;
    // A byte split: op names are short, a memchr call per name costs more than it saves.
    for (v, name) in ops_text.as_bytes().split(|&c| c == b',').enumerate() {
        let code = op_code_bytes(name).ok_or(PayloadError::Ops("unknown op name"))?;
        if v < MAX_STORED_VERTICES {
            ops |= code << (3 * v);
        }
        count += 1;
    }
    if count != n {
        return Err(PayloadError::Ops("op count differs from vertex count"));
    }
    Ok(PackedModel {
        hash,
        params,
        adj,
        ops,
        nv: n as u8,
    })
}

/// Op codes of exactly `n` comma-separated known names, matched by first byte and fixed-length
/// comparisons; `None` for anything else (then [`pack_ops`] names the fault).
fn ops_fast(b: &[u8], n: usize) -> Option<u32> {
    let (mut ops, mut i, mut v) = (0u32, 0usize, 0usize);
    // Fixed-size comparisons compile to a few word compares, not memcmp calls.
    fn is<const N: usize>(b: &[u8], i: usize, name: &[u8; N]) -> bool {
        b.get(i..i + N).is_some_and(|s| s == name)
    }
    loop {
        let (code, len) = match b.get(i)? {
            b'i' if is(b, i, b"input") => (3, 5),
            b'o' if is(b, i, b"output") => (4, 6),
            b'c' if is(b, i, b"conv3x3-bn-relu") => (0, 15),
            b'c' if is(b, i, b"conv1x1-bn-relu") => (1, 15),
            b'm' if is(b, i, b"maxpool3x3") => (2, 10),
            _ => return None,
        };
        if v >= MAX_STORED_VERTICES {
            return None;
        }
        ops |= code << (3 * v);
        v += 1;
        i += len;
        match b.get(i) {
            None => return (v == n).then_some(ops),
            Some(b',') => i += 1,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{op_code, op_name};
    use proptest::prelude::*;

    /// The cell-by-cell reading `pack_model` must agree with, faults included.
    fn reference_adjacency(bytes: &[u8], n: usize) -> Result<u32, &'static str> {
        let mut adj = 0u32;
        let mut bit = 0;
        for r in 0..n {
            for c in 0..n {
                match (bytes[r * n + c], c > r) {
                    (b'0', _) => {}
                    (b'1', true) => adj |= 1 << bit,
                    (b'1', false) => return Err("not strictly upper triangular"),
                    _ => return Err("characters other than 0 and 1"),
                }
                if c > r {
                    bit += 1;
                }
            }
        }
        Ok(adj)
    }

    /// The name-by-name reading of the ops.
    fn reference_ops(text: &str, n: usize) -> Result<u32, &'static str> {
        let mut ops = 0u32;
        let names: Vec<&str> = text.split(',').collect();
        for (v, name) in names.iter().enumerate() {
            let code = op_code(name).ok_or("unknown op name")?;
            if v < 7 {
                ops |= code << (3 * v);
            }
        }
        if names.len() != n {
            return Err("op count differs from vertex count");
        }
        Ok(ops)
    }

    proptest! {
        /// One byte of a valid op list changed, inserted or removed: the fast reading agrees
        /// with the name-by-name one, which refuses any name not spelled exactly.
        #[test]
        fn fast_op_reading_agrees_on_near_misses(
            codes in proptest::collection::vec(0u32..5, 1..=7),
            at in any::<usize>(),
            byte in prop_oneof![
                Just(b','), Just(b'-'), Just(b'x'), Just(b'3'), Just(b'1'), Just(b't'),
                Just(b'u'), Just(b'o'), Just(b'c'), any::<u8>()
            ],
            edit in 0u8..3,
        ) {
            let n = codes.len();
            let mut text = codes.iter().map(|&c| op_name(c)).collect::<Vec<_>>().join(",").into_bytes();
            let at = at % text.len();
            match edit {
                0 => text[at] = byte,
                1 => text.insert(at, byte),
                _ => { text.remove(at); }
            }
            let want = std::str::from_utf8(&text).ok().and_then(|t| reference_ops(t, n).ok());
            prop_assert_eq!(ops_fast(&text, n), want);
        }

        #[test]
        fn packing_matches_a_cell_by_cell_and_name_by_name_reading(
            n in 1usize..=7,
            cells in proptest::collection::vec(
                prop_oneof![8 => Just(b'0'), 6 => Just(b'1'), 1 => Just(b'2'), 1 => Just(b'x')],
                49,
            ),
            upper_only in any::<bool>(),
            names in proptest::collection::vec(
                prop_oneof![
                    3 => Just("conv3x3-bn-relu"),
                    3 => Just("conv1x1-bn-relu"),
                    3 => Just("maxpool3x3"),
                    2 => Just("input"),
                    2 => Just("output"),
                    1 => Just("conv3x3"),
                    1 => Just(""),
                    1 => Just("inputs"),
                    1 => Just("conv1x1-bn-relu "),
                ],
                0..10,
            ),
            right_count in any::<bool>(),
        ) {
            let mut m = cells[..n * n].to_vec();
            if upper_only {
                for r in 0..n {
                    for c in 0..=r {
                        if m[r * n + c] == b'1' {
                            m[r * n + c] = b'0';
                        }
                    }
                }
            }
            let text = String::from_utf8(m.clone()).unwrap();
            let mut names = names;
            if right_count {
                names.resize(n, "maxpool3x3");
            }
            let ops = names.join(",");
            let got = pack_model(ModelHash([0; 16]), 1, &text, &ops).map(|p| (p.adj, p.ops));
            let want = match reference_adjacency(&m, n) {
                Err(what) => Err(PayloadError::Matrix(what)),
                Ok(adj) => reference_ops(&ops, n)
                    .map(|o| (adj, o))
                    .map_err(PayloadError::Ops),
            };
            prop_assert_eq!(got, want);
        }
    }
}
