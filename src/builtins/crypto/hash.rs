//! Digests (RustCrypto `md-5`, `sha1`, `sha2`, `sha3`; `blake3`), HMAC (RustCrypto `hmac`) and
//! CRC-32 (`crc32fast`).

use super::{bytes_arg, hex_or_raw, one, Builtin};
use crate::runtime::args::{self, check_string};
use hmac::{KeyInit, Mac, SimpleHmac};
use mlua::{Lua, MultiValue};
use sha2::Digest;

pub(super) const FUNCTIONS: &[(&str, Builtin)] = &[
    ("md5", |lua, a| fixed(lua, a, "md5", Alg::Md5)),
    ("sha1", |lua, a| fixed(lua, a, "sha1", Alg::Sha1)),
    ("sha224", |lua, a| fixed(lua, a, "sha224", Alg::Sha224)),
    ("sha256", |lua, a| fixed(lua, a, "sha256", Alg::Sha256)),
    ("sha384", |lua, a| fixed(lua, a, "sha384", Alg::Sha384)),
    ("sha512", |lua, a| fixed(lua, a, "sha512", Alg::Sha512)),
    ("sha3_256", |lua, a| {
        fixed(lua, a, "sha3_256", Alg::Sha3_256)
    }),
    ("sha3_512", |lua, a| {
        fixed(lua, a, "sha3_512", Alg::Sha3_512)
    }),
    ("blake3", |lua, a| fixed(lua, a, "blake3", Alg::Blake3)),
    ("hash", hash),
    ("hmac", hmac_fn),
    ("crc32", crc32),
];

/// A digest algorithm `crypto.hash` knows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Alg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Blake3,
}

const NAMES: &str =
    "md5, sha1, sha224, sha256, sha384, sha512, sha3-224, sha3-256, sha3-384, sha3-512, blake3";

impl Alg {
    /// `sha3-256`, also spelt `sha3_256`, `SHA256` or `sha-256`.
    fn parse(name: &str) -> Option<Alg> {
        let name = name.to_ascii_lowercase().replace('_', "-");
        Some(match name.as_str() {
            "md5" => Alg::Md5,
            "sha1" | "sha-1" => Alg::Sha1,
            "sha224" | "sha-224" | "sha2-224" => Alg::Sha224,
            "sha256" | "sha-256" | "sha2-256" => Alg::Sha256,
            "sha384" | "sha-384" | "sha2-384" => Alg::Sha384,
            "sha512" | "sha-512" | "sha2-512" => Alg::Sha512,
            "sha3-224" => Alg::Sha3_224,
            "sha3-256" => Alg::Sha3_256,
            "sha3-384" => Alg::Sha3_384,
            "sha3-512" => Alg::Sha3_512,
            "blake3" => Alg::Blake3,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Alg::Md5 => md5::Md5::digest(data).to_vec(),
            Alg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Alg::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Alg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Alg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Alg::Sha512 => sha2::Sha512::digest(data).to_vec(),
            Alg::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
            Alg::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
            Alg::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
            Alg::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
            Alg::Blake3 => blake3::hash(data).as_bytes().to_vec(),
        }
    }

    /// HMAC (RFC 2104) of `data` under `key`; `None` for BLAKE3, which has a keyed mode instead.
    fn hmac(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
            // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
            let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
            mac.update(data);
            Some(mac.finalize().into_bytes().to_vec())
        }
        match self {
            Alg::Md5 => run::<SimpleHmac<md5::Md5>>(key, data),
            Alg::Sha1 => run::<SimpleHmac<sha1::Sha1>>(key, data),
            Alg::Sha224 => run::<SimpleHmac<sha2::Sha224>>(key, data),
            Alg::Sha256 => run::<SimpleHmac<sha2::Sha256>>(key, data),
            Alg::Sha384 => run::<SimpleHmac<sha2::Sha384>>(key, data),
            Alg::Sha512 => run::<SimpleHmac<sha2::Sha512>>(key, data),
            Alg::Sha3_224 => run::<SimpleHmac<sha3::Sha3_224>>(key, data),
            Alg::Sha3_256 => run::<SimpleHmac<sha3::Sha3_256>>(key, data),
            Alg::Sha3_384 => run::<SimpleHmac<sha3::Sha3_384>>(key, data),
            Alg::Sha3_512 => run::<SimpleHmac<sha3::Sha3_512>>(key, data),
            Alg::Blake3 => None,
        }
    }
}

/// Argument `pos` as an algorithm name.
fn alg_arg(lua: &Lua, a: &MultiValue, pos: usize, func: &str) -> mlua::Result<Alg> {
    let name = check_string(lua, a, pos, func)?.to_string_lossy();
    Alg::parse(&name).ok_or_else(|| {
        args::arg_error(
            pos,
            func,
            &format!("unknown algorithm '{name}' (one of {NAMES})"),
        )
    })
}

/// `crypto.sha256(data)` and its siblings: lowercase hex.
fn fixed(lua: &Lua, a: MultiValue, func: &str, alg: Alg) -> mlua::Result<MultiValue> {
    let data = check_string(lua, &a, 1, func)?;
    one(hex::encode(alg.digest(&data.as_bytes())), lua)
}

/// `crypto.hash(alg, data, [{raw = true}])`.
fn hash(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let alg = alg_arg(lua, &a, 1, "hash")?;
    let data = check_string(lua, &a, 2, "hash")?;
    let digest = alg.digest(&data.as_bytes());
    hex_or_raw(lua, &digest, &a, 3, "hash")
}

/// `crypto.hmac(alg, key, data, [{raw = true}])`.
fn hmac_fn(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "hmac";
    let alg = alg_arg(lua, &a, 1, func)?;
    let key = bytes_arg(lua, &a, 2, func)?;
    let data = check_string(lua, &a, 3, func)?;
    let mac = alg.hmac(&key, &data.as_bytes()).ok_or_else(|| {
        args::arg_error(
            1,
            func,
            "HMAC is not defined for blake3 (use a SHA-2 or SHA-3 algorithm)",
        )
    })?;
    hex_or_raw(lua, &mac, &a, 4, func)
}

/// `crypto.crc32(data)` → integer.
fn crc32(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let data = check_string(lua, &a, 1, "crc32")?;
    one(i64::from(crc32fast::hash(&data.as_bytes())), lua)
}

#[cfg(test)]
mod tests {
    use super::Alg;

    fn hex(alg: Alg, data: &[u8]) -> String {
        hex::encode(alg.digest(data))
    }

    /// FIPS 180-2 / FIPS 202 / RFC 1321 / BLAKE3 reference examples ("abc" and the empty string).
    #[test]
    fn published_digests() {
        assert_eq!(hex(Alg::Md5, b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(Alg::Md5, b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(Alg::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(Alg::Sha224, b"abc"),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(
            hex(Alg::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(
                Alg::Sha256,
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            ),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(Alg::Sha384, b"abc"),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
        assert_eq!(
            hex(Alg::Sha512, b"abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            hex(Alg::Sha3_224, b"abc"),
            "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"
        );
        assert_eq!(
            hex(Alg::Sha3_256, b"abc"),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        assert_eq!(
            hex(Alg::Sha3_384, b"abc"),
            "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b2\
             98d88cea927ac7f539f1edf228376d25"
        );
        assert_eq!(
            hex(Alg::Sha3_512, b"abc"),
            "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e\
             10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"
        );
        assert_eq!(
            hex(Alg::Blake3, b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block), RFC 2202 for SHA-1 and MD5.
    #[test]
    fn rfc_hmac_vectors() {
        let mac = |alg: Alg, key: &[u8], data: &[u8]| hex::encode(alg.hmac(key, data).unwrap());
        let key1 = [0x0b; 20];
        assert_eq!(
            mac(Alg::Sha256, &key1, b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            mac(Alg::Sha512, &key1, b"Hi There"),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde\
             daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
        );
        assert_eq!(
            mac(Alg::Sha224, b"Jefe", b"what do ya want for nothing?"),
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"
        );
        assert_eq!(
            mac(Alg::Sha384, b"Jefe", b"what do ya want for nothing?"),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
             8e2240ca5e69e2c78b3239ecfab21649"
        );
        let long_key = [0xaa; 131];
        assert_eq!(
            mac(
                Alg::Sha256,
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            mac(Alg::Sha1, &key1, b"Hi There"),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            mac(Alg::Md5, &[0x0b; 16], b"Hi There"),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert!(Alg::Blake3.hmac(b"k", b"d").is_none());
    }

    #[test]
    fn names() {
        assert_eq!(Alg::parse("SHA3_256"), Some(Alg::Sha3_256));
        assert_eq!(Alg::parse("sha-256"), Some(Alg::Sha256));
        assert_eq!(Alg::parse("sha2-512"), Some(Alg::Sha512));
        assert_eq!(Alg::parse("sha3"), None);
    }

    /// The CRC-32 check value (of "123456789") from the CRC catalogue.
    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    }
}
