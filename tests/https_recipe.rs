//! The HTTPS recipe of docs/servers.md, exactly as written there: its `openssl` commands make a
//! private CA and a server certificate in a scratch folder, then its script serves HTTPS with them
//! and fetches with `ca_file`. (`openssl` comes with Debian; `scripts/test` installs it if missing.)

use std::process::Command;

/// The first fenced block of `lang` after `marker` in docs/servers.md.
fn block_after(docs: &str, marker: &str, lang: &str) -> String {
    let start = docs.find(marker).expect("the HTTPS section") + marker.len();
    let fence = format!("```{lang}\n");
    let open = docs[start..].find(&fence).expect("a fenced block") + start + fence.len();
    let close = docs[open..].find("```").expect("end of the block") + open;
    docs[open..close].to_string()
}

#[test]
fn the_https_recipe_works_as_written() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/servers.md"))
        .expect("read docs/servers.md");
    let commands = block_after(&docs, "**HTTPS**", "bash");
    let script = block_after(&docs, "**HTTPS**", "lua");
    assert!(commands.contains("openssl") && script.contains("ca_file"));

    let dir = tempfile::tempdir().expect("tempdir");
    let made = Command::new("sh")
        .args(["-e", "-c", &commands])
        .current_dir(dir.path())
        .output()
        .expect("run sh (is openssl installed? scripts/test installs it)");
    assert!(
        made.status.success(),
        "the recipe's commands failed:\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(dir.path().join(file).is_file(), "{file} not made");
    }

    std::fs::write(dir.path().join("https.lua"), &script).expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_solvm"))
        .arg("https.lua")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200\thello over TLS\nnil\ttrue\n",
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
}
