//! Password hashing (RustCrypto `argon2`): `crypto.password_hash` makes an argon2id PHC string with
//! the crate's defaults (OWASP's m=19 MiB, t=2, p=1) and a random salt; `crypto.password_verify`
//! checks a password against any argon2 PHC string, with the parameters it names.

use super::{one, Builtin};
use crate::runtime::args::check_string;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use mlua::{Lua, MultiValue, Value as LuaValue};

pub(super) const FUNCTIONS: &[(&str, Builtin)] = &[
    ("password_hash", password_hash),
    ("password_verify", password_verify),
];

/// Largest memory (KiB) a hash to verify may ask for: a PHC string from elsewhere must not make us
/// allocate gigabytes (or spin for minutes, below).
const MAX_VERIFY_MEMORY_KIB: u32 = 1 << 20;
/// Most passes and lanes such a hash may ask for (real ones use a handful).
const MAX_VERIFY_PASSES: u32 = 64;
const MAX_VERIFY_LANES: u32 = 64;

fn password_hash(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let password = check_string(lua, &a, 1, "password_hash")?;
    let phc = Argon2::default()
        .hash_password(&password.as_bytes())
        .map_err(|e| mlua::Error::runtime(format!("password_hash: {e}")))?;
    one(phc.to_string(), lua)
}

/// `crypto.password_verify(pw, hash)` → `true`, or `false` (and why, when `hash` is not a usable
/// argon2 PHC string).
fn password_verify(lua: &Lua, a: MultiValue) -> mlua::Result<MultiValue> {
    let password = check_string(lua, &a, 1, "password_verify")?;
    let hash = check_string(lua, &a, 2, "password_verify")?;
    let hash = hash.to_string_lossy();
    let refuse = |why: String| -> mlua::Result<MultiValue> {
        Ok(MultiValue::from_iter([
            LuaValue::Boolean(false),
            LuaValue::String(lua.create_string(format!("password_verify: {why}"))?),
        ]))
    };
    let parsed = match PasswordHash::new(&hash) {
        Ok(p) => p,
        Err(e) => return refuse(format!("not a PHC hash string ({e})")),
    };
    match argon2::Params::try_from(&parsed) {
        Ok(params)
            if params.m_cost() <= MAX_VERIFY_MEMORY_KIB
                && params.t_cost() <= MAX_VERIFY_PASSES
                && params.p_cost() <= MAX_VERIFY_LANES => {}
        Ok(params) => {
            return refuse(format!(
                "the hash asks for too much work (m={} KiB, t={}, p={}; at most m={MAX_VERIFY_MEMORY_KIB}, \
                 t={MAX_VERIFY_PASSES}, p={MAX_VERIFY_LANES})",
                params.m_cost(),
                params.t_cost(),
                params.p_cost()
            ))
        }
        Err(e) => return refuse(format!("bad argon2 parameters ({e})")),
    }
    let ok = Argon2::default()
        .verify_password(&password.as_bytes(), &parsed)
        .is_ok();
    one(ok, lua)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PHC string the Argon2 reference implementation's README shows for password "password",
    /// salt "somesalt", t=2, m=64 MiB, p=4 (argon2i).
    #[test]
    fn verifies_the_reference_phc_string() {
        let phc = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        let parsed = PasswordHash::new(phc).unwrap();
        assert!(Argon2::default()
            .verify_password(b"password", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"passw0rd", &parsed)
            .is_err());
    }

    /// RFC 9106 §5.3: the Argon2id test vector (with secret and associated data).
    #[test]
    fn rfc9106_argon2id_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .data(argon2::AssociatedData::new(&[4u8; 12]).unwrap())
            .output_len(32)
            .build()
            .unwrap();
        let a2 = Argon2::new_with_secret(
            &[3u8; 8],
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        )
        .unwrap();
        let mut out = [0u8; 32];
        a2.hash_password_into(&[1u8; 32], &[2u8; 16], &mut out)
            .unwrap();
        assert_eq!(
            hex::encode(out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }
}
