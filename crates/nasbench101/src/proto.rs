//! The `ModelMetrics` protobuf (proto2) of the data files: a small hand-written codec that
//! accepts any field order, skips unknown fields and treats missing fields as zero.

/// One evaluation during training (`EvaluationData`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvaluationData {
    pub current_epoch: f64,
    pub training_time: f64,
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    pub checkpoint_path: String,
}

/// Metrics of one training run (`ModelMetrics`): evaluations at step 0, halfway and final.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelMetrics {
    pub evaluation_data: Vec<EvaluationData>,
    pub trainable_parameters: i32,
    pub total_time: f64,
}

/// Why protobuf bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf truncated at byte {offset}")]
    Truncated { offset: usize },
    #[error("protobuf varint too long at byte {offset}")]
    BadVarint { offset: usize },
    #[error(
        "protobuf field {field} has wire type {wire_type}, expected {expected} (byte {offset})"
    )]
    WrongWireType {
        field: u64,
        wire_type: u8,
        expected: u8,
        offset: usize,
    },
    #[error("protobuf wire type {wire_type} unsupported at byte {offset}")]
    BadWireType { wire_type: u8, offset: usize },
    #[error("protobuf string field is not UTF-8 (byte {offset})")]
    BadUtf8 { offset: usize },
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn at(&self) -> usize {
        self.base + self.pos
    }
    #[inline]
    fn varint(&mut self) -> Result<u64, ProtoError> {
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.at();
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(ProtoError::Truncated { offset: self.at() })?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError::BadVarint { offset: start })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(ProtoError::Truncated {
                offset: self.base + self.buf.len(),
            })?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtoError::Truncated { offset: self.at() })?;
        self.pos = end;
        Ok(s)
    }
    #[inline]
    fn f64(&mut self) -> Result<f64, ProtoError> {
        let b = self.take(8)?;
        let arr: [u8; 8] = b
            .try_into()
            .map_err(|_| ProtoError::Truncated { offset: self.at() })?;
        Ok(f64::from_le_bytes(arr))
    }
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// Reads a key; returns (field number, wire type, offset of the key).
    #[inline]
    fn key(&mut self) -> Result<(u64, u8, usize), ProtoError> {
        let off = self.at();
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8, off))
    }
    fn skip(&mut self, wire_type: u8, offset: usize) -> Result<(), ProtoError> {
        match wire_type {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => {
                let n = self.varint()?;
                self.take(usize::try_from(n).unwrap_or(usize::MAX))
                    .map(|_| ())
            }
            5 => self.take(4).map(|_| ()),
            _ => Err(ProtoError::BadWireType { wire_type, offset }),
        }
    }
}

fn expect(field: u64, wire_type: u8, expected: u8, offset: usize) -> Result<(), ProtoError> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(ProtoError::WrongWireType {
            field,
            wire_type,
            expected,
            offset,
        })
    }
}

fn decode_evaluation(buf: &[u8], base: usize) -> Result<EvaluationData, ProtoError> {
    let mut c = Cursor { buf, pos: 0, base };
    let mut e = EvaluationData::default();
    while !c.done() {
        let (field, wt, off) = c.key()?;
        match field {
            1..=5 => {
                expect(field, wt, 1, off)?;
                let v = c.f64()?;
                match field {
                    1 => e.current_epoch = v,
                    2 => e.training_time = v,
                    3 => e.train_accuracy = v,
                    4 => e.validation_accuracy = v,
                    _ => e.test_accuracy = v,
                }
            }
            6 => {
                expect(field, wt, 2, off)?;
                let n = c.varint()?;
                let at = c.at();
                let bytes = c.take(usize::try_from(n).unwrap_or(usize::MAX))?;
                e.checkpoint_path = std::str::from_utf8(bytes)
                    .map_err(|_| ProtoError::BadUtf8 { offset: at })?
                    .to_string();
            }
            _ => c.skip(wt, off)?,
        }
    }
    Ok(e)
}

/// The values the query API uses, decoded without allocating: training time and the three
/// accuracies of `evaluation_data[1]` (halfway) and `[2]` (final).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ApiValues {
    pub halfway: [f64; 4],
    pub final_: [f64; 4],
    pub trainable_parameters: i32,
    /// Number of `evaluation_data` entries seen.
    pub evaluations: usize,
}

impl From<&ModelMetrics> for ApiValues {
    fn from(m: &ModelMetrics) -> ApiValues {
        let values = |k: usize| {
            m.evaluation_data.get(k).map_or([0.0; 4], |e| {
                [
                    e.training_time,
                    e.train_accuracy,
                    e.validation_accuracy,
                    e.test_accuracy,
                ]
            })
        };
        ApiValues {
            halfway: values(1),
            final_: values(2),
            trainable_parameters: m.trainable_parameters,
            evaluations: m.evaluation_data.len(),
        }
    }
}

/// Decodes serialized `ModelMetrics` keeping only what the API uses: the released layout at
/// fixed offsets, anything else by the reference decoder [`ModelMetrics::decode`].
pub(crate) fn decode_api_values(buf: &[u8]) -> Result<ApiValues, ProtoError> {
    match fixed_layout_values(buf) {
        Some(v) => Ok(v),
        None => ModelMetrics::decode(buf).map(|m| ApiValues::from(&m)),
    }
}

/// Bytes of one `evaluation_data` entry in the released layout: key, length 45, then fields
/// 1-5 as (tag, f64).
const ENTRY: usize = 2 + 5 * 9;

/// The released files' layout (spec §1.4): three entries with fields 1-5 in order and no
/// checkpoint path, then `trainable_parameters` and `total_time`. Read at fixed offsets;
/// `None` for anything else, which the reference decoder then handles (with the same result
/// for this layout).
fn fixed_layout_values(b: &[u8]) -> Option<ApiValues> {
    if b.len() < 3 * ENTRY + 2 + 9 {
        return None;
    }
    for e in 0..3 {
        let s = &b[e * ENTRY..(e + 1) * ENTRY];
        let keys = [s[11], s[20], s[29], s[38]];
        if s[..3] != [0x0a, 0x2d, 0x09] || keys != [0x11, 0x19, 0x21, 0x29] {
            return None;
        }
    }
    let f = |at: usize| -> f64 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        f64::from_le_bytes(x)
    };
    // Training time, train, validation and test accuracy are fields 2-5 (offsets 12-39).
    let (h, l) = (ENTRY, 2 * ENTRY);
    let halfway = [f(h + 12), f(h + 21), f(h + 30), f(h + 39)];
    let final_ = [f(l + 12), f(l + 21), f(l + 30), f(l + 39)];
    // Then `trainable_parameters` (key 0x10, a varint of up to 10 bytes) and `total_time`
    // (key 0x19, 8 bytes), ending the message.
    if b[3 * ENTRY] != 0x10 {
        return None;
    }
    let mut c = Cursor {
        buf: &b[3 * ENTRY + 1..],
        pos: 0,
        base: 3 * ENTRY + 1,
    };
    let params = c.varint().ok()?;
    let total_time = &c.buf[c.pos..];
    if total_time.len() != 9 || total_time[0] != 0x19 {
        return None;
    }
    Some(ApiValues {
        halfway,
        final_,
        trainable_parameters: params as i64 as i32,
        evaluations: 3,
    })
}

impl ModelMetrics {
    /// Decodes serialized `ModelMetrics` bytes.
    pub fn decode(buf: &[u8]) -> Result<ModelMetrics, ProtoError> {
        let mut c = Cursor {
            buf,
            pos: 0,
            base: 0,
        };
        let mut m = ModelMetrics::default();
        while !c.done() {
            let (field, wt, off) = c.key()?;
            match field {
                1 => {
                    expect(field, wt, 2, off)?;
                    let n = c.varint()?;
                    let at = c.at();
                    let sub = c.take(usize::try_from(n).unwrap_or(usize::MAX))?;
                    m.evaluation_data.push(decode_evaluation(sub, at)?);
                }
                2 => {
                    expect(field, wt, 0, off)?;
                    // int32: negative values are sign-extended 10-byte varints.
                    m.trainable_parameters = c.varint()? as i64 as i32;
                }
                3 => {
                    expect(field, wt, 1, off)?;
                    m.total_time = c.f64()?;
                }
                _ => c.skip(wt, off)?,
            }
        }
        Ok(m)
    }

    /// Serializes in the layout of the released files: evaluations (fields 1-5 always
    /// written, field 6 only when non-empty), then `trainable_parameters`, then `total_time`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        for e in &self.evaluation_data {
            let mut sub = Vec::with_capacity(48);
            for (tag, v) in [
                (0x09u8, e.current_epoch),
                (0x11, e.training_time),
                (0x19, e.train_accuracy),
                (0x21, e.validation_accuracy),
                (0x29, e.test_accuracy),
            ] {
                sub.push(tag);
                sub.extend_from_slice(&v.to_le_bytes());
            }
            if !e.checkpoint_path.is_empty() {
                sub.push(0x32);
                put_varint(&mut sub, e.checkpoint_path.len() as u64);
                sub.extend_from_slice(e.checkpoint_path.as_bytes());
            }
            out.push(0x0a);
            put_varint(&mut out, sub.len() as u64);
            out.extend_from_slice(&sub);
        }
        out.push(0x10);
        put_varint(&mut out, i64::from(self.trainable_parameters) as u64);
        out.push(0x19);
        out.extend_from_slice(&self.total_time.to_le_bytes());
        out
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn metrics(vals: &[f64], params: i32, path: bool) -> ModelMetrics {
        ModelMetrics {
            evaluation_data: (0..3)
                .map(|e| EvaluationData {
                    current_epoch: vals[5 * e],
                    training_time: vals[5 * e + 1],
                    train_accuracy: vals[5 * e + 2],
                    validation_accuracy: vals[5 * e + 3],
                    test_accuracy: vals[5 * e + 4],
                    checkpoint_path: if path { "ckpt".into() } else { String::new() },
                })
                .collect(),
            trainable_parameters: params,
            total_time: vals[15],
        }
    }

    proptest! {
        /// The fixed-offset reader agrees with the reference decoder on the released layout, and
        /// on any single-byte change of it either agrees or steps aside.
        #[test]
        fn fixed_layout_agrees_with_the_reference_decoder(
            vals in proptest::collection::vec(any::<f64>(), 16),
            params in any::<i32>(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in 0usize..4,
        ) {
            let bytes = metrics(&vals, params, false).encode();
            let fixed = fixed_layout_values(&bytes);
            prop_assert!(fixed.is_some());
            if let Some(v) = fixed {
                prop_assert_eq!(v.halfway.map(f64::to_bits), [vals[6], vals[7], vals[8], vals[9]].map(f64::to_bits));
                prop_assert_eq!(v.final_.map(f64::to_bits), [vals[11], vals[12], vals[13], vals[14]].map(f64::to_bits));
                prop_assert_eq!(v.trainable_parameters, params);
            }
            let mut bad = bytes.clone();
            let i = at.index(bad.len());
            bad[i] = byte;
            bad.truncate(bad.len() - cut);
            if let Some(v) = fixed_layout_values(&bad) {
                let g = ModelMetrics::decode(&bad).expect("the reference decoder accepts the fixed layout");
                let g = ApiValues::from(&g);
                prop_assert_eq!(v.halfway.map(f64::to_bits), g.halfway.map(f64::to_bits));
                prop_assert_eq!(v.final_.map(f64::to_bits), g.final_.map(f64::to_bits));
                prop_assert_eq!(v.trainable_parameters, g.trainable_parameters);
                prop_assert_eq!(v.evaluations, g.evaluations);
            }
            // With checkpoint paths the layout differs: the reference decoder reads it.
            let with_path = metrics(&vals, params, true).encode();
            prop_assert!(fixed_layout_values(&with_path).is_none());
            prop_assert_eq!(decode_api_values(&with_path).unwrap().trainable_parameters, params);
        }
    }
}
