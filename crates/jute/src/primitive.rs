//! Jute primitives: the encodings of int, long, boolean, buffer, ustring and vector, and the
//! [`Record`] trait every wire record implements.

use bytes::{Buf, BufMut, Bytes};

/// Why a record could not be decoded. Every variant means "this input is not a valid record";
/// the connection that sent it is closed by the server (a bad frame never reaches the tree).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends early: needed {needed} more bytes")]
    UnexpectedEnd { needed: usize },
    #[error("length {len} is larger than the {max} bytes allowed")]
    TooLarge { len: usize, max: usize },
    #[error("negative length {0}")]
    NegativeLength(i32),
    #[error("unknown opcode {0}")]
    UnknownOp(i32),
    #[error("invalid value {value} for {field}")]
    InvalidValue { field: &'static str, value: i64 },
    #[error("null string where a value is required")]
    NullString,
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
}

/// A jute record: fields concatenated in declaration order with no tags.
pub trait Record: Sized {
    fn encode<B: BufMut>(&self, dst: &mut B);
    /// Decodes one record from the front of `src`, advancing it past the record.
    fn decode(src: &mut Bytes) -> Result<Self, DecodeError>;

    /// Encodes into a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut buf = bytes::BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }

    /// Decodes a record that must span all of `src`.
    fn from_bytes(mut src: Bytes) -> Result<Self, DecodeError> {
        let record = Self::decode(&mut src)?;
        if src.has_remaining() {
            return Err(DecodeError::TrailingBytes(src.remaining()));
        }
        Ok(record)
    }
}

fn need(src: &Bytes, n: usize) -> Result<(), DecodeError> {
    if src.remaining() < n {
        Err(DecodeError::UnexpectedEnd {
            needed: n - src.remaining(),
        })
    } else {
        Ok(())
    }
}

pub fn read_u8(src: &mut Bytes) -> Result<u8, DecodeError> {
    need(src, 1)?;
    Ok(src.get_u8())
}

pub fn read_bool(src: &mut Bytes) -> Result<bool, DecodeError> {
    // Java's readBoolean treats any non-zero byte as true.
    Ok(read_u8(src)? != 0)
}

pub fn read_i32(src: &mut Bytes) -> Result<i32, DecodeError> {
    need(src, 4)?;
    Ok(src.get_i32())
}

pub fn read_i64(src: &mut Bytes) -> Result<i64, DecodeError> {
    need(src, 8)?;
    Ok(src.get_i64())
}

/// Reads a length prefix; -1 means null. Any other negative value is an error, and a length
/// larger than what remains is `UnexpectedEnd` (checked before anything is allocated).
fn read_len(src: &mut Bytes) -> Result<Option<usize>, DecodeError> {
    let len = read_i32(src)?;
    if len == -1 {
        return Ok(None);
    }
    if len < 0 {
        return Err(DecodeError::NegativeLength(len));
    }
    let len = len as usize;
    need(src, len)?;
    Ok(Some(len))
}

/// A jute `buffer`: `None` is the null buffer (length -1), distinct from an empty one.
pub fn read_buffer(src: &mut Bytes) -> Result<Option<Bytes>, DecodeError> {
    Ok(read_len(src)?.map(|len| src.split_to(len)))
}

/// A jute `buffer` where null and empty mean the same to the reader.
pub fn read_buffer_or_empty(src: &mut Bytes) -> Result<Bytes, DecodeError> {
    Ok(read_buffer(src)?.unwrap_or_default())
}

/// A jute `ustring`. Invalid UTF-8 decodes with U+FFFD replacements, as Java's decoder does.
pub fn read_ustring_opt(src: &mut Bytes) -> Result<Option<String>, DecodeError> {
    Ok(read_len(src)?.map(|len| {
        let raw = src.split_to(len);
        match std::str::from_utf8(&raw) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(&raw).into_owned(),
        }
    }))
}

/// A jute `ustring` where null reads as the empty string (no ZooKeeper record gives null a
/// meaning distinct from "" on the paths the server reads).
pub fn read_ustring(src: &mut Bytes) -> Result<String, DecodeError> {
    Ok(read_ustring_opt(src)?.unwrap_or_default())
}

/// The most elements [`read_vec`] reserves up front, whatever the count says.
const VEC_PREALLOC_MAX: usize = 1024;

/// A jute `vector<T>`; null reads as empty.
pub fn read_vec<T>(
    src: &mut Bytes,
    mut item: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let count = read_i32(src)?;
    if count == -1 {
        return Ok(Vec::new());
    }
    if count < 0 {
        return Err(DecodeError::NegativeLength(count));
    }
    // Every element takes at least one byte, so a count beyond what remains is a lie. The
    // reservation is also capped: an element can be much larger in memory than on the wire
    // (an Acl is 12+ bytes there, ~56 here), and anything past the cap grows only as real
    // elements are decoded.
    let count = count as usize;
    need(src, count)?;
    let mut out = Vec::with_capacity(count.min(VEC_PREALLOC_MAX));
    for _ in 0..count {
        out.push(item(src)?);
    }
    Ok(out)
}

pub fn write_bool<B: BufMut>(dst: &mut B, v: bool) {
    dst.put_u8(v as u8);
}

pub fn write_i32<B: BufMut>(dst: &mut B, v: i32) {
    dst.put_i32(v);
}

pub fn write_i64<B: BufMut>(dst: &mut B, v: i64) {
    dst.put_i64(v);
}

pub fn write_buffer<B: BufMut>(dst: &mut B, v: Option<&[u8]>) {
    match v {
        None => dst.put_i32(-1),
        Some(b) => {
            dst.put_i32(b.len() as i32);
            dst.put_slice(b);
        }
    }
}

pub fn write_ustring<B: BufMut>(dst: &mut B, v: &str) {
    dst.put_i32(v.len() as i32);
    dst.put_slice(v.as_bytes());
}

pub fn write_ustring_opt<B: BufMut>(dst: &mut B, v: Option<&str>) {
    match v {
        None => dst.put_i32(-1),
        Some(s) => write_ustring(dst, s),
    }
}

pub fn write_vec<B: BufMut, T>(dst: &mut B, items: &[T], mut item: impl FnMut(&mut B, &T)) {
    dst.put_i32(items.len() as i32);
    for it in items {
        item(dst, it);
    }
}

/// Implements `Record` for a plain struct whose fields are all `Record`s or primitives with a
/// `Field` impl, in declaration order. Keeps each record's definition one line per field.
#[macro_export]
macro_rules! record {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
        impl $crate::primitive::Record for $name {
            #[allow(unused_variables)]
            fn encode<B: bytes::BufMut>(&self, dst: &mut B) {
                $( $crate::primitive::Field::put(&self.$field, dst); )*
            }
            #[allow(unused_variables)]
            fn decode(src: &mut bytes::Bytes) -> Result<Self, $crate::primitive::DecodeError> {
                Ok($name { $( $field: <$ty as $crate::primitive::Field>::get(src)? ),* })
            }
        }
    };
}

/// A value that can stand as a field of a record.
pub trait Field: Sized {
    fn put<B: BufMut>(&self, dst: &mut B);
    fn get(src: &mut Bytes) -> Result<Self, DecodeError>;
}

impl Field for i32 {
    fn put<B: BufMut>(&self, dst: &mut B) {
        dst.put_i32(*self)
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_i32(src)
    }
}

impl Field for i64 {
    fn put<B: BufMut>(&self, dst: &mut B) {
        dst.put_i64(*self)
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_i64(src)
    }
}

impl Field for bool {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_bool(dst, *self)
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_bool(src)
    }
}

/// A `ustring` field. Null is refused: ZooKeeper's request processors fail on a null string
/// (a client that sends one gets MarshallingError), and no record it writes holds one.
impl Field for String {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_ustring(dst, self)
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_ustring_opt(src)?.ok_or(DecodeError::NullString)
    }
}

/// A `ustring` field where null is meaningful.
impl Field for Option<String> {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_ustring_opt(dst, self.as_deref())
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_ustring_opt(src)
    }
}

/// A `buffer` field that distinguishes null from empty.
impl Field for Option<Bytes> {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_buffer(dst, self.as_deref())
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_buffer(src)
    }
}

/// A `buffer` field where null reads as empty.
impl Field for Bytes {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_buffer(dst, Some(self))
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_buffer_or_empty(src)
    }
}

impl<T: Record> Field for T {
    fn put<B: BufMut>(&self, dst: &mut B) {
        self.encode(dst)
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        T::decode(src)
    }
}

/// A `vector<T>` field; null reads as empty.
impl<T: Field> Field for Vec<T> {
    fn put<B: BufMut>(&self, dst: &mut B) {
        write_vec(dst, self, |d, it| it.put(d))
    }
    fn get(src: &mut Bytes) -> Result<Self, DecodeError> {
        read_vec(src, T::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{CreateRequest, SetWatches};
    use crate::types::Acl;
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn with(parts: impl FnOnce(&mut BytesMut)) -> Bytes {
        let mut b = BytesMut::new();
        parts(&mut b);
        b.freeze()
    }

    #[test]
    fn buffer_lengths() {
        assert_eq!(read_buffer(&mut with(|b| b.put_i32(-1))), Ok(None));
        assert_eq!(
            read_buffer(&mut with(|b| b.put_i32(0))),
            Ok(Some(Bytes::new()))
        );
        assert_eq!(
            read_buffer(&mut with(|b| b.put_i32(-2))),
            Err(DecodeError::NegativeLength(-2))
        );
        assert_eq!(
            read_buffer(&mut with(|b| {
                b.put_i32(i32::MAX);
                b.put_slice(b"abc");
            })),
            Err(DecodeError::UnexpectedEnd {
                needed: i32::MAX as usize - 3
            })
        );
    }

    #[test]
    fn booleans_and_strings_decode_like_java() {
        assert_eq!(read_bool(&mut Bytes::from_static(&[0x7f])), Ok(true));
        assert_eq!(read_bool(&mut Bytes::from_static(&[0])), Ok(false));
        let mut bad_utf8 = with(|b| {
            b.put_i32(3);
            b.put_slice(&[b'/', 0xff, b'a']);
        });
        assert_eq!(read_ustring(&mut bad_utf8), Ok("/\u{fffd}a".to_string()));
        assert_eq!(
            read_ustring(&mut with(|b| b.put_i32(-1))),
            Ok(String::new())
        );
        assert_eq!(read_ustring_opt(&mut with(|b| b.put_i32(-1))), Ok(None));
    }

    #[test]
    fn vectors_null_empty_and_negative() {
        let item = |s: &mut Bytes| read_i32(s);
        assert_eq!(read_vec(&mut with(|b| b.put_i32(-1)), item), Ok(vec![]));
        assert_eq!(read_vec(&mut with(|b| b.put_i32(0)), item), Ok(vec![]));
        assert_eq!(
            read_vec(&mut with(|b| b.put_i32(-7)), item),
            Err(DecodeError::NegativeLength(-7))
        );
    }

    /// A count of 2^31-1 in a tiny frame is refused before anything is reserved, and a count
    /// that fits the bytes but not the elements fails as soon as the elements run out.
    #[test]
    fn hostile_counts_fail_fast() {
        let started = std::time::Instant::now();
        let huge_acl_count = with(|b| {
            "/a".to_string().put(b);
            None::<Bytes>.put(b);
            b.put_i32(i32::MAX);
            b.put_slice(&[0; 64]);
        });
        assert!(matches!(
            CreateRequest::from_bytes(huge_acl_count),
            Err(DecodeError::UnexpectedEnd { .. })
        ));

        // One million claimed strings in 1 MiB: each needs 4 bytes, so it fails a quarter in.
        let mut lying = BytesMut::new();
        lying.put_i64(0);
        lying.put_i32(1 << 20);
        lying.resize(8 + 4 + (1 << 20), 0);
        assert!(matches!(
            SetWatches::from_bytes(lying.freeze()),
            Err(DecodeError::UnexpectedEnd { .. })
        ));

        // ACL vector whose count equals the remaining bytes: at least 12 bytes per ACL.
        let mut acls = BytesMut::new();
        acls.put_i32(1 << 16);
        acls.resize(4 + (1 << 16), 0);
        assert!(Vec::<Acl>::get(&mut acls.freeze()).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    proptest! {
        #[test]
        fn buffers_round_trip(v in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))) {
            let mut b = BytesMut::new();
            write_buffer(&mut b, v.as_deref());
            let decoded = read_buffer(&mut b.freeze())?;
            prop_assert_eq!(decoded.as_deref(), v.as_deref());
        }

        #[test]
        fn strings_round_trip(s in proptest::option::of("\\PC{0,16}")) {
            let mut b = BytesMut::new();
            write_ustring_opt(&mut b, s.as_deref());
            prop_assert_eq!(read_ustring_opt(&mut b.freeze())?, s);
        }
    }
}
