//! The examples in README.md and docs/*.md are the tests' own files. Every code block followed by a
//! line `(tested: `tests/lua/docs/<file>.lua` ...)` must hold exactly that file's text, so an edit
//! to either shows up here; `tests/lua_golden.rs` runs the file (doc examples run in a scratch copy
//! of their folder, as a reader's copy would) and checks its output. Any page under docs/ is
//! covered, including pages added later. A `(tested: ...)` naming a non-Lua file (a Rust test that
//! drives the example) must name a file that exists, and every `tests/lua/docs/*.lua` example must
//! be shown on some page.

#[path = "support/files.rs"]
mod files;

use files::files_with_extension;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    pages.extend(files_with_extension(&root().join("docs"), "md"));
    pages
}

/// One `(tested: ...)` annotation: the file it names and the code block right above it.
#[derive(Debug)]
struct Tested {
    page: PathBuf,
    line: usize,
    file: String,
    /// The block's text (without its fences), or `None` when no block ends right above.
    block: Option<String>,
}

/// The annotations of one page.
fn annotations(page: &Path, text: &str) -> Vec<Tested> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("(tested: `") else {
            continue;
        };
        let Some(end) = rest.find('`') else {
            continue;
        };
        // The block ends on the line right above (a closing fence), and opens further up.
        let block = (i > 0 && lines[i - 1].trim_start().starts_with("```"))
            .then(|| {
                let open = (0..i - 1)
                    .rev()
                    .find(|&j| lines[j].trim_start().starts_with("```"))?;
                Some(lines[open + 1..i - 1].join("\n") + "\n")
            })
            .flatten();
        found.push(Tested {
            page: page.to_path_buf(),
            line: i + 1,
            file: rest[..end].to_string(),
            block,
        });
    }
    found
}

#[test]
fn every_tested_example_is_its_test_file() {
    let mut problems = Vec::new();
    let mut shown = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("page is readable");
        for t in annotations(&page, &text) {
            let at = format!(
                "{}:{}",
                t.page.strip_prefix(root()).unwrap_or(&t.page).display(),
                t.line
            );
            let path = root().join(&t.file);
            if !t.file.ends_with(".lua") {
                if !path.exists() {
                    problems.push(format!("{at}: names {}, which does not exist", t.file));
                }
                continue;
            }
            shown.push(path.clone());
            let Ok(want) = std::fs::read_to_string(&path) else {
                problems.push(format!("{at}: names {}, which does not exist", t.file));
                continue;
            };
            let Some(block) = t.block else {
                problems.push(format!(
                    "{at}: no code block right above `(tested: {})`",
                    t.file
                ));
                continue;
            };
            checked += 1;
            if block.contains("TEST_TMP") {
                problems.push(format!(
                    "{at}: the example reads TEST_TMP; examples run as written, in the working \
                     directory (the golden harness gives each a scratch copy of its folder)"
                ));
            }
            if block.trim_end() != want.trim_end() {
                problems.push(format!(
                    "{at}: the example differs from {}\n--- on the page\n{block}--- in the file\n{want}---",
                    t.file
                ));
            }
        }
    }
    // Every doc example file is shown somewhere (else it tests a page that no longer has it).
    let dir = root().join("tests/lua/docs");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/lua/docs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    examples.sort();
    for f in examples {
        if !shown.contains(&f) {
            problems.push(format!(
                "{} is shown on no page (no `(tested: ...)` names it)",
                f.strip_prefix(root()).unwrap_or(&f).display()
            ));
        }
    }
    assert!(checked > 0, "no tested example found");
    assert!(
        problems.is_empty(),
        "{} problem(s) with doc examples:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    eprintln!("{checked} doc examples match their test files");
}

#[test]
fn an_annotation_takes_the_block_right_above_it() {
    let page = "text\n```lua\nprint(1)\n```\n(tested: `tests/lua/docs/a.lua`)\n\n```lua\nx\n```\n\
                words\n(tested: `tests/lua/docs/b.lua`: exit 1)\n(tested: `tests/x.rs` drives it)\n";
    let found = annotations(Path::new("p.md"), page);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].file, "tests/lua/docs/a.lua");
    assert_eq!(found[0].block.as_deref(), Some("print(1)\n"));
    assert_eq!(found[1].file, "tests/lua/docs/b.lua");
    assert_eq!(found[1].block, None);
    assert_eq!(found[2].file, "tests/x.rs");
}
