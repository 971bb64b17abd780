//! Batteries (SPEC §13) against another implementation: Python 3's standard library. Data made by
//! Python is decoded by `solvm`, data made by `solvm` is decoded by Python (hashlib, hmac, gzip,
//! zlib, tarfile, zipfile, csv, tomllib), and archives crafted by Python to escape the destination
//! (`../../x`, absolute names, links out) are refused with nothing written outside.

use std::path::Path;
use std::process::Command;

fn solvm() -> &'static str {
    env!("CARGO_BIN_EXE_solvm")
}

/// Runs a Lua script in `dir`; returns stdout, panicking (with stderr) on a non-zero exit.
fn lua(dir: &Path, script: &str) -> String {
    std::fs::write(dir.join("main.lua"), script).expect("write script");
    let out = Command::new(solvm())
        .arg("main.lua")
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run solvm");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "solvm failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a Python script in `dir`; returns stdout, panicking (with stderr) on failure.
fn python(dir: &Path, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("python3 is needed for these tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hashes_and_hmac_agree_with_hashlib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    python(
        d,
        "import os; open('data.bin','wb').write(os.urandom(100_003))",
    );
    let algs = [
        "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384",
        "sha3_512",
    ];
    let ours = lua(
        d,
        &format!(
            "local data = read_file('data.bin')
             for _, alg in ipairs({{'{}'}}) do
               print(alg, crypto.hash(alg, data), crypto.hmac(alg, 'key!', data))
             end
             print('crc32', crypto.crc32(data))
             print('b64', crypto.sha256(base64_encode(data)), crypto.sha256(base64url_encode(data)))",
            algs.join("','")
        ),
    );
    let theirs = python(
        d,
        &format!(
            "import hashlib, hmac, zlib, base64
data = open('data.bin','rb').read()
for alg in ['{}']:
    print(alg, hashlib.new(alg, data).hexdigest(), hmac.new(b'key!', data, alg).hexdigest(), sep='\\t')
print('crc32', zlib.crc32(data), sep='\\t')
print('b64', hashlib.sha256(base64.b64encode(data)).hexdigest(),
      hashlib.sha256(base64.urlsafe_b64encode(data).rstrip(b'=')).hexdigest(), sep='\\t')",
            algs.join("','")
        ),
    );
    assert_eq!(ours, theirs);
}

#[test]
fn gzip_zlib_deflate_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    python(
        d,
        "import os, gzip, zlib
data = os.urandom(50_000) + b'repetitive ' * 20_000
open('data.bin','wb').write(data)
open('py.gz','wb').write(gzip.compress(data, 6))
open('py.zlib','wb').write(zlib.compress(data, 9))
c = zlib.compressobj(6, zlib.DEFLATED, -15)
open('py.deflate','wb').write(c.compress(data) + c.flush())",
    );
    let out = lua(
        d,
        "local data = read_file('data.bin')
         for _, f in ipairs({'gzip', 'zlib', 'deflate'}) do
           print(f, compress.decode(f, read_file('py.' .. (f == 'gzip' and 'gz' or f))) == data)
           write_file('lua.' .. f, compress.encode(f, data, 6))
         end",
    );
    assert_eq!(out, "gzip\ttrue\nzlib\ttrue\ndeflate\ttrue\n");
    let back = python(
        d,
        "import gzip, zlib
data = open('data.bin','rb').read()
print(gzip.decompress(open('lua.gzip','rb').read()) == data,
      zlib.decompress(open('lua.zlib','rb').read()) == data,
      zlib.decompress(open('lua.deflate','rb').read(), -15) == data)",
    );
    assert_eq!(back, "True True True\n");
}

/// A tree with a nested file, an empty directory and a symlink, made by Python.
const PY_TREE: &str = "import os
os.makedirs('tree/sub/empty')
open('tree/a.txt','w').write('alpha\\n')
open('tree/sub/b.bin','wb').write(bytes(range(256)))
os.chmod('tree/sub/b.bin', 0o600)
os.symlink('a.txt', 'tree/link')";

#[test]
fn tar_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    python(
        d,
        &format!(
            "{PY_TREE}
import tarfile
with tarfile.open('py.tar.gz', 'w:gz') as t:
    t.add('tree', arcname='.')"
        ),
    );
    let out = lua(
        d,
        "print(tar.extract('py.tar.gz', 'out'))
         print(read_file('out/a.txt'), #read_file('out/sub/b.bin'), read_file('out/link'),
               stat('out/sub/b.bin').mode, stat('out/sub/empty').is_dir)
         print(tar.create('lua.tar', 'tree'), tar.create('lua.tgz', 'tree'))",
    );
    assert_eq!(
        out,
        "true\nalpha\n\t256\talpha\n\t-rw-------\ttrue\ntrue\ttrue\n"
    );
    let back = python(
        d,
        "import tarfile
for name in ['lua.tar', 'lua.tgz']:
    with tarfile.open(name) as t:
        members = {m.name: m for m in t.getmembers()}
        print(sorted(members), members['link'].issym(), members['link'].linkname,
              oct(members['sub/b.bin'].mode), t.extractfile('sub/b.bin').read() == bytes(range(256)))
        t.extractall('py-' + name, filter='data')
print(open('py-lua.tgz/a.txt').read(), end='')",
    );
    let line = "['a.txt', 'link', 'sub', 'sub/b.bin', 'sub/empty'] True a.txt 0o600 True\n";
    assert_eq!(back, format!("{line}{line}alpha\n"));
}

#[test]
fn zip_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    python(
        d,
        &format!(
            "{PY_TREE}
import zipfile
with zipfile.ZipFile('py.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.write('tree/a.txt', 'a.txt')
    z.write('tree/sub/b.bin', 'sub/b.bin')
    z.writestr('sub/empty/', '')"
        ),
    );
    let out = lua(
        d,
        "print(zip.extract('py.zip', 'out'))
         print(read_file('out/a.txt'), #read_file('out/sub/b.bin'), stat('out/sub/empty').is_dir)
         print(zip.create('lua.zip', 'tree'))",
    );
    assert_eq!(out, "true\nalpha\n\t256\ttrue\ntrue\n");
    let back = python(
        d,
        "import zipfile, stat
with zipfile.ZipFile('lua.zip') as z:
    print(z.testzip(), sorted(z.namelist()))
    info = z.getinfo('link')
    print(stat.S_ISLNK(info.external_attr >> 16), z.read('link'), z.read('sub/b.bin') == bytes(range(256)),
          oct((z.getinfo('sub/b.bin').external_attr >> 16) & 0o777))",
    );
    assert_eq!(
        back,
        "None ['a.txt', 'link', 'sub/', 'sub/b.bin', 'sub/empty/']\nTrue b'a.txt' True 0o600\n"
    );
}

#[test]
fn csv_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let rows = "[['plain', 'with,comma', 'with \"quote\"'], ['multi\\nline', '', ' spaced '], ['é', 'x;y', '\\'']]";
    python(
        d,
        &format!(
            "import csv, json
rows = {rows}
with open('py.csv', 'w', newline='') as f:
    csv.writer(f).writerows(rows)
json.dump(rows, open('rows.json', 'w'))"
        ),
    );
    let out = lua(
        d,
        "local rows = csv.read('py.csv')
         print(json_encode(rows) == json_encode(json_decode(read_file('rows.json'))))
         print(csv.write('lua.csv', rows))",
    );
    assert_eq!(out, "true\ntrue\n");
    let back = python(
        d,
        &format!(
            "import csv
with open('lua.csv', newline='') as f:
    print(list(csv.reader(f)) == {rows})"
        ),
    );
    assert_eq!(back, "True\n");
}

#[test]
fn toml_agrees_with_tomllib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("doc.toml"),
        "title = \"TOML\"\nint = -17\nhex = 0xff\nfloat = 6.5e-3\nwhole = 2.0\nbool = true\n\
         arr = [1, [2, 3], \"x\"]\n[owner]\nname = \"Tom\"\n\"quoted key\" = 'lit\\eral'\n\
         [[fruit]]\nname = \"apple\"\n[[fruit]]\nname = \"banana\"\n",
    )
    .expect("write doc");
    // Python's view of the document, and ours, as JSON; then Python reads what we write.
    let theirs = python(
        d,
        "import tomllib, json
print(json.dumps(tomllib.load(open('doc.toml','rb')), sort_keys=True, separators=(',', ':')))",
    );
    let ours = lua(
        d,
        "local doc = toml.decode(read_file('doc.toml'))
         print(json_encode(doc))
         write_file('lua.toml', toml.encode(doc))",
    );
    assert_eq!(ours, theirs);
    let back = python(
        d,
        "import tomllib
print(tomllib.load(open('lua.toml','rb')) == tomllib.load(open('doc.toml','rb')))",
    );
    assert_eq!(back, "True\n");
}

/// Archives crafted to escape the destination; each must be refused whole, naming the entry, with
/// nothing written outside (or inside).
#[test]
fn crafted_archives_cannot_escape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let abs = d.join("abs-target");
    python(
        d,
        &format!(
            "import tarfile, zipfile, io, os
def tar(name, entries):
    with tarfile.open(name, 'w') as t:
        for n, kind, extra in entries:
            info = tarfile.TarInfo(n)
            if kind == 'file':
                info.size = len(extra); t.addfile(info, io.BytesIO(extra))
            elif kind == 'sym':
                info.type = tarfile.SYMTYPE; info.linkname = extra; t.addfile(info)
            elif kind == 'hard':
                info.type = tarfile.LNKTYPE; info.linkname = extra; t.addfile(info)
            elif kind == 'fifo':
                info.type = tarfile.FIFOTYPE; t.addfile(info)
ok = ('ok.txt', 'file', b'fine')
tar('dotdot.tar', [ok, ('../../escaped.txt', 'file', b'x')])
tar('abs.tar', [ok, ('{abs}', 'file', b'x')])
tar('symlink.tar', [ok, ('out', 'sym', '../..'), ('out/escaped.txt', 'file', b'x')])
tar('symabs.tar', [ok, ('etc', 'sym', '/etc')])
tar('through.tar', [ok, ('in', 'sym', '.'), ('in/x.txt', 'file', b'x')])
tar('hard.tar', [ok, ('h', 'hard', '../../escaped.txt')])
tar('fifo.tar', [ok, ('pipe', 'fifo', None)])
with zipfile.ZipFile('dotdot.zip', 'w') as z:
    z.writestr('ok.txt', 'fine'); z.writestr('../../escaped.txt', 'x')
with zipfile.ZipFile('abs.zip', 'w') as z:
    z.writestr('ok.txt', 'fine'); z.writestr('{abs}', 'x')
with zipfile.ZipFile('symlink.zip', 'w') as z:
    z.writestr('ok.txt', 'fine')
    info = zipfile.ZipInfo('up'); info.external_attr = (0o120777 << 16); z.writestr(info, '../../..')",
            abs = abs.display()
        ),
    );
    let out = lua(
        d,
        "for _, name in ipairs({'dotdot.tar', 'abs.tar', 'symlink.tar', 'symabs.tar', 'through.tar',
                                'hard.tar', 'fifo.tar', 'dotdot.zip', 'abs.zip', 'symlink.zip'}) do
           local lib = name:find('zip') and zip or tar
           local dest = 'dest/' .. name
           local ok, err = lib.extract(name, dest)
           print(name, ok, err, file_exists(dest .. '/ok.txt'))
         end",
    );
    let abs_text = abs.display().to_string();
    let expected = [
        (
            "dotdot.tar",
            "refused entry ../../escaped.txt: a `..` in ../../escaped.txt",
        ),
        ("abs.tar", "refused entry"),
        (
            "symlink.tar",
            "refused entry out: a link to ../.., outside the destination",
        ),
        (
            "symabs.tar",
            "refused entry etc: a link to the absolute path /etc",
        ),
        (
            "through.tar",
            "refused entry in/x.txt: it would be written through the link in",
        ),
        (
            "hard.tar",
            "refused entry h: a hard link to a `..` in ../../escaped.txt",
        ),
        (
            "fifo.tar",
            "refused entry pipe: not a file, directory or link",
        ),
        (
            "dotdot.zip",
            "refused entry ../../escaped.txt: a `..` in ../../escaped.txt",
        ),
        ("abs.zip", "refused entry"),
        (
            "symlink.zip",
            "refused entry up: a link to ../../.., outside the destination",
        ),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, (name, why)) in lines.iter().zip(expected) {
        assert!(line.starts_with(&format!("{name}\tnil\t")), "{line}");
        assert!(line.contains(why), "{line} lacks {why}");
        assert!(
            line.ends_with("\tfalse"),
            "{name} extracted something: {line}"
        );
    }
    assert!(
        lines[1].contains(&abs_text) && lines[8].contains(&abs_text),
        "{out}"
    );
    // Nothing anywhere outside the destinations.
    for escaped in [
        d.join("escaped.txt"),
        d.parent().expect("parent").join("escaped.txt"),
        abs.clone(),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
}

#[test]
fn gzip_bomb_stops_at_the_default_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // 300 MiB of zeros, written by Python in chunks: about 300 KB of gzip.
    python(
        d,
        "import gzip
with gzip.open('bomb.gz', 'wb', 9) as f:
    chunk = bytes(1 << 20)
    for _ in range(300):
        f.write(chunk)",
    );
    let out = lua(
        d,
        "local bomb = read_file('bomb.gz')
         print(#bomb < 1024 * 1024)
         print(compress.decode('gzip', bomb))
         print(compress.decode('gzip', bomb, {max_bytes = 4096}))
         print(#compress.decode('gzip', bomb, {max_bytes = 300 * 1024 * 1024}))",
    );
    assert_eq!(
        out,
        "true\nnil\tcompress.decode: the output exceeds max_bytes (268435456 bytes)\n\
         nil\tcompress.decode: the output exceeds max_bytes (4096 bytes)\n314572800\n"
    );
}

/// Archives whose files add up past `max_bytes` are refused whole before anything is written;
/// under the limit they extract.
#[test]
fn archive_bombs_stop_at_max_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    python(
        d,
        "import io, tarfile, zipfile
zeros = bytes(600 * 1024)
with tarfile.open('bomb.tar.gz', 'w:gz') as t:
    for name in ('a', 'b'):
        info = tarfile.TarInfo(name); info.size = len(zeros); t.addfile(info, io.BytesIO(zeros))
with zipfile.ZipFile('bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    for name in ('a', 'b'):
        z.writestr(name, zeros)",
    );
    let out = lua(
        d,
        "for _, name in ipairs({'bomb.tar.gz', 'bomb.zip'}) do
           local lib = name:find('zip') and zip or tar
           print(lib.extract(name, 'small-' .. name, {max_bytes = 1024 * 1024}))
           print(file_exists('small-' .. name .. '/a'))
           print(lib.extract(name, 'big-' .. name, {max_bytes = 2 * 1024 * 1024}),
                 #read_file('big-' .. name .. '/b'))
           print(lib.extract(name, 'default-' .. name))
           print(pcall(lib.extract, name, 'x', {max_bytes = -1}))
         end",
    );
    let mut want = String::new();
    for name in ["bomb.tar.gz", "bomb.zip"] {
        let lib = if name.ends_with("zip") { "zip" } else { "tar" };
        want.push_str(&format!(
            "nil\t{lib}.extract: refused entry b: the files would take more than max_bytes (1048576 bytes)\n\
             false\ntrue\t614400\ntrue\n\
             false\tbad argument #3 to '{lib}.extract' (max_bytes must be a non-negative integer)\n"
        ));
    }
    assert_eq!(out, want);
}

#[test]
fn ft_download_and_upload_against_a_python_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("served.bin"),
        (0..=255u8).cycle().take(70_000).collect::<Vec<u8>>(),
    )
    .expect("write served file");
    // Serves GET /served.bin (404 otherwise) and stores POST bodies; prints its port, then serves
    // at most 10 requests and stops by itself.
    let server = "import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != '/served.bin':
            self.send_response(404); self.end_headers(); return
        body = open('served.bin','rb').read()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        open('uploaded.bin','wb').write(body)
        open('uploaded.type','w').write(self.headers['Content-Type'])
        self.send_response(201); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
s.timeout = 20
print(s.server_address[1], flush=True)
for _ in range(10):
    s.handle_request()";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(server)
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start python server");
    let mut port = String::new();
    {
        use std::io::BufRead;
        let stdout = child.stdout.take().expect("stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut port)
            .expect("read port");
    }
    let base = format!("http://127.0.0.1:{}", port.trim());
    let out = lua(
        d,
        &format!(
            "print(ft.download('{base}/served.bin', 'got/nested/file.bin'))
             print(read_file('got/nested/file.bin') == read_file('served.bin'))
             print(ft.download('{base}/missing', 'got/missing.bin'))
             print(file_exists('got/missing.bin'))
             print(ft.upload('served.bin', '{base}/upload'))"
        ),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        out,
        format!("true\ntrue\nnil\tft.download: GET {base}/missing: HTTP status 404\nfalse\ntrue\n")
    );
    assert_eq!(
        std::fs::read(d.join("uploaded.bin")).expect("uploaded"),
        std::fs::read(d.join("served.bin")).expect("served")
    );
    assert_eq!(
        std::fs::read_to_string(d.join("uploaded.type")).expect("type"),
        "application/octet-stream"
    );
}
