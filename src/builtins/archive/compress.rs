//! `compress.encode/decode` for gzip, zlib and raw deflate (`flate2` on `zlib-rs`, a pure-Rust
//! zlib as fast as the C one), zstd (`zstd`, the reference C library), brotli (`brotli`, Dropbox's
//! pure-Rust port) and lz4 (`lz4_flex`, frame format, as the `lz4` tool writes it). Decoding streams
//! into a buffer that stops past `max_bytes` (default 256 MiB): a bomb never exhausts memory.

use crate::runtime::args::{self, check_string};
use mlua::{Lua, MultiValue, Value as LuaValue};
use std::io::{self, Read, Write};

pub(super) const FUNCTIONS: &[(&str, super::Builtin)] = &[("encode", encode), ("decode", decode)];

/// Default `max_bytes` of `compress.decode`.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
/// Default `max_bytes` of `tar.extract` and `zip.extract`: the bytes of all files together.
pub const DEFAULT_EXTRACT_MAX_BYTES: u64 = 1 << 30;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Format {
    Gzip,
    Zlib,
    Deflate,
    Zstd,
    Brotli,
    Lz4,
}

const NAMES: &str = "gzip, zlib, deflate, zstd, brotli, lz4";

impl Format {
    fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "gzip" | "gz" => Format::Gzip,
            "zlib" => Format::Zlib,
            "deflate" => Format::Deflate,
            "zstd" | "zst" => Format::Zstd,
            "brotli" | "br" => Format::Brotli,
            "lz4" => Format::Lz4,
            _ => return None,
        })
    }

    /// The accepted levels and the default, `None` where the format has none.
    fn levels(self) -> Option<(i64, i64, i64)> {
        match self {
            Format::Gzip | Format::Zlib | Format::Deflate => Some((0, 9, 6)),
            Format::Zstd => Some((-7, 22, 3)),
            Format::Brotli => Some((0, 11, 6)),
            Format::Lz4 => None,
        }
    }
}

/// Compresses `data`; `level` is within [`Format::levels`].
pub fn compress(format: Format, data: &[u8], level: i64) -> io::Result<Vec<u8>> {
    use flate2::Compression;
    let flate_level = Compression::new(level.clamp(0, 9) as u32);
    let capacity = data.len() / 2 + 64;
    Ok(match format {
        Format::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(capacity), flate_level);
            e.write_all(data)?;
            e.finish()?
        }
        Format::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::with_capacity(capacity), flate_level);
            e.write_all(data)?;
            e.finish()?
        }
        Format::Deflate => {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::with_capacity(capacity), flate_level);
            e.write_all(data)?;
            e.finish()?
        }
        Format::Zstd => zstd::bulk::compress(data, level as i32)?,
        Format::Brotli => {
            let mut out = Vec::with_capacity(capacity);
            let params = brotli::enc::BrotliEncoderParams {
                quality: level as i32,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
            out
        }
        Format::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(capacity));
            e.write_all(data)?;
            e.finish().map_err(io::Error::other)?
        }
    })
}

/// Why a decode stopped.
#[derive(Debug)]
pub enum DecodeError {
    /// The output would pass this many bytes.
    TooBig(u64),
    Corrupt(io::Error),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooBig(max) => write!(f, "the output exceeds max_bytes ({max} bytes)"),
            DecodeError::Corrupt(e) => write!(f, "corrupt or truncated data ({e})"),
        }
    }
}

/// The decoder of `format` reading `input`.
pub fn reader<'a, R: io::BufRead + 'a>(format: Format, input: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match format {
        // Concatenated members are one stream, as `gunzip` reads them.
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Format::Zlib => Box::new(flate2::bufread::ZlibDecoder::new(input)),
        Format::Deflate => Box::new(flate2::bufread::DeflateDecoder::new(input)),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Format::Brotli => Box::new(brotli::Decompressor::new(input, 64 << 10)),
        Format::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
    })
}

/// Decompresses `data`, refusing to produce more than `max_bytes`.
pub fn decompress(format: Format, data: &[u8], max_bytes: u64) -> Result<Vec<u8>, DecodeError> {
    let decoder = reader(format, data).map_err(DecodeError::Corrupt)?;
    let mut out = Vec::with_capacity((data.len() * 3).min(max_bytes as usize).min(64 << 20));
    decoder
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(DecodeError::Corrupt)?;
    if out.len() as u64 > max_bytes {
        return Err(DecodeError::TooBig(max_bytes));
    }
    Ok(out)
}

fn format_arg(lua: &Lua, a: &MultiValue, func: &str) -> mlua::Result<Format> {
    let name = check_string(lua, a, 1, func)?.to_string_lossy();
    Format::parse(&name).ok_or_else(|| {
        args::arg_error(
            1,
            func,
            &format!("unknown format '{name}' (one of {NAMES})"),
        )
    })
}

/// `compress.encode(format, data, [level])`.
fn encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "compress.encode";
    let format = format_arg(lua, &a, func)?;
    let data = check_string(lua, &a, 2, func)?;
    let level = match (format.levels(), a.get(2)) {
        (_, None | Some(LuaValue::Nil)) | (None, _) => format.levels().map_or(0, |l| l.2),
        (Some((lo, hi, _)), Some(_)) => {
            let level = args::check_integer(&a, 3, func)?;
            if !(lo..=hi).contains(&level) {
                return Err(args::arg_error(
                    3,
                    func,
                    &format!("level must be from {lo} to {hi} for {format:?}").to_lowercase(),
                ));
            }
            level
        }
    };
    let out = compress(format, &data.as_bytes(), level)
        .map_err(|e| mlua::Error::runtime(format!("{func}: {e}")))?;
    Ok(MultiValue::from_iter([LuaValue::String(
        lua.create_string(out)?,
    )]))
}

/// `compress.decode(format, data, [{max_bytes = N}])` → data | `nil, err`.
fn decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "compress.decode";
    let format = format_arg(lua, &a, func)?;
    let data = check_string(lua, &a, 2, func)?;
    let max_bytes = max_bytes_option(&a, 3, func, DEFAULT_MAX_BYTES)?;
    match decompress(format, &data.as_bytes(), max_bytes) {
        Ok(out) => Ok(MultiValue::from_iter([LuaValue::String(
            lua.create_string(out)?,
        )])),
        Err(e) => args::nil_err(lua, format!("{func}: {e}")),
    }
}

/// `{max_bytes = N}` at argument `pos` (a non-negative integer), or `default`.
pub fn max_bytes_option(a: &MultiValue, pos: usize, func: &str, default: u64) -> mlua::Result<u64> {
    let Some(opts) = args::opt_table(a, pos, func)? else {
        return Ok(default);
    };
    match opts.get::<LuaValue>("max_bytes")? {
        LuaValue::Nil => Ok(default),
        LuaValue::Integer(n) if n >= 0 => Ok(n as u64),
        LuaValue::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < 9.2e18 => Ok(n as u64),
        _ => Err(args::arg_error(
            pos,
            func,
            "max_bytes must be a non-negative integer",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_format() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for f in [
            Format::Gzip,
            Format::Zlib,
            Format::Deflate,
            Format::Zstd,
            Format::Brotli,
            Format::Lz4,
        ] {
            let level = f.levels().map_or(0, |l| l.2);
            let packed = compress(f, &data, level).unwrap();
            assert!(packed.len() < data.len(), "{f:?} did not compress");
            assert_eq!(decompress(f, &packed, u64::MAX).unwrap(), data, "{f:?}");
        }
    }

    /// 1 GiB of zeros packs into about a megabyte; decoding with a small limit stops early.
    #[test]
    fn bombs_stop_at_max_bytes() {
        let zeros = vec![0u8; 16 << 20];
        for f in [Format::Gzip, Format::Zstd, Format::Brotli, Format::Lz4] {
            let packed = compress(f, &zeros, f.levels().map_or(0, |l| l.1.min(9))).unwrap();
            match decompress(f, &packed, 1 << 20) {
                Err(DecodeError::TooBig(n)) => assert_eq!(n, 1 << 20),
                other => panic!("{f:?}: {other:?}"),
            }
            assert_eq!(decompress(f, &packed, 16 << 20).unwrap().len(), 16 << 20);
        }
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let packed = compress(Format::Gzip, b"hello hello hello", 6).unwrap();
        assert!(decompress(Format::Gzip, &packed[..packed.len() - 5], 1 << 20).is_err());
        assert!(decompress(Format::Zstd, b"not zstd", 1 << 20).is_err());
    }
}
