//! A restricted unpickler for the original's `one_shot_architecture_<e>.obj` files: a pickled
//! list of numpy arrays. It interprets the pickle opcodes itself and knows only the few numpy
//! globals that rebuild an array (`_reconstruct`, `ndarray`, `dtype`, `_frombuffer`); any other
//! global (`os.system`, `builtins.eval`, …), object construction or extension is refused with
//! an error before anything else happens. Nothing in the file is ever executed: this is a data
//! parser, not Python.

use std::fmt;

/// The largest pickle accepted (the original's files are a few hundred bytes).
pub const MAX_PICKLE_BYTES: usize = 16 << 20;

/// Values a pickle may make the unpickler produce: arrays decoded, plus values and list
/// entries copied into the result. A weights file of NB-1Shot1 holds under a hundred, so this
/// is far above any real one; a file that reuses one buffer or list through the memo over and
/// over (a few bytes each time) is refused here instead of exhausting memory.
pub const MAX_VALUES: usize = 1 << 20;

/// A float array rebuilt from a pickle: shape and values in C order, widened to f64 exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// What a pickle may hold at its top level: an array or a (possibly nested) list of them.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Array(Array),
    List(Vec<Item>),
}

/// Why a pickle was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error("byte {at}: refused: {what} (only numpy arrays and lists are accepted)")]
    Refused { at: usize, what: String },
    #[error("byte {at}: malformed pickle: {what}")]
    Malformed { at: usize, what: String },
    #[error("{size} bytes is more than the {MAX_PICKLE_BYTES} bytes a weights pickle may have")]
    TooLarge { size: usize },
}

/// The numpy callables the unpickler knows; everything else is refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    Reconstruct,
    NdArray,
    Dtype,
    FromBuffer,
}

impl Global {
    fn lookup(module: &str, name: &str) -> Option<Global> {
        let numpy_core = matches!(module, "numpy.core.multiarray" | "numpy._core.multiarray");
        let numpy_numeric = matches!(module, "numpy.core.numeric" | "numpy._core.numeric");
        match (module, name) {
            (_, "_reconstruct") if numpy_core => Some(Global::Reconstruct),
            ("numpy", "ndarray") => Some(Global::NdArray),
            ("numpy", "dtype") => Some(Global::Dtype),
            (_, "_frombuffer") if numpy_numeric => Some(Global::FromBuffer),
            _ => None,
        }
    }
}

/// A float dtype: item size in bytes and byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dtype {
    size: usize,
    big_endian: bool,
}

/// Objects on the stack and in the memo live in one arena, so that a list appended to after
/// it was memoized, or an array built after, is the same object wherever it is referenced.
#[derive(Clone, Debug)]
enum Obj {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Global(Global),
    /// `numpy.dtype(...)` before its BUILD (which may only set the byte order).
    Dtype(Dtype),
    /// `_reconstruct(ndarray, ...)`: an empty array waiting for its BUILD state.
    EmptyArray,
    Array(Array),
}

impl fmt::Display for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Obj::Bool(b) => return write!(f, "the bool {b}"),
            Obj::Int(i) => return write!(f, "the int {i}"),
            Obj::Float(x) => return write!(f, "the float {x}"),
            Obj::None => "None",
            Obj::Str(_) => "a str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "a list",
            Obj::Tuple(_) => "a tuple",
            Obj::Global(_) => "a numpy callable",
            Obj::Dtype(_) => "a dtype",
            Obj::EmptyArray => "an unbuilt array",
            Obj::Array(_) => "an array",
        };
        f.write_str(s)
    }
}

/// Reads a pickle that holds numpy float arrays and lists of them.
pub fn load(bytes: &[u8]) -> Result<Item, PickleError> {
    if bytes.len() > MAX_PICKLE_BYTES {
        return Err(PickleError::TooLarge { size: bytes.len() });
    }
    let mut m = Machine {
        input: bytes,
        pos: 0,
        op_at: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
        values: std::cell::Cell::new(0),
    };
    let top = m.run()?;
    m.item(top, 0)
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    op_at: usize,
    arena: Vec<Obj>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u64, usize>,
    /// Values produced so far, against [`MAX_VALUES`].
    values: std::cell::Cell<usize>,
}

/// Nesting deeper than this is not a weights file.
const MAX_DEPTH: usize = 32;

impl Machine<'_> {
    /// Counts `n` more values produced; refuses the file past [`MAX_VALUES`].
    fn spend(&self, n: usize) -> Result<(), PickleError> {
        let total = self.values.get().saturating_add(n);
        if total > MAX_VALUES {
            return Err(self.malformed(format!(
                "more than {MAX_VALUES} values (a buffer or list reused over and over)"
            )));
        }
        self.values.set(total);
        Ok(())
    }

    fn malformed(&self, what: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            at: self.op_at,
            what: what.into(),
        }
    }
    fn refused(&self, what: impl Into<String>) -> PickleError {
        PickleError::Refused {
            at: self.op_at,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.input.len());
        let end = end.ok_or_else(|| self.malformed("truncated"))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> Result<(), PickleError> {
        self.take(n).map(|_| ())
    }
    fn uint(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }
    fn length(&mut self, n: usize) -> Result<usize, PickleError> {
        let v = self.uint(n)?;
        usize::try_from(v)
            .ok()
            .filter(|&l| l <= self.input.len())
            .ok_or_else(|| self.malformed(format!("length {v} past the end")))
    }
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.malformed("unterminated line"))?;
        let text = String::from_utf8(rest[..n].to_vec())
            .map_err(|_| self.malformed("a line that is not UTF-8"))?;
        self.pos += n + 1;
        Ok(text)
    }

    fn push(&mut self, o: Obj) {
        self.arena.push(o);
        self.stack.push(self.arena.len() - 1);
    }
    fn pop(&mut self) -> Result<usize, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err(self.malformed("pop across a mark"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| self.malformed("no mark"))?;
        Ok(self.stack.split_off(m))
    }
    fn top(&self) -> Result<usize, PickleError> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("empty stack"))
    }
    fn text(&mut self, n: usize) -> Result<(), PickleError> {
        let l = self.length(n)?;
        let b = self.take(l)?.to_vec();
        let s = String::from_utf8(b).map_err(|_| self.malformed("a str that is not UTF-8"))?;
        self.push(Obj::Str(s));
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> Result<(), PickleError> {
        let l = self.length(n)?;
        let b = self.take(l)?.to_vec();
        self.push(Obj::Bytes(b));
        Ok(())
    }
    fn tuple(&mut self, n: usize) -> Result<(), PickleError> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.pop()?);
        }
        items.reverse();
        self.push(Obj::Tuple(items));
        Ok(())
    }
    fn append(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        let list = self.top()?;
        match &mut self.arena[list] {
            Obj::List(v) => {
                v.extend(items);
                Ok(())
            }
            other => {
                let what = format!("APPEND to {other}");
                Err(self.malformed(what))
            }
        }
    }
    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let g = Global::lookup(module, name)
            .ok_or_else(|| self.refused(format!("the global {module}.{name}")))?;
        self.push(Obj::Global(g));
        Ok(())
    }
    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.malformed(format!("memo {key} unset")))?;
        self.stack.push(id);
        Ok(())
    }

    /// Runs the opcodes up to STOP; returns the object left on the stack.
    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self.take(1)?[0];
            match op {
                0x80 => self.skip(1)?,                     // PROTO
                0x95 => self.skip(8)?,                     // FRAME
                b'.' => return self.pop(),                 // STOP
                b'(' => self.marks.push(self.stack.len()), // MARK
                b'N' => self.push(Obj::None),              // NONE
                0x88 => self.push(Obj::Bool(true)),        // NEWTRUE
                0x89 => self.push(Obj::Bool(false)),       // NEWFALSE
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.push(Obj::Int(v)) // BININT1
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.push(Obj::Int(v)) // BININT2
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32;
                    self.push(Obj::Int(i64::from(v))) // BININT
                }
                0x8a => self.long1()?, // LONG1
                b'G' => {
                    let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                    self.push(Obj::Float(f64::from_be_bytes(b))) // BINFLOAT
                }
                0x8c => self.text(1)?,                     // SHORT_BINUNICODE
                b'X' => self.text(4)?,                     // BINUNICODE
                0x8d => self.text(8)?,                     // BINUNICODE8
                b'C' => self.bytes(1)?,                    // SHORT_BINBYTES
                b'B' => self.bytes(4)?,                    // BINBYTES
                0x8e => self.bytes(8)?,                    // BINBYTES8
                0x96 => self.bytes(8)?,                    // BYTEARRAY8
                b']' => self.push(Obj::List(Vec::new())),  // EMPTY_LIST
                b')' => self.push(Obj::Tuple(Vec::new())), // EMPTY_TUPLE
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])? // APPEND
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)? // APPENDS
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items)) // LIST
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items)) // TUPLE
                }
                0x85 => self.tuple(1)?, // TUPLE1
                0x86 => self.tuple(2)?, // TUPLE2
                0x87 => self.tuple(3)?, // TUPLE3
                b'c' => {
                    let (module, name) = (self.line()?, self.line()?);
                    self.global(&module, &name)? // GLOBAL
                }
                0x93 => self.stack_global()?, // STACK_GLOBAL
                b'R' => self.reduce()?,       // REDUCE
                b'b' => self.build()?,        // BUILD
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)? // MEMOIZE
                }
                b'q' => {
                    let k = self.uint(1)?;
                    self.memo_put(k)? // BINPUT
                }
                b'r' => {
                    let k = self.uint(4)?;
                    self.memo_put(k)? // LONG_BINPUT
                }
                b'h' => {
                    let k = self.uint(1)?;
                    self.memo_get(k)? // BINGET
                }
                b'j' => {
                    let k = self.uint(4)?;
                    self.memo_get(k)? // LONG_BINGET
                }
                b'0' => {
                    self.pop()?; // POP
                }
                other => return Err(self.refused(opcode_name(other))),
            }
            if self.arena.len() > self.input.len() + 16 || self.marks.len() > MAX_DEPTH {
                return Err(self.malformed("more objects than the file can describe"));
            }
        }
    }

    fn long1(&mut self) -> Result<(), PickleError> {
        let n = self.length(1)?;
        if n > 8 {
            return Err(self.malformed("an integer wider than 64 bits"));
        }
        let b = self.take(n)?;
        let mut v: i64 = 0;
        for (i, &x) in b.iter().enumerate() {
            v |= i64::from(x) << (8 * i);
        }
        if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
            v -= 1i64 << (8 * n);
        }
        self.push(Obj::Int(v));
        Ok(())
    }

    fn stack_global(&mut self) -> Result<(), PickleError> {
        let name = self.pop()?;
        let module = self.pop()?;
        match (&self.arena[module], &self.arena[name]) {
            (Obj::Str(m), Obj::Str(n)) => {
                let (m, n) = (m.clone(), n.clone());
                self.global(&m, &n)
            }
            _ => Err(self.malformed("STACK_GLOBAL without two strings")),
        }
    }

    fn reduce(&mut self) -> Result<(), PickleError> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let Obj::Global(g) = self.arena[callable] else {
            let what = format!("calling {}", self.arena[callable]);
            return Err(self.refused(what));
        };
        let Obj::Tuple(args) = self.arena[args].clone() else {
            return Err(self.malformed("REDUCE arguments are not a tuple"));
        };
        let obj = match g {
            Global::Reconstruct => {
                // _reconstruct(ndarray, (0,), b'b'): an empty array to BUILD.
                match args.first().map(|&a| &self.arena[a]) {
                    Some(Obj::Global(Global::NdArray)) => Obj::EmptyArray,
                    _ => return Err(self.refused("_reconstruct of anything but numpy.ndarray")),
                }
            }
            Global::Dtype => {
                let code = match args.first().map(|&a| &self.arena[a]) {
                    Some(Obj::Str(s)) => s.clone(),
                    _ => return Err(self.malformed("numpy.dtype without a type code")),
                };
                Obj::Dtype(self.dtype(&code, false)?)
            }
            Global::FromBuffer => self.frombuffer(&args)?,
            Global::NdArray => return Err(self.refused("calling numpy.ndarray directly")),
        };
        self.push(obj);
        Ok(())
    }

    fn dtype(&self, code: &str, big_endian: bool) -> Result<Dtype, PickleError> {
        let (order, kind) = match code.as_bytes().first() {
            Some(b'<' | b'=' | b'|') => (Some(false), &code[1..]),
            Some(b'>') => (Some(true), &code[1..]),
            _ => (None, code),
        };
        let size = match kind {
            "f4" => 4,
            "f8" => 8,
            other => {
                let what = format!("dtype {other:?} (weights must be float32 or float64)");
                return Err(self.refused(what));
            }
        };
        Ok(Dtype {
            size,
            big_endian: order.unwrap_or(big_endian),
        })
    }

    /// BUILD: a dtype's byte order, or an array's shape, dtype and data.
    fn build(&mut self) -> Result<(), PickleError> {
        let state = self.pop()?;
        let target = self.top()?;
        let Obj::Tuple(st) = self.arena[state].clone() else {
            return Err(self.malformed("BUILD state is not a tuple"));
        };
        let built = match self.arena[target].clone() {
            Obj::Dtype(d) => {
                // (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
                let big =
                    matches!(st.get(1).map(|&i| &self.arena[i]), Some(Obj::Str(s)) if s == ">");
                Obj::Dtype(Dtype {
                    big_endian: big,
                    ..d
                })
            }
            Obj::EmptyArray => {
                // (version, shape, dtype, is_fortran, raw bytes)
                if st.len() != 5 {
                    return Err(self.malformed("an array state without 5 entries"));
                }
                let shape = self.shape(st[1])?;
                let Obj::Dtype(dtype) = self.arena[st[2]] else {
                    return Err(self.malformed("an array state without a dtype"));
                };
                let fortran = match self.arena[st[3]] {
                    Obj::Bool(b) => b,
                    Obj::Int(i) => i != 0,
                    _ => false,
                };
                let Obj::Bytes(raw) = &self.arena[st[4]] else {
                    return Err(self.refused("array data that is not raw bytes (an object array)"));
                };
                let mut a = self.array(shape, dtype, raw)?;
                if fortran {
                    a.data = fortran_to_c(&a.shape, &a.data);
                }
                Obj::Array(a)
            }
            other => {
                let what = format!("BUILD on {other}");
                return Err(self.refused(what));
            }
        };
        self.arena[target] = built;
        Ok(())
    }

    /// `_frombuffer(bytes, dtype, shape, order)` (protocol 5 with in-band buffers).
    fn frombuffer(&self, args: &[usize]) -> Result<Obj, PickleError> {
        if args.len() != 4 {
            return Err(self.malformed("_frombuffer without 4 arguments"));
        }
        let Obj::Bytes(raw) = &self.arena[args[0]] else {
            return Err(self.refused("_frombuffer of anything but bytes"));
        };
        let Obj::Dtype(dtype) = self.arena[args[1]] else {
            return Err(self.malformed("_frombuffer without a dtype"));
        };
        let shape = self.shape(args[2])?;
        let mut a = self.array(shape, dtype, raw)?;
        if matches!(&self.arena[args[3]], Obj::Str(s) if s == "F") {
            a.data = fortran_to_c(&a.shape, &a.data);
        }
        Ok(Obj::Array(a))
    }

    fn shape(&self, id: usize) -> Result<Vec<usize>, PickleError> {
        let Obj::Tuple(dims) = &self.arena[id] else {
            return Err(self.malformed("an array shape that is not a tuple"));
        };
        dims.iter()
            .map(|&d| match self.arena[d] {
                Obj::Int(n) if n >= 0 => Ok(n as usize),
                _ => Err(self.malformed("an array dimension that is not a count")),
            })
            .collect()
    }

    fn array(&self, shape: Vec<usize>, dtype: Dtype, raw: &[u8]) -> Result<Array, PickleError> {
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&c| c.checked_mul(dtype.size) == Some(raw.len()))
            .ok_or_else(|| {
                self.malformed(format!(
                    "shape {shape:?} of {}-byte values does not fit {} bytes of data",
                    dtype.size,
                    raw.len()
                ))
            })?;
        self.spend(count)?;
        let mut data = Vec::with_capacity(count);
        for chunk in raw.chunks_exact(dtype.size) {
            data.push(match (dtype.size, dtype.big_endian) {
                (4, false) => f64::from(f32::from_le_bytes(chunk.try_into().expect("4"))),
                (4, true) => f64::from(f32::from_be_bytes(chunk.try_into().expect("4"))),
                (_, false) => f64::from_le_bytes(chunk.try_into().expect("8")),
                (_, true) => f64::from_be_bytes(chunk.try_into().expect("8")),
            });
        }
        Ok(Array { shape, data })
    }

    /// The result as arrays and lists; anything else at the top is refused.
    fn item(&self, id: usize, depth: usize) -> Result<Item, PickleError> {
        if depth > MAX_DEPTH {
            return Err(self.malformed("lists nested too deeply"));
        }
        match &self.arena[id] {
            Obj::Array(a) => {
                self.spend(a.data.len())?;
                Ok(Item::Array(a.clone()))
            }
            Obj::List(items) | Obj::Tuple(items) => items
                .iter()
                .map(|&i| self.spend(1).and_then(|()| self.item(i, depth + 1)))
                .collect::<Result<_, _>>()
                .map(Item::List),
            other => Err(PickleError::Refused {
                at: self.input.len(),
                what: format!("{other} where an array or a list belongs"),
            }),
        }
    }
}

/// Column-major values to row-major.
fn fortran_to_c(shape: &[usize], data: &[f64]) -> Vec<f64> {
    if shape.len() < 2 {
        return data.to_vec();
    }
    let n = data.len();
    let mut out = vec![0.0; n];
    for (c_index, slot) in out.iter_mut().enumerate() {
        // The multi-index of c_index in C order, then its position in Fortran order.
        let (mut rem, mut f_index, mut stride) = (c_index, 0, 1);
        let mut idx = vec![0; shape.len()];
        for (k, &d) in shape.iter().enumerate().rev() {
            idx[k] = rem % d.max(1);
            rem /= d.max(1);
        }
        for (k, &d) in shape.iter().enumerate() {
            f_index += idx[k] * stride;
            stride *= d;
        }
        *slot = data[f_index];
    }
    out
}

fn opcode_name(op: u8) -> String {
    let name = match op {
        b'i' => "INST (builds an object)",
        b'o' => "OBJ (builds an object)",
        0x81 => "NEWOBJ (builds an object)",
        0x92 => "NEWOBJ_EX (builds an object)",
        b'P' | b'Q' => "a persistent id",
        0x82..=0x84 => "an extension code",
        b'}' | b'd' | b's' | b'u' => "a dict",
        0x8f..=0x91 => "a set",
        0x97 | 0x98 => "an out-of-band buffer",
        b'S'..=b'V' => "a protocol 0-2 string",
        b'I' | b'L' | b'F' => "a protocol 0 number",
        _ => "an unknown opcode",
    };
    format!("opcode {op:#04x}: {name}")
}
