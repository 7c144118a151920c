//! The NAS-Bench-101 graph hash (`graph_util.hash_module`): an MD5-based Weisfeiler-Lehman
//! style fingerprint that is invariant under vertex relabelling (isomorphism).
//!
//! Digests are kept as raw 16-byte arrays; sorting raw digests gives the same order as sorting
//! their lowercase hex strings, so hex text is only produced where it is fed to MD5.

use md5::{Digest, Md5};
use std::fmt;
use std::str::FromStr;

/// A module fingerprint: the MD5 digest whose 32 lowercase hex characters key the data files.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelHash(pub [u8; 16]);

/// Why a text is not a module hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a module hash (32 hex characters expected): {0:?}")]
pub struct ParseHashError(pub String);

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The two hex digits of every byte (the graph hash formats 8 digests a vertex).
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

impl ModelHash {
    /// Lowercase hex digits written into a fixed buffer (no allocation).
    pub fn to_hex_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (pair, &b) in out.chunks_exact_mut(2).zip(&self.0) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        out
    }

    /// Parses 32 hex characters (either case) given as bytes.
    pub fn from_hex_bytes(text: &[u8]) -> Option<ModelHash> {
        let text: &[u8; 32] = text.try_into().ok()?;
        let mut out = [0u8; 16];
        let mut ok = true;
        // Eight digits at a time, in the lanes of a u64 (every record that starts a model
        // is keyed by one of these).
        for (o, chunk) in out.chunks_exact_mut(4).zip(text.chunks_exact(8)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let (bytes, valid) = hex8(u64::from_le_bytes(w));
            o.copy_from_slice(&bytes.to_le_bytes());
            ok &= valid;
        }
        ok.then_some(ModelHash(out))
    }

    /// [`ModelHash::from_hex_bytes`] one digit at a time (the reference it must agree with).
    #[cfg(test)]
    fn from_hex_bytes_by_table(text: &[u8]) -> Option<ModelHash> {
        let text: &[u8; 32] = text.try_into().ok()?;
        let mut out = [0u8; 16];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            // Invalid digits map to 0x10, which no valid digit has: one test at the end.
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0xf);
        }
        (bad & 0x10 == 0).then_some(ModelHash(out))
    }
}

/// Eight hex digits (the first in the lowest byte) as four bytes, and whether all eight are
/// digits. Bytes are compared lane by lane on their low seven bits, which cannot borrow
/// across lanes; the high bit is checked on its own.
#[inline]
fn hex8(x: u64) -> (u32, bool) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // High bit of each lane set where the lane is >= c, or <= c (lanes below 0x80).
    let at_least = |c: u8| ((low7 | HIGH) - ONES * u64::from(c)) & HIGH;
    let at_most = |c: u8| (((ONES * u64::from(c)) | HIGH) - low7) & HIGH;
    let folded = low7 | (ONES * 0x20);
    let at_least_folded = ((folded | HIGH) - ONES * u64::from(b'a')) & HIGH;
    let at_most_folded = (((ONES * u64::from(b'f')) | HIGH) - folded) & HIGH;
    let digit = at_least(b'0') & at_most(b'9');
    let letter = at_least_folded & at_most_folded;
    let valid = ((digit | letter) & !x & HIGH) == HIGH;
    // '0'-'9' -> 0-9; 'a'-'f' and 'A'-'F' (bit 6 set) -> 1-6 plus 9.
    let v = (low7 & (ONES * 0x0f)) + ((low7 >> 6) & ONES) * 9;
    // Lane pairs (first digit, second digit) become bytes, then the four bytes are packed.
    let pairs = ((v & 0x00ff_00ff_00ff_00ff) << 4) | ((v >> 8) & 0x00ff_00ff_00ff_00ff);
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let pairs = (pairs | (pairs >> 16)) & 0x0000_0000_ffff_ffff;
    (pairs as u32, valid)
}

/// The value of every hex digit (either case); 0x10 marks a byte that is not one.
#[cfg(test)]
const HEX_VALUE: [u8; 256] = {
    let mut t = [0x10u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl fmt::Display for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex_bytes();
        // Hex digits are ASCII, so this cannot fail.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelHash({self})")
    }
}

impl FromStr for ModelHash {
    type Err = ParseHashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelHash::from_hex_bytes(s.as_bytes()).ok_or_else(|| ParseHashError(s.to_string()))
    }
}

impl serde::Serialize for ModelHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModelHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Digests the messages `buf[ends[i - 1]..ends[i]]` into `out`.
fn digest_messages(buf: &[u8], ends: &[usize], out: &mut [[u8; 16]]) {
    use crate::md5_lanes::{digest_many, LANES};
    let mut start = 0;
    for (ends, out) in ends.chunks(LANES).zip(out.chunks_mut(LANES)) {
        let mut msgs: [&[u8]; LANES] = [&[]; LANES];
        for (m, &end) in msgs.iter_mut().zip(ends) {
            *m = &buf[start..end];
            start = end;
        }
        digest_many(&msgs[..ends.len()], out);
    }
}

/// Writes the decimal text of `v` into `buf`, returning the used tail.
fn write_int(buf: &mut [u8; 24], v: i64) -> &[u8] {
    let mut pos = buf.len();
    let neg = v < 0;
    let mut x = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

/// The official graph hash of a (pruned) module: `matrix` is the adjacency matrix (any non-zero
/// entry is an edge; degrees sum the entries, as numpy does) and `labels` the per-vertex labels
/// (-1 input, -2 output, op index otherwise). Extra matrix cells beyond `labels.len()` are
/// ignored; missing cells count as 0.
///
/// Each round's MD5 inputs are assembled in one reused buffer and digested together, several
/// messages side by side (`md5_lanes`); per round the hex text of every vertex is produced once.
pub fn hash_module(matrix: &[Vec<u8>], labels: &[i32]) -> ModelHash {
    let n = labels.len();
    let cell = |r: usize, c: usize| -> u8 {
        matrix
            .get(r)
            .and_then(|row| row.get(c))
            .copied()
            .unwrap_or(0)
    };
    let mut buf: Vec<u8> = Vec::with_capacity(160 * n + 64);
    // ends[v]: where vertex v's message ends in `buf`.
    let mut ends: Vec<usize> = Vec::with_capacity(n);
    // Round 0: md5 of the Python tuple text "(out, in, label)".
    for (v, &label) in labels.iter().enumerate() {
        let out_deg: i64 = (0..n).map(|w| i64::from(cell(v, w))).sum();
        let in_deg: i64 = (0..n).map(|w| i64::from(cell(w, v))).sum();
        let mut num = [0u8; 24];
        buf.push(b'(');
        buf.extend_from_slice(write_int(&mut num, out_deg));
        buf.extend_from_slice(b", ");
        buf.extend_from_slice(write_int(&mut num, in_deg));
        buf.extend_from_slice(b", ");
        buf.extend_from_slice(write_int(&mut num, i64::from(label)));
        buf.push(b')');
        ends.push(buf.len());
    }
    let mut h: Vec<[u8; 16]> = vec![[0u8; 16]; n];
    digest_messages(&buf, &ends, &mut h);
    // Neighbour lists in one flat vector: list 2v holds the in-neighbours of v, list 2v+1
    // the out-neighbours; `starts[i]..starts[i + 1]` delimits list i.
    let mut lists: Vec<usize> = Vec::with_capacity(4 * n);
    let mut starts: Vec<usize> = Vec::with_capacity(2 * n + 1);
    starts.push(0);
    for v in 0..n {
        lists.extend((0..n).filter(|&w| cell(w, v) != 0));
        starts.push(lists.len());
        lists.extend((0..n).filter(|&w| cell(v, w) != 0));
        starts.push(lists.len());
    }
    let mut next: Vec<[u8; 16]> = vec![[0u8; 16]; n];
    let mut hex: Vec<[u8; 32]> = vec![[0u8; 32]; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    // Digests as big-endian integers: their order is the order of the hex strings.
    let mut key: Vec<u128> = vec![0; n];
    for _ in 0..n {
        for ((x, k), d) in hex.iter_mut().zip(&mut key).zip(&h) {
            *x = ModelHash(*d).to_hex_bytes();
            *k = u128::from_be_bytes(*d);
        }
        buf.clear();
        ends.clear();
        for v in 0..n {
            for k in 0..2 {
                let list = &lists[starts[2 * v + k]..starts[2 * v + k + 1]];
                order.clear();
                order.extend_from_slice(list);
                order.sort_unstable_by_key(|&w| key[w]);
                for &w in &order {
                    buf.extend_from_slice(&hex[w]);
                }
                if k == 0 {
                    buf.push(b'|');
                }
            }
            buf.push(b'|');
            buf.extend_from_slice(&hex[v]);
            ends.push(buf.len());
        }
        digest_messages(&buf, &ends, &mut next);
        std::mem::swap(&mut h, &mut next);
    }
    h.sort_unstable();
    buf.clear();
    buf.push(b'[');
    for (i, d) in h.iter().enumerate() {
        if i > 0 {
            buf.extend_from_slice(b", ");
        }
        buf.push(b'\'');
        buf.extend_from_slice(&ModelHash(*d).to_hex_bytes());
        buf.push(b'\'');
    }
    buf.push(b']');
    ModelHash(Md5::digest(&buf).into())
}

/// The official graph hash written plainly, as `graph_util.hash_module` does it: one MD5 per
/// vertex and round, neighbour hashes sorted as hex text, through `format!`. The reference
/// that [`hash_module`] (assembled buffers, MD5 in SIMD lanes) is tested against.
#[cfg(test)]
pub(crate) fn hash_module_reference(matrix: &[Vec<u8>], labels: &[i32]) -> ModelHash {
    let n = labels.len();
    let cell =
        |r: usize, c: usize| i64::from(matrix.get(r).and_then(|x| x.get(c)).copied().unwrap_or(0));
    let md5_hex = |text: &str| ModelHash(Md5::digest(text.as_bytes()).into()).to_string();
    let mut hashes: Vec<String> = (0..n)
        .map(|v| {
            let out_deg: i64 = (0..n).map(|w| cell(v, w)).sum();
            let in_deg: i64 = (0..n).map(|w| cell(w, v)).sum();
            md5_hex(&format!("({out_deg}, {in_deg}, {})", labels[v]))
        })
        .collect();
    for _ in 0..n {
        hashes = (0..n)
            .map(|v| {
                let mut ins: Vec<&str> = (0..n)
                    .filter(|&w| cell(w, v) != 0)
                    .map(|w| hashes[w].as_str())
                    .collect();
                let mut outs: Vec<&str> = (0..n)
                    .filter(|&w| cell(v, w) != 0)
                    .map(|w| hashes[w].as_str())
                    .collect();
                ins.sort_unstable();
                outs.sort_unstable();
                md5_hex(&format!("{}|{}|{}", ins.concat(), outs.concat(), hashes[v]))
            })
            .collect();
    }
    hashes.sort_unstable();
    let quoted: Vec<String> = hashes.iter().map(|h| format!("'{h}'")).collect();
    ModelHash(Md5::digest(format!("[{}]", quoted.join(", ")).as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The SIMD graph hash equals the plain one on any upper-triangular cell of up to 9
        /// vertices (more than a pruned cell has), labels included.
        #[test]
        fn graph_hash_equals_the_plain_reference(
            n in 1usize..=9,
            bits in proptest::collection::vec(any::<bool>(), 81),
            labels in proptest::collection::vec(-2i32..3, 9),
        ) {
            let m: Vec<Vec<u8>> = (0..n)
                .map(|r| (0..n).map(|c| u8::from(c > r && bits[r * 9 + c])).collect())
                .collect();
            prop_assert_eq!(hash_module(&m, &labels[..n]), hash_module_reference(&m, &labels[..n]));
        }
    }

    #[test]
    fn hex_digits_of_every_byte_value() {
        // Each byte value in each of the 32 places, among valid digits of both cases.
        let base = *b"0123456789abcdefABCDEF0123456789";
        assert!(ModelHash::from_hex_bytes(&base).is_some());
        for place in 0..32 {
            for b in 0..=255u8 {
                let mut t = base;
                t[place] = b;
                assert_eq!(
                    ModelHash::from_hex_bytes(&t),
                    ModelHash::from_hex_bytes_by_table(&t),
                    "byte {b:#04x} at {place}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn hex_parsing_agrees_with_the_table(text in proptest::collection::vec(any::<u8>(), 32)) {
            prop_assert_eq!(
                ModelHash::from_hex_bytes(&text),
                ModelHash::from_hex_bytes_by_table(&text)
            );
        }

        #[test]
        fn hex_round_trips(bytes in any::<[u8; 16]>()) {
            let h = ModelHash(bytes);
            prop_assert_eq!(ModelHash::from_hex_bytes(&h.to_hex_bytes()), Some(h));
            let upper = h.to_hex_bytes().to_ascii_uppercase();
            prop_assert_eq!(ModelHash::from_hex_bytes(&upper), Some(h));
        }
    }
}
