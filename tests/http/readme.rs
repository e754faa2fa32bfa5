//! The README's curl walk-through, run as written against the example
//! server: a newcomer pasting its blocks must see what the README says.
//!
//! Each block meant to run follows a `<!-- readme-walk -->` line; the
//! ```` ```text ```` block after it is its expected output, line by line,
//! where `…` stands for anything. Only `localhost:3000` is changed, to the
//! port the server got; the server runs in a fresh directory with its log
//! in `server.log`, as the README starts it, so the blocks read the emailed
//! links from that log the way the README tells a reader to.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const MARKER: &str = "<!-- readme-walk -->";
/// Printed by the test between blocks, to tell their outputs apart.
const END_OF_BLOCK: &str = "@@readme-walk: end of block@@";

/// One runnable block and the output the README promises for it.
#[derive(Debug)]
struct Step {
    script: String,
    expected: Vec<String>,
}

/// The fenced block that opens at the first non-blank line of `lines`,
/// which must be a fence with `info`; returns its body and the lines after.
fn fenced<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    info: &str,
) -> Result<Vec<String>, String> {
    let open = lines.find(|line| !line.trim().is_empty());
    if open.map(str::trim) != Some(&format!("```{info}")[..]) {
        return Err(format!("expected a ```{info} block, found {open:?}"));
    }
    let mut body = Vec::new();
    for line in lines.by_ref() {
        if line.trim_end() == "```" {
            return Ok(body);
        }
        body.push(line.to_owned());
    }
    Err(format!("unclosed ```{info} block"))
}

/// Every marked block of `readme`, with its expected output.
fn steps(readme: &str) -> Result<Vec<Step>, String> {
    let mut lines = readme.lines();
    let mut steps = Vec::new();
    while lines.by_ref().any(|line| line.trim() == MARKER) {
        let script = fenced(&mut lines, "sh")?.join("\n");
        let expected = fenced(&mut lines, "text")?;
        steps.push(Step { script, expected });
    }
    Ok(steps)
}

/// Whether `line` is `pattern` with each `…` standing for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut tail) = line.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(name)
}

/// The example server, as the README starts it (`2>&1 | tee server.log`):
/// in `dir`, stdout and stderr both going to `dir/server.log`; only the
/// listen address differs (any free port, read from the first stdout line).
async fn start_server(dir: &Path) -> (Child, String) {
    let path = dir.join("server.log");
    let append = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap()
    };
    let mut cmd = Command::new(example("server"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TOWER_USERS_") || name == "RUST_LOG" {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .env("TOWER_USERS_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(append())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("run the server example (cargo build --examples): {e}"));
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = stdout.next_line().await.unwrap().unwrap_or_default();
    let host = first
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    // The rest of stdout joins the log, as through `tee`.
    let mut log = append();
    tokio::spawn(async move {
        let mut line = first + "\n";
        loop {
            // A line to a local file: too small to be worth a blocking task.
            if log.write_all(line.as_bytes()).is_err() {
                return;
            }
            match stdout.next_line().await {
                Ok(Some(next)) => line = next + "\n",
                _ => return,
            }
        }
    });
    (child, host)
}

/// Runs every step in one bash, as a reader pasting them into one
/// terminal would (variables carry from block to block), and returns each
/// step's output lines.
async fn run(steps: &[Step], host: &str, dir: &Path) -> Vec<Vec<String>> {
    let mut script = String::new();
    for step in steps {
        script.push_str(&step.script.replace("localhost:3000", host));
        script.push_str(&format!("\necho '{END_OF_BLOCK}'\n"));
    }
    let bash = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), bash)
        .await
        .expect("the walk-through did not finish within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bash failed ({:?}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outputs: Vec<Vec<String>> = stdout
        .split(&format!("{END_OF_BLOCK}\n"))
        .map(|block| block.lines().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        outputs.pop().as_deref(),
        Some(&[][..]),
        "output after the last block"
    );
    outputs
}

#[tokio::test]
async fn the_readme_walk_through_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let steps = steps(&readme).unwrap();
    assert!(
        steps.len() >= 5,
        "only {} marked blocks in README.md",
        steps.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let (_server, host) = start_server(dir.path()).await;
    let outputs = run(&steps, &host, dir.path()).await;
    assert_eq!(outputs.len(), steps.len());
    for (i, (step, got)) in steps.iter().zip(&outputs).enumerate() {
        let ok = got.len() == step.expected.len()
            && step
                .expected
                .iter()
                .zip(got)
                .all(|(want, line)| matches(want, line));
        assert!(
            ok,
            "README walk-through block {} does not do what the README says.\n\
             block:\n{}\n\nexpected:\n{}\n\ngot:\n{}",
            i + 1,
            step.script,
            step.expected.join("\n"),
            got.join("\n"),
        );
    }
}

#[test]
fn a_wildcard_stands_for_any_text_but_the_rest_must_match() {
    let want = r#"{"id":"…","is_verified":true,…} 200"#;
    assert!(matches(
        want,
        r#"{"id":"01ab","is_verified":true,"x":1} 200"#
    ));
    assert!(!matches(
        want,
        r#"{"id":"01ab","is_verified":false,"x":1} 200"#
    ));
    assert!(!matches(
        want,
        r#"{"id":"01ab","is_verified":true,"x":1} 401"#
    ));
    assert!(matches(" 204", " 204"));
    assert!(!matches(" 204", " 204 "));
    assert!(!matches("a…a", "a"));
}

#[test]
fn a_marked_block_without_its_expected_output_is_refused() {
    let readme = format!("{MARKER}\n```sh\necho hi\n```\n\nno output block\n");
    assert!(steps(&readme).is_err());
    let readme = format!("{MARKER}\n```sh\necho hi\n```\n\n```text\nhi\n```\n");
    let steps = steps(&readme).unwrap();
    assert_eq!(steps[0].expected, ["hi"]);
}
