//! The house's size rule, held against the code: no function under `crates/*/src` is longer than `MAX_LINES`, but
//! those named in `LONG`, each with why. Lines are counted from the `fn` line to its closing brace, by the test's own
//! reading of Rust's braces (strings, characters, raw strings and comments skipped), not by any tool of the project.

use std::path::{Path, PathBuf};

/// A function's longest length.
const MAX_LINES: usize = 80;

/// Functions allowed past `MAX_LINES` (`crate-dir/src/path.rs::name`), with why. At most three.
const LONG: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code with every string, character literal and comment blanked (line breaks kept), so that only real braces
/// and `fn` keywords are left to count.
fn blank(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_lines = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(keep_lines(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
            i += 2 + hashes;
            out.push_str(&" ".repeat(2 + hashes));
            while i < chars.len() && chars[i..].iter().take(close.len()).ne(close.iter()) {
                out.push(keep_lines(chars[i]));
                i += 1;
            }
            out.push_str(&" ".repeat(close.len()));
            i += close.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for k in 0..skip {
                    out.push(chars.get(i + k).map_or(' ', |&c| keep_lines(c)));
                }
                i += skip;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            // `'x'` ends two on; an escape (`'\n'`, `'\''`, `'\\'`, `'\u{7f}'`) at the first quote past it.
            let end = match chars[i + 1] {
                '\\' => (i + 3..chars.len()).find(|&j| chars[j] == '\'').unwrap_or(i + 3),
                _ => i + 2,
            };
            out.push_str(&" ".repeat(end - i + 1));
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// A `'` that opens a character literal (`'{'`, `'\n'`, `'\''`), not a lifetime (`'a`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    matches!((chars.get(i + 1), chars.get(i + 2)), (Some('\\'), _) | (Some(_), Some('\'')))
}

/// Each function of `text`: its name, first line (from 1) and length in lines.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = blank(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(at) = find_fn(line) else { continue };
        let name: String = line[at + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let mut depth = 0usize;
        let mut opened = false;
        'scan: for (offset, body) in lines[start..].iter().enumerate() {
            let from = if offset == 0 { at } else { 0 };
            for c in body[from..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth = depth.saturating_sub(1),
                    ';' if !opened && depth == 0 => break 'scan,
                    _ => {}
                }
                if opened && depth == 0 {
                    out.push((name.clone(), start + 1, offset + 1));
                    break 'scan;
                }
            }
        }
    }
    out
}

/// Where `fn ` starts a function item on the line: the keyword alone, not part of a longer word.
fn find_fn(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = line[from..].find("fn ").map(|a| a + from) {
        let before = line[..at].chars().last();
        if before.is_none_or(|c| c == ' ' || c == '\t' || c == '(') {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

#[test]
fn no_function_is_longer_than_the_house_allows() {
    assert!(LONG.len() <= 3, "at most three functions may be long");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut long = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(root().join("crates")).unwrap().to_string_lossy().replace('\\', "/");
        for (name, line, length) in functions(&text) {
            let id = format!("{shown}::{name}");
            if length > MAX_LINES && !LONG.iter().any(|(allowed, _)| *allowed == id) {
                long.push(format!("{id} (line {line}): {length} lines"));
            }
        }
    }
    assert!(!files.is_empty());
    assert!(long.is_empty(), "functions over {MAX_LINES} lines:\n{}", long.join("\n"));
}

#[test]
fn the_counter_skips_braces_in_strings_characters_and_comments() {
    let text = "fn a() {\n    let s = \"}}}\";\n    let c = '}';\n    // }\n    let r = r#\"}\"#;\n}\nfn b<'x>(v: &'x str) -> &'x str {\n    v\n}\ntrait T {\n    fn c(&self);\n}\n";
    let found = functions(text);
    assert_eq!(
        found,
        [("a".to_owned(), 1, 6), ("b".to_owned(), 7, 3)],
        "a's braces in its string, char, comment and raw string are not counted; c has no body"
    );
}
