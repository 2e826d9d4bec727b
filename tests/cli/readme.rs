//! The documentation as a user meets it: `README.md` stays a short user document (at most
//! 20 KiB), and the Markdown links of the README, `docs/*.md` and the other documents lead to
//! files and headings that exist. No binary runs here.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The README's size limit (issue #20): the details live in `docs/`.
const README_MAX_BYTES: u64 = 20 * 1024;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn readme_is_at_most_20_kib() {
    let size = fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        size <= README_MAX_BYTES,
        "README.md is {size} bytes, over the {README_MAX_BYTES}-byte limit: move details to docs/"
    );
}

#[test]
fn readme_links_resolve() {
    let broken = broken_links(&root().join("README.md"));
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn readme_docs_links_resolve() {
    let markdown_in = |dir: &str| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        files.sort();
        files
    };
    let docs = markdown_in("docs");
    assert!(!docs.is_empty(), "docs/ has no Markdown file");
    // The other documents the README links to.
    let others = [
        root().join("ARCHITECTURE.md"),
        root().join("data/README.md"),
    ];
    let broken: Vec<String> = docs
        .iter()
        .chain(&markdown_in("schema"))
        .chain(&others)
        .flat_map(|d| broken_links(d))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn readme_link_checker_finds_what_it_should() {
    let text = "# A `code` Title, with punctuation!\n\
                ## Same\n## Same\n\
                ```sh\n# not a heading [x](nowhere.md)\n```\n\
                See [a](#a-code-title-with-punctuation), [b](#same-1), `[c](in-code.md)`,\n\
                [d](https://example.com/x.md), ![e](pic.png \"title\") and [f](#missing).\n";
    let links = links(text);
    let targets: Vec<&str> = links.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        targets,
        [
            "#a-code-title-with-punctuation",
            "#same-1",
            "https://example.com/x.md",
            "pic.png",
            "#missing"
        ]
    );
    let anchors = anchors(text);
    for a in ["a-code-title-with-punctuation", "same", "same-1"] {
        assert!(anchors.contains(a), "{a} missing from {anchors:?}");
    }
    assert!(!anchors.contains("not-a-heading-xnowheremd"));
    assert_eq!(
        anchor_of("Quality on the real datasets"),
        "quality-on-the-real-datasets"
    );
    assert_eq!(
        anchor_of("The graph model (`train`) — link₁"),
        "the-graph-model-train--link₁"
    );
}

/// Every link of `file` whose target (a path relative to the file, and/or `#anchor`) does not
/// exist, as `file:line: target`. Links to other sites are not followed.
fn broken_links(file: &Path) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap();
    let dir = file.parent().unwrap();
    let shown = file.strip_prefix(root()).unwrap_or(file).display();
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (target.as_str(), None),
        };
        let linked = if path.is_empty() {
            file.to_path_buf()
        } else {
            dir.join(path)
        };
        let ok = match anchor {
            _ if !linked.exists() => false,
            None => true,
            Some(a) => {
                linked.extension().is_some_and(|x| x == "md")
                    && anchors(&fs::read_to_string(&linked).unwrap()).contains(a)
            }
        };
        if !ok {
            broken.push(format!("{shown}:{line}: {target}"));
        }
    }
    broken
}

/// The lines of `text` outside fenced code blocks, with their line numbers, inline code spans
/// blanked (a link written as code is not a link).
fn prose(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut kept = String::with_capacity(line.len());
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
                kept.push(c);
            } else {
                kept.push(if in_code { ' ' } else { c });
            }
        }
        out.push((i + 1, kept));
    }
    out
}

/// Inline links and images, `[text](target)` and `![alt](target "title")`, as (line, target).
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (line, kept) in prose(text) {
        let mut rest = kept.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            let inner = after[..end].trim();
            let target = inner
                .strip_prefix('<')
                .and_then(|t| t.split_once('>').map(|(t, _)| t))
                .unwrap_or_else(|| inner.split_whitespace().next().unwrap_or(""));
            if rest[..at].contains('[') && !target.is_empty() {
                out.push((line, target.to_string()));
            }
            rest = &after[end + 1..];
        }
    }
    out
}

/// The anchors GitHub gives the headings of `text`: [`anchor_of`], repeats numbered `-1`,
/// `-2`, …
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if fenced || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = anchor_of(line[hashes..].trim());
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped except `-` and `_`, each space
/// a `-`.
fn anchor_of(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter(|&c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}
