//! Interop with pure-Lua libraries installed the usual way (issue 7, `docs/modules.md`): a single-file
//! module on `LUA_PATH`, and a luarocks-style tree (`share/lua/5.4/<name>.lua` and
//! `<name>/init.lua`), load with `require` exactly as they do under `lua5.4`.

use std::path::Path;
use std::process::Command;

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

/// Runs `script` (written into `work`) with `LUA_PATH` set to `lua_path`; returns (code, stdout, stderr).
fn run(work: &Path, script: &str, lua_path: &str) -> (i32, String, String) {
    std::fs::write(work.join("main.lua"), script).expect("write script");
    let out = Command::new(solvm())
        .arg("main.lua")
        .current_dir(work)
        .env("LUA_PATH", lua_path)
        .env_remove("LUA_PATH_5_4")
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn single_file_module_on_lua_path_loads_with_require() {
    let libs = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        libs.path().join("inspectish.lua"),
        "local M = {}\nfunction M.show(t) local keys = {} for k in pairs(t) do keys[#keys + 1] = k end \
         table.sort(keys) return '{' .. table.concat(keys, ',') .. '}' end\nreturn M\n",
    )
    .expect("write module");
    let lua_path = format!("{}/?.lua;;", libs.path().display());
    let script = "local m = require('inspectish')\n\
                  print(m.show({b = 1, a = 2}))\n\
                  print(require('inspectish') == m, package.loaded.inspectish == m)\n\
                  print(package.path:find(';;', 1, true) == nil)\n\
                  -- the module also works inside a goroutine (globals and upvalues are copied)\n\
                  go(function() print(m.show({z = 1})) end)\n\
                  wait()\n";
    let (code, stdout, stderr) = run(work.path(), script, &lua_path);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(stdout, "{a,b}\ntrue\ttrue\ntrue\n{z}\n", "stderr: {stderr}");
}

#[test]
fn luarocks_tree_loads_with_require() {
    let home = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let share = home.path().join(".luarocks/share/lua/5.4");
    std::fs::create_dir_all(share.join("pkg")).expect("mkdir");
    std::fs::write(share.join("single.lua"), "return {name = 'single'}\n").expect("write");
    std::fs::write(
        share.join("pkg/init.lua"),
        "return {name = 'pkg', sub = require('pkg.sub')}\n",
    )
    .expect("write");
    std::fs::write(share.join("pkg/sub.lua"), "return 'pkg.sub'\n").expect("write");
    let lua_path = format!("{0}/?.lua;{0}/?/init.lua;;", share.display());
    let script = "print(require('single').name)\n\
                  local p = require('pkg')\n\
                  print(p.name, p.sub)\n\
                  print(package.loaded.single == require('single'))\n";
    let (code, stdout, stderr) = run(work.path(), script, &lua_path);
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(stdout, "single\npkg\tpkg.sub\ntrue\n", "stderr: {stderr}");
}

#[test]
fn without_lua_path_the_module_is_not_found() {
    let libs = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::write(libs.path().join("elsewhere.lua"), "return 1\n").expect("write");
    let (code, _, stderr) = run(work.path(), "require('elsewhere')\n", ";;");
    assert_eq!(code, 1);
    assert!(
        stderr.contains("module 'elsewhere' not found"),
        "stderr: {stderr}"
    );
}
