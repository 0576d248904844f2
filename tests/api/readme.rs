//! README.md stays true: every command line in its `sh` blocks names a real command, flag,
//! script or route; the blocks that need no server and no network are run, in order, in a
//! temporary directory with the `procura` binary on the PATH; every relative link points at
//! a file or a heading that exists.

use clap::Parser;
use procura::cli::Cli;
use std::path::Path;

const README: &str = include_str!("../../README.md");

/// A fenced code block: its language, first line number, and text.
struct Block {
    lang: String,
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        lang: lang.trim().to_owned(),
                        line: n + 2,
                        text: String::new(),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.text.push_str(line);
            b.text.push('\n');
        }
    }
    out
}

/// The simple commands of a shell text, as words (quotes removed, comments, redirections
/// and `$(…)` contents kept out of the way). Enough shell for documentation, not a shell.
fn commands(text: &str) -> Vec<Vec<String>> {
    let joined = text.replace("\\\n", " ");
    let mut all = Vec::new();
    for line in joined.lines() {
        let mut words: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut redirected = false;
        let mut chars = line.chars().peekable();
        let finish = |words: &mut Vec<String>, all: &mut Vec<Vec<String>>| {
            if !words.is_empty() {
                all.push(std::mem::take(words));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    in_word = true;
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        word.push(q);
                    }
                }
                '"' => {
                    in_word = true;
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => break,
                            '\\' => word.extend(chars.next()),
                            _ => word.push(q),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    word.extend(chars.next());
                }
                '$' if chars.peek() == Some(&'(') => {
                    // Command substitution: kept whole as part of the word.
                    in_word = true;
                    let mut depth = 0;
                    word.push('$');
                    for q in chars.by_ref() {
                        word.push(q);
                        match q {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                '#' if !in_word => break,
                ' ' | '\t' | ';' | '|' | '&' | '>' | '<' => {
                    if in_word && !redirected {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    in_word = false;
                    match c {
                        '>' | '<' => redirected = true,
                        ';' | '|' | '&' => {
                            redirected = false;
                            finish(&mut words, &mut all);
                        }
                        _ => {}
                    }
                }
                '2' if !in_word && chars.peek() == Some(&'>') => {}
                _ => {
                    in_word = true;
                    word.push(c);
                }
            }
        }
        if in_word && !redirected {
            words.push(word);
        }
        finish(&mut words, &mut all);
    }
    all
}

/// The command's program and arguments, after any `NAME=value` assignments.
fn program(words: &[String]) -> &[String] {
    let start = words
        .iter()
        .position(|w| {
            !w.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
        .unwrap_or(words.len());
    &words[start..]
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `path` (a request path, no query) is served for `method`.
fn route_exists(method: &str, path: &str) -> bool {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    procura::http::ROUTES.iter().any(|(m, pattern)| {
        let want: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
        *m == method
            && want.len() == parts.len()
            && want
                .iter()
                .zip(&parts)
                .all(|(w, p)| w.starts_with('{') || w == p)
    })
}

/// What is wrong with one command line of the README; `None` when it refers to real things.
fn check_command(words: &[String]) -> Option<String> {
    let args = program(words);
    let Some(first) = args.first() else {
        return None; // assignments only (x=$(…))
    };
    match first.as_str() {
        "procura" => Cli::try_parse_from(args).err().map(|e| {
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            format!("`{}`: {first}", args.join(" "))
        }),
        "curl" => {
            let method = args
                .windows(2)
                .find(|w| w[0] == "-X")
                .map(|w| w[1].clone())
                .unwrap_or_else(|| {
                    if args.iter().any(|a| a == "-d" || a.starts_with("--data")) {
                        "POST".into()
                    } else {
                        "GET".into()
                    }
                });
            let url = args
                .iter()
                .find(|a| a.contains("localhost:8080") || a.contains("127.0.0.1:8080"))?;
            let path = url
                .split_once(":8080")
                .map(|(_, p)| p.split('?').next().unwrap_or_default())
                .unwrap_or_default();
            (!route_exists(&method, path)).then(|| format!("no route {method} {path}"))
        }
        "cargo" => {
            let bench = args.windows(2).find(|w| w[0] == "--bench").map(|w| &w[1]);
            bench
                .filter(|b| !repo().join("benches").join(format!("{b}.rs")).exists())
                .map(|b| format!("no benchmark {b}"))
        }
        script if script.contains('/') && !script.starts_with(".venv") => {
            let path = repo().join(script.trim_start_matches("./"));
            (!path.is_file()).then(|| format!("no script {script}"))
        }
        "printf" | "openssl" | "createdb" | "tail" | "head" | "basenc" | "tr" => None,
        other => Some(format!(
            "unknown program `{other}` (add it to the README test)"
        )),
    }
}

/// Whether a block can run here: no server, no network, no external database.
fn runs_offline(commands: &[Vec<String>]) -> bool {
    const OFFLINE: [&str; 9] = [
        "persons import",
        "pin set",
        "clients add",
        "clients list",
        "operators add",
        "operators list",
        "migrate",
        "audit verify",
        "spid metadata",
    ];
    commands.iter().all(|words| {
        let args = program(words);
        let env_ok = !words.iter().any(|w| w.contains("postgres://"));
        match args.first().map(String::as_str) {
            None => true,
            Some("procura") => {
                let sub = args.get(1..3).map(|s| s.join(" ")).unwrap_or_default();
                env_ok
                    && OFFLINE
                        .iter()
                        .any(|o| sub == *o || args.get(1).is_some_and(|a| a == o))
            }
            Some("printf" | "openssl" | "tail" | "head" | "basenc" | "tr") => true,
            Some(_) => false,
        }
    })
}

#[test]
fn every_command_line_in_the_readme_refers_to_real_things() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for b in blocks(README).iter().filter(|b| b.lang == "sh") {
        for words in commands(&b.text) {
            checked += 1;
            if let Some(p) = check_command(&words) {
                problems.push(format!("README.md block at line {}: {p}", b.line));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 25, "only {checked} command lines found");
}

#[test]
fn the_readme_blocks_that_need_no_server_run() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_procura")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for b in blocks(README).iter().filter(|b| b.lang == "sh") {
        if !runs_offline(&commands(&b.text)) {
            continue;
        }
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &b.text])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("PROCURA_LOG__FILTER", "error")
            .env_remove("PROCURA_DATABASE__URL")
            .env_remove("PROCURA_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README.md block at line {} failed:\n{}\n{}{}",
            b.line,
            b.text,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    // The client registrations (with the JWKS made by hand) and the PIN quick start.
    assert!(ran >= 2, "only {ran} blocks ran");
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_resolves() {
    let anchors: Vec<String> = README
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect();
    let mut problems = Vec::new();
    for (target, _) in README
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')'))
    {
        if target.starts_with("http") {
            continue;
        }
        if let Some(anchor) = target.strip_prefix('#') {
            if !anchors.iter().any(|a| a == anchor) {
                problems.push(format!("no heading #{anchor}"));
            }
        } else if !repo().join(target).exists() {
            problems.push(format!("no file {target}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_shell_reading_of_the_test_is_right() {
    let text = "PROCURA_X=1 procura clients add --name \"A B\" \\\n  --scope 'openid profile' # c\n\
                x=$(head -c 2 f | tr -d '='); y=2\nopenssl ec -in k 2>/dev/null | tail -c 64 > out\n";
    let c = commands(text);
    assert_eq!(
        c[0],
        [
            "PROCURA_X=1",
            "procura",
            "clients",
            "add",
            "--name",
            "A B",
            "--scope",
            "openid profile"
        ]
    );
    assert_eq!(c[1], ["x=$(head -c 2 f | tr -d '=')"]);
    assert_eq!(c[2], ["y=2"]);
    assert_eq!(c[3], ["openssl", "ec", "-in", "k"]);
    assert_eq!(c[4], ["tail", "-c", "64"]);
    assert!(
        check_command(&c[0]).is_some(),
        "clients add lacks --id, --type, --grant"
    );
    let wrong = commands("procura persons import --nope f.csv\ncurl -s localhost:8080/nope\n");
    assert!(check_command(&wrong[0]).is_some());
    assert!(check_command(&wrong[1]).is_some());
    assert!(route_exists("POST", "/v1/delegations/abc/revoke"));
}
