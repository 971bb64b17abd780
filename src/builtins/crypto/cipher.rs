//! Encryption: `crypto.encrypt`/`decrypt` (RustCrypto `aes-gcm`: AES-256-GCM, a random 96-bit
//! nonce per message, the token is base64 of nonce ‖ ciphertext ‖ tag), and the Go SolVM's ciphers
//! kept for compatibility: AES-CBC and DES-CBC with PKCS#7 (`aes`, `des`, `cbc`), RC4 (`rc4`), RSA
//! key generation (`rsa`, PKCS#1 PEM). Wrong key or IV lengths raise; bad data is `nil, err`.

use super::{bytes_arg, fill_random, length_error, one, refuse, Builtin, STANDARD as B64};
use crate::runtime::args::{self, check_string};
use aes_gcm::aead::{Aead, KeyInit};
use base64::Engine as _;
use cbc::cipher::{
    block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher,
};
use mlua::{Lua, MultiValue};

pub(super) const FUNCTIONS: &[(&str, Builtin)] = &[
    ("encrypt", encrypt),
    ("decrypt", decrypt),
    ("aes_encrypt", aes_encrypt),
    ("aes_decrypt", aes_decrypt),
    ("des_encrypt", des_encrypt),
    ("des_decrypt", des_decrypt),
    ("rc4_encrypt", rc4_encrypt),
    ("rc4_decrypt", rc4_decrypt),
    ("rsa_generate", rsa_generate),
];

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The 32-byte key of `crypto.encrypt`: 32 bytes as they are, or 64 hex digits (what
/// `crypto.random_bytes(32)` returns) decoded.
fn gcm_key(lua: &Lua, a: &MultiValue, func: &str) -> mlua::Result<aes_gcm::Aes256Gcm> {
    let key = bytes_arg(lua, a, 2, func)?;
    let key = match key.len() {
        64 => hex::decode(&key).unwrap_or(key),
        _ => key,
    };
    aes_gcm::Aes256Gcm::new_from_slice(&key)
        .map_err(|_| length_error(2, func, "key", "32 bytes (or 64 hex digits)", key.len()))
}

/// `crypto.encrypt(plain, key32)` → base64 token.
fn encrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "encrypt";
    let plain = check_string(lua, &a, 1, func)?;
    let cipher = gcm_key(lua, &a, func)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let sealed = cipher
        .encrypt(&nonce.into(), plain.as_bytes().as_ref())
        .map_err(|_| mlua::Error::runtime("encrypt: the message is too long for AES-GCM"))?;
    let mut token = Vec::with_capacity(NONCE_LEN + sealed.len());
    token.extend_from_slice(&nonce);
    token.extend_from_slice(&sealed);
    one(B64.encode(token), lua)
}

/// `crypto.decrypt(token, key32)` → plain | `nil, err`.
fn decrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "decrypt";
    let token = check_string(lua, &a, 1, func)?;
    let cipher = gcm_key(lua, &a, func)?;
    let Ok(token) = B64.decode(token.as_bytes().trim_ascii()) else {
        return refuse(lua, func, "the token is not base64");
    };
    if token.len() < NONCE_LEN + TAG_LEN {
        return refuse(lua, func, "the token is too short");
    }
    let (nonce, sealed) = token.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(mlua::Error::external)?;
    match cipher.decrypt(&nonce.into(), sealed) {
        Ok(plain) => one(lua.create_string(plain)?, lua),
        Err(_) => refuse(
            lua,
            func,
            "authentication failed (wrong key, or the token was altered)",
        ),
    }
}

/// Key (argument 2) and IV (argument 3) of a CBC call, checked against the cipher's sizes.
fn key_and_iv(
    lua: &Lua,
    a: &MultiValue,
    func: &str,
    key_sizes: &[usize],
    allowed: &str,
    iv_size: usize,
) -> mlua::Result<(Vec<u8>, Vec<u8>)> {
    let key = bytes_arg(lua, a, 2, func)?;
    if !key_sizes.contains(&key.len()) {
        return Err(length_error(2, func, "key", allowed, key.len()));
    }
    let iv = bytes_arg(lua, a, 3, func)?;
    if iv.len() != iv_size {
        return Err(length_error(
            3,
            func,
            "iv",
            &format!("{iv_size} bytes"),
            iv.len(),
        ));
    }
    Ok((key, iv))
}

/// CBC encryption with PKCS#7 for block cipher `C`; sizes are checked by the caller.
fn cbc_encrypt<C>(key: &[u8], iv: &[u8], plain: &[u8]) -> mlua::Result<Vec<u8>>
where
    C: cbc::cipher::BlockCipherEncrypt,
    cbc::Encryptor<C>: KeyIvInit + BlockModeEncrypt,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| mlua::Error::runtime("internal error: key or iv length"))?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plain))
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> mlua::Result<Option<Vec<u8>>>
where
    C: cbc::cipher::BlockCipherDecrypt,
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| mlua::Error::runtime("internal error: key or iv length"))?;
    Ok(dec.decrypt_padded_vec::<Pkcs7>(data).ok())
}

/// `crypto.aes_encrypt(plain, key, iv)`: AES-128/192/256-CBC, PKCS#7, base64 (Go SolVM's).
fn aes_encrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "aes_encrypt";
    let plain = check_string(lua, &a, 1, func)?;
    let (key, iv) = key_and_iv(lua, &a, func, &[16, 24, 32], "16, 24 or 32 bytes", 16)?;
    let plain = plain.as_bytes();
    let sealed = match key.len() {
        16 => cbc_encrypt::<aes::Aes128>(&key, &iv, &plain)?,
        24 => cbc_encrypt::<aes::Aes192>(&key, &iv, &plain)?,
        _ => cbc_encrypt::<aes::Aes256>(&key, &iv, &plain)?,
    };
    one(B64.encode(sealed), lua)
}

/// `crypto.aes_decrypt(b64, key, iv)` → plain | `nil, err`.
fn aes_decrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "aes_decrypt";
    let data = check_string(lua, &a, 1, func)?;
    let (key, iv) = key_and_iv(lua, &a, func, &[16, 24, 32], "16, 24 or 32 bytes", 16)?;
    let Ok(data) = B64.decode(data.as_bytes().trim_ascii()) else {
        return refuse(lua, func, "the data is not base64");
    };
    let plain = match key.len() {
        16 => cbc_decrypt::<aes::Aes128>(&key, &iv, &data)?,
        24 => cbc_decrypt::<aes::Aes192>(&key, &iv, &data)?,
        _ => cbc_decrypt::<aes::Aes256>(&key, &iv, &data)?,
    };
    match plain {
        Some(plain) => one(lua.create_string(plain)?, lua),
        None => refuse(lua, func, "bad padding (wrong key or iv, or damaged data)"),
    }
}

/// `crypto.des_encrypt(plain, key8, iv8)`: DES-CBC, PKCS#7, base64.
fn des_encrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "des_encrypt";
    let plain = check_string(lua, &a, 1, func)?;
    let (key, iv) = key_and_iv(lua, &a, func, &[8], "8 bytes", 8)?;
    let sealed = cbc_encrypt::<des::Des>(&key, &iv, &plain.as_bytes())?;
    one(B64.encode(sealed), lua)
}

fn des_decrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "des_decrypt";
    let data = check_string(lua, &a, 1, func)?;
    let (key, iv) = key_and_iv(lua, &a, func, &[8], "8 bytes", 8)?;
    let Ok(data) = B64.decode(data.as_bytes().trim_ascii()) else {
        return refuse(lua, func, "the data is not base64");
    };
    match cbc_decrypt::<des::Des>(&key, &iv, &data)? {
        Some(plain) => one(lua.create_string(plain)?, lua),
        None => refuse(lua, func, "bad padding (wrong key or iv, or damaged data)"),
    }
}

/// RC4 over `data` with `key` (argument 2): its own inverse.
fn rc4_apply(lua: &Lua, a: &MultiValue, func: &str, data: &mut [u8]) -> mlua::Result<()> {
    let key = bytes_arg(lua, a, 2, func)?;
    let mut rc4 = <rc4::Rc4 as rc4::KeyInit>::new_from_slice(&key)
        .map_err(|_| length_error(2, func, "key", "1 to 256 bytes", key.len()))?;
    rc4.apply_keystream(data);
    Ok(())
}

/// `crypto.rc4_encrypt(plain, key)` → base64.
fn rc4_encrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let mut data = bytes_arg(lua, &a, 1, "rc4_encrypt")?;
    rc4_apply(lua, &a, "rc4_encrypt", &mut data)?;
    one(B64.encode(data), lua)
}

/// `crypto.rc4_decrypt(b64, key)` → plain | `nil, err`.
fn rc4_decrypt(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let func = "rc4_decrypt";
    let text = check_string(lua, &a, 1, func)?;
    let Ok(mut data) = B64.decode(text.as_bytes().trim_ascii()) else {
        // The key is checked first, as for the other ciphers.
        rc4_apply(lua, &a, func, &mut [])?;
        return refuse(lua, func, "the data is not base64");
    };
    rc4_apply(lua, &a, func, &mut data)?;
    one(lua.create_string(data)?, lua)
}

/// `crypto.rsa_generate([bits = 2048])` → `{private = PEM, public = PEM}` (PKCS#1).
fn rsa_generate(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
    let func = "rsa_generate";
    let bits = match a.front() {
        None | Some(mlua::Value::Nil) => 2048,
        Some(_) => args::check_integer(&a, 1, func)?,
    };
    if !(1024..=4096).contains(&bits) || bits % 8 != 0 {
        return Err(args::arg_error(
            1,
            func,
            "bits must be a multiple of 8 from 1024 to 4096",
        ));
    }
    let key = rsa::PrivateKey::new(&mut rand::rngs::SysRng, bits as usize)
        .map_err(|e| mlua::Error::runtime(format!("{func}: {e}")))?;
    let private = key
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| mlua::Error::runtime(format!("{func}: {e}")))?;
    let public = key
        .to_public_key()
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| mlua::Error::runtime(format!("{func}: {e}")))?;
    let t = lua.create_table()?;
    t.raw_set("private", private.as_str())?;
    t.raw_set("public", public)?;
    one(t, lua)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    /// NIST SP 800-38A F.2.1/F.2.5 (CBC-AES128/256.Encrypt), first two blocks: the padding block
    /// that PKCS#7 adds after them is dropped before comparing.
    #[test]
    fn sp800_38a_cbc() {
        let iv = unhex("000102030405060708090a0b0c0d0e0f");
        let plain = unhex("6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51");
        let k128 = unhex("2b7e151628aed2a6abf7158809cf4f3c");
        let c = cbc_encrypt::<aes::Aes128>(&k128, &iv, &plain).unwrap();
        assert_eq!(
            hex::encode(&c[..32]),
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
        );
        assert_eq!(
            cbc_decrypt::<aes::Aes128>(&k128, &iv, &c).unwrap(),
            Some(plain.clone())
        );
        let k256 = unhex("603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4");
        let c = cbc_encrypt::<aes::Aes256>(&k256, &iv, &plain).unwrap();
        assert_eq!(
            hex::encode(&c[..32]),
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
        );
    }

    /// The GCM specification's (McGrew & Viega) test case 14 and 15: AES-256, 96-bit IV.
    #[test]
    fn gcm_spec_vectors() {
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&[0u8; 32]).unwrap();
        let nonce = [0u8; 12];
        let out = cipher.encrypt(&nonce.into(), [0u8; 16].as_ref()).unwrap();
        assert_eq!(
            hex::encode(out),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
        let key = unhex("feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308");
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let plain = unhex(
            "d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72
             1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255",
        );
        let out = cipher.encrypt(&nonce.into(), plain.as_ref()).unwrap();
        assert_eq!(
            hex::encode(out),
            "522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa
             8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad
             b094dac5d93471bdec1a502270e3cc6c"
                .replace([' ', '\n'], "")
        );
        let mut tampered = cipher.encrypt(&nonce.into(), plain.as_ref()).unwrap();
        tampered[3] ^= 1;
        assert!(cipher.decrypt(&nonce.into(), tampered.as_ref()).is_err());
    }

    /// RFC 6229: RC4 keystream for the 40-bit key 0x0102030405, first 16 bytes.
    #[test]
    fn rc4_keystream() {
        let mut rc4 = <rc4::Rc4 as rc4::KeyInit>::new_from_slice(&unhex("0102030405")).unwrap();
        let mut buf = [0u8; 16];
        rc4.apply_keystream(&mut buf);
        assert_eq!(hex::encode(buf), "b2396305f03dc027ccc3524a0a1118a8");
    }

    /// FIPS 81 / the classic DES example: key 0123456789abcdef, "Now is t" → 3fa40e8a984d4815
    /// (ECB of one block = CBC with a zero IV, first block).
    #[test]
    fn des_known_answer() {
        let c =
            cbc_encrypt::<des::Des>(&unhex("0123456789abcdef"), &[0u8; 8], b"Now is t").unwrap();
        assert_eq!(hex::encode(&c[..8]), "3fa40e8a984d4815");
    }
}
