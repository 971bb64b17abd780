//! `crypto` (SPEC §13): hashes, HMAC, CRC-32, base64/hex, secure random bytes, authenticated
//! encryption (AES-256-GCM), password hashing (argon2id) and the Go SolVM's older ciphers — all
//! RustCrypto (and `blake3`, `crc32fast`, `base64`, `hex`) crates, none of it written here. The
//! `base64_*`/`hex_*` codecs are also globals. `ids` (uuid, random) is a family of its own.

mod cipher;
mod hash;
pub mod ids;
mod password;

use crate::builtins::catalog::{self, f, table};
use crate::runtime::args::{self, check_string};
use mlua::{Lua, MultiValue};

/// A builtin of this family: gets the call's arguments.
type Builtin = fn(&Lua, MultiValue) -> mlua::Result<MultiValue>;

/// Installs `crypto` and the `base64_*`/`hex_*` globals.
pub fn register(lua: &Lua) -> mlua::Result<()> {
    let crypto = lua.create_table()?;
    let globals = lua.globals();
    for (name, func) in CODECS {
        let made = lua.create_function(*func)?;
        crypto.raw_set(*name, made.clone())?;
        globals.set(*name, made)?;
    }
    for (name, func) in hash::FUNCTIONS
        .iter()
        .chain(cipher::FUNCTIONS)
        .chain(password::FUNCTIONS)
        .chain(FUNCTIONS)
    {
        crypto.raw_set(*name, lua.create_function(*func)?)?;
    }
    globals.set("crypto", crypto)
}

const CODECS: &[(&str, Builtin)] = &[
    ("base64_encode", base64_encode),
    ("base64_decode", base64_decode),
    ("base64url_encode", base64url_encode),
    ("base64url_decode", base64url_decode),
    ("hex_encode", hex_encode),
    ("hex_decode", hex_decode),
];

const FUNCTIONS: &[(&str, Builtin)] = &[
    ("random_bytes", random_bytes),
    ("constant_time_eq", constant_time_eq),
];

/// Largest `crypto.random_bytes(n)`.
const MAX_RANDOM_BYTES: i64 = 64 << 20;

/// Argument `pos` as bytes (numbers are converted, as Lua's string functions do).
fn bytes_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Vec<u8>> {
    Ok(check_string(lua, a, pos, func)?.as_bytes().to_vec())
}

/// One result.
fn one(v: impl mlua::IntoLua, lua: &Lua) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([v.into_lua(lua)?]))
}

/// `bytes` as lowercase hex, or as they are with `{raw = true}` (options at argument `pos`).
fn hex_or_raw(
    lua: &Lua,
    bytes: &[u8],
    a: &MultiValue,
    pos: usize,
    func: &str,
) -> mlua::Result<MultiValue> {
    let opts = args::opt_table(a, pos, func)?;
    if args::bool_option(opts.as_ref(), "raw", false, pos, func)? {
        one(lua.create_string(bytes)?, lua)
    } else {
        one(hex::encode(bytes), lua)
    }
}

/// Fills `buf` from the operating system's CSPRNG.
fn fill_random(buf: &mut [u8]) -> mlua::Result<()> {
    getrandom::fill(buf)
        .map_err(|e| mlua::Error::runtime(format!("the system random source failed: {e}")))
}

fn b64_encode(
    lua: &Lua,
    a: MultiValue,
    func: &str,
    engine: &impl base64::Engine,
) -> mlua::Result<MultiValue> {
    let data = check_string(lua, &a, 1, func)?;
    one(engine.encode(data.as_bytes()), lua)
}

fn b64_decode(
    lua: &Lua,
    a: MultiValue,
    func: &str,
    engine: &impl base64::Engine,
) -> mlua::Result<MultiValue> {
    let text = check_string(lua, &a, 1, func)?;
    let text = text.as_bytes();
    // Line breaks (MIME, PEM bodies) and surrounding space carry nothing.
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    match engine.decode(&compact) {
        Ok(bytes) => one(lua.create_string(bytes)?, lua),
        Err(e) => args::nil_err(lua, format!("{func}: {e}")),
    }
}

/// Standard alphabet, `=` padding (RFC 4648 §4); decoding accepts missing padding too.
const STANDARD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
/// URL-safe alphabet without padding (RFC 4648 §5, as JWTs use it); decoding accepts padding.
const URL_SAFE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn base64_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    b64_encode(lua, a, "base64_encode", &STANDARD)
}

fn base64_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    b64_decode(lua, a, "base64_decode", &STANDARD)
}

fn base64url_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    b64_encode(lua, a, "base64url_encode", &URL_SAFE)
}

fn base64url_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    b64_decode(lua, a, "base64url_decode", &URL_SAFE)
}

fn hex_encode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let data = check_string(lua, &a, 1, "hex_encode")?;
    one(hex::encode(data.as_bytes()), lua)
}

fn hex_decode(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let text = check_string(lua, &a, 1, "hex_decode")?;
    match hex::decode(text.as_bytes().trim_ascii()) {
        Ok(bytes) => one(lua.create_string(bytes)?, lua),
        Err(e) => args::nil_err(lua, format!("hex_decode: {e}")),
    }
}

/// `crypto.random_bytes(n, [{raw = true}])`: hex by default, as in the Go SolVM.
fn random_bytes(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "random_bytes";
    let n = args::check_integer(&a, 1, func)?;
    if !(0..=MAX_RANDOM_BYTES).contains(&n) {
        return Err(args::arg_error(
            1,
            func,
            &format!("n must be from 0 to {MAX_RANDOM_BYTES}"),
        ));
    }
    let mut buf = vec![0u8; n as usize];
    fill_random(&mut buf)?;
    hex_or_raw(lua, &buf, &a, 2, func)
}

/// `crypto.constant_time_eq(a, b)`: compares in time that depends on the length only.
fn constant_time_eq(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    use subtle::ConstantTimeEq;
    let x = check_string(lua, &a, 1, "constant_time_eq")?;
    let y = check_string(lua, &a, 2, "constant_time_eq")?;
    let same: bool = x.as_bytes().as_ref().ct_eq(y.as_bytes().as_ref()).into();
    one(same, lua)
}

/// What `crypto` returns when the arguments are fine but the data is not: `nil, "func: why"`.
fn refuse(lua: &Lua, func: &str, why: impl std::fmt::Display) -> mlua::Result<MultiValue> {
    args::nil_err(lua, format!("{func}: {why}"))
}

/// Raises `bad argument #pos to 'func' (key must be ...)`.
fn length_error(pos: usize, func: &str, what: &str, allowed: &str, got: usize) -> mlua::Error {
    args::arg_error(
        pos,
        func,
        &format!("{what} must be {allowed}, got {got} bytes"),
    )
}

#[rustfmt::skip]
pub const CATALOG: &[catalog::Builtin] = &[
    table("crypto", "Hashes, HMAC, encodings, secure random bytes, authenticated encryption, password hashing."),
    f("crypto.md5", &["data: string"], &["string # lowercase hex"], "MD5 of `data` (broken for security; checksums only)."),
    f("crypto.sha1", &["data: string"], &["string # lowercase hex"], "SHA-1 of `data` (broken for signatures; legacy checksums only)."),
    f("crypto.sha224", &["data: string"], &["string # lowercase hex"], "SHA-224 of `data`."),
    f("crypto.sha256", &["data: string"], &["string # lowercase hex"], "SHA-256 of `data`."),
    f("crypto.sha384", &["data: string"], &["string # lowercase hex"], "SHA-384 of `data`."),
    f("crypto.sha512", &["data: string"], &["string # lowercase hex"], "SHA-512 of `data`."),
    f("crypto.sha3_256", &["data: string"], &["string # lowercase hex"], "SHA3-256 of `data`."),
    f("crypto.sha3_512", &["data: string"], &["string # lowercase hex"], "SHA3-512 of `data`."),
    f("crypto.blake3", &["data: string"], &["string # lowercase hex"], "BLAKE3 (32 bytes) of `data`."),
    f("crypto.hash", &["alg: string", "data: string", "opts?: {raw?: boolean}"], &["string"], "Digest of `data` with `alg` (md5 sha1 sha224 sha256 sha384 sha512 sha3-224 sha3-256 sha3-384 sha3-512 blake3): hex, or bytes with `raw`."),
    f("crypto.hmac", &["alg: string", "key: string", "data: string", "opts?: {raw?: boolean}"], &["string"], "HMAC of `data` under `key` (every `crypto.hash` algorithm but blake3): hex, or bytes with `raw`."),
    f("crypto.crc32", &["data: string"], &["integer"], "CRC-32 (IEEE, as gzip and zip use) of `data`."),
    f("crypto.base64_encode", &["data: string"], &["string"], "Same as the global `base64_encode`."),
    f("crypto.base64_decode", &["text: string"], &["string?", "string? err"], "Same as the global `base64_decode`."),
    f("crypto.base64url_encode", &["data: string"], &["string"], "Same as the global `base64url_encode`."),
    f("crypto.base64url_decode", &["text: string"], &["string?", "string? err"], "Same as the global `base64url_decode`."),
    f("crypto.hex_encode", &["data: string"], &["string"], "Same as the global `hex_encode`."),
    f("crypto.hex_decode", &["text: string"], &["string?", "string? err"], "Same as the global `hex_decode`."),
    f("base64_encode", &["data: string"], &["string"], "Standard base64 with `=` padding (RFC 4648 §4)."),
    f("base64_decode", &["text: string"], &["string?", "string? err"], "Decodes standard base64 (padding optional, whitespace ignored), or `nil, err`."),
    f("base64url_encode", &["data: string"], &["string"], "URL-safe base64 without padding (RFC 4648 §5)."),
    f("base64url_decode", &["text: string"], &["string?", "string? err"], "Decodes URL-safe base64 (padding optional), or `nil, err`."),
    f("hex_encode", &["data: string"], &["string"], "Lowercase hex of `data`."),
    f("hex_decode", &["text: string"], &["string?", "string? err"], "Bytes of a hex string (either case), or `nil, err`."),
    f("crypto.random_bytes", &["n: integer", "opts?: {raw?: boolean}"], &["string"], "`n` bytes from the system CSPRNG: hex (as in the Go SolVM), or bytes with `raw`."),
    f("crypto.constant_time_eq", &["a: string", "b: string"], &["boolean"], "Whether `a == b`, in time that does not depend on where they differ (for MACs and tokens)."),
    f("crypto.encrypt", &["plain: string", "key: string"], &["string # base64 token"], "AES-256-GCM with a random nonce; `key` is 32 bytes (or 64 hex digits). The recommended way to encrypt."),
    f("crypto.decrypt", &["token: string", "key: string"], &["string?", "string? err"], "Opens a `crypto.encrypt` token; `nil, err` when it was tampered with or the key is wrong."),
    f("crypto.password_hash", &["password: string"], &["string # PHC string"], "argon2id hash with a random salt (`$argon2id$v=19$m=19456,t=2,p=1$...`)."),
    f("crypto.password_verify", &["password: string", "hash: string"], &["boolean"], "Whether `password` matches a PHC argon2 hash (argon2id, argon2i, argon2d)."),
    f("crypto.aes_encrypt", &["plain: string", "key: string", "iv: string"], &["string # base64"], "AES-CBC with PKCS#7 padding (key 16/24/32 bytes, iv 16): Go SolVM compatibility, no integrity. Prefer `crypto.encrypt`."),
    f("crypto.aes_decrypt", &["data: string", "key: string", "iv: string"], &["string?", "string? err"], "Reverses `crypto.aes_encrypt`; `nil, err` on bad base64 or padding."),
    f("crypto.des_encrypt", &["plain: string", "key: string", "iv: string"], &["string # base64"], "DES-CBC with PKCS#7 (key and iv 8 bytes). Broken cipher, kept for old data only."),
    f("crypto.des_decrypt", &["data: string", "key: string", "iv: string"], &["string?", "string? err"], "Reverses `crypto.des_encrypt`. Broken cipher, kept for old data only."),
    f("crypto.rc4_encrypt", &["plain: string", "key: string"], &["string # base64"], "RC4 (key 1 to 256 bytes). Broken cipher, kept for old data only."),
    f("crypto.rc4_decrypt", &["data: string", "key: string"], &["string?", "string? err"], "Reverses `crypto.rc4_encrypt`. Broken cipher, kept for old data only."),
    f("crypto.rsa_generate", &["bits?: integer"], &["{private: string, public: string}"], "A new RSA key pair (default 2048 bits, 1024 to 4096) as PKCS#1 PEM."),
];
