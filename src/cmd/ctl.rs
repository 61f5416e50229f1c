//! `holdmix ctl`: one command to a call's control socket (`--control`) or
//! the hub's (`--hub`), its one-line JSON answer printed. Exit 0 for an
//! `ok` answer, 1 for an error answer, 2 when nothing answers (or the
//! command is not one).

use crate::cli::CtlArgs;
use crate::control::protocol::{Answer, MAX_LINE, Request};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long an answer may take (the hub waits up to 10 s for a generator).
const ANSWER_WAIT: Duration = Duration::from_secs(15);

pub fn ctl(args: &CtlArgs) -> u8 {
    let many = args.hub.is_some() || args.serve.is_some();
    let Some(socket) = args
        .hub
        .as_deref()
        .or(args.serve.as_deref())
        .or(args.control.as_deref())
    else {
        eprintln!("holdmix ctl: --control PATH, --hub PATH or --serve PATH");
        return 2;
    };
    let line = match command_line(&args.words, many) {
        Ok(l) => l,
        Err(why) => {
            eprintln!("holdmix ctl: {why}");
            return 2;
        }
    };
    match ask(socket, &line) {
        Ok(answer) => {
            super::stdout::write_all(format!("{answer}\n").as_bytes()).ok();
            if Answer::parse(&answer).is_ok() { 0 } else { 1 }
        }
        Err(why) => {
            eprintln!("holdmix ctl: {}: {why}", socket.display());
            2
        }
    }
}

/// The words as one command line, checked here first; a relative `play`
/// path is made absolute (the generator's working directory is not ours).
fn command_line(words: &[String], many: bool) -> Result<String, String> {
    let mut words = words.to_vec();
    let cmd_at = usize::from(many && !words.first().is_some_and(|w| w.eq_ignore_ascii_case("list")));
    if words.get(cmd_at).is_some_and(|w| w.eq_ignore_ascii_case("play")) && words.len() > cmd_at + 1 {
        let path = words[cmd_at + 1..].join(" ");
        let abs = std::path::absolute(&path).map_err(|e| format!("{path}: {e}"))?;
        words.truncate(cmd_at + 1);
        words.push(abs.display().to_string());
    }
    let line = words.join(" ");
    if line.len() > MAX_LINE {
        return Err(format!("a command is at most {MAX_LINE} bytes"));
    }
    Request::parse(&line, many)?;
    Ok(line)
}

fn ask(socket: &Path, line: &str) -> std::io::Result<String> {
    exchange(UnixStream::connect(socket)?, line)
}

/// Sends the line and reads the one-line answer.
fn exchange(mut s: UnixStream, line: &str) -> std::io::Result<String> {
    s.set_read_timeout(Some(ANSWER_WAIT))?;
    s.set_write_timeout(Some(ANSWER_WAIT))?;
    if let Err(e) = s.write_all(format!("{line}\n").as_bytes()) {
        // A server that refuses (another user) answers at once and closes
        // without reading: the command then meets a closed socket, but the
        // answer is still there to read, and it is the one to show.
        if !matches!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ) {
            return Err(e);
        }
        return read_answer(&s).map_err(|_| e);
    }
    read_answer(&s)
}

fn read_answer(s: &UnixStream) -> std::io::Result<String> {
    let mut answer = String::new();
    BufReader::new(std::io::Read::take(s, 64 * 1024)).read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        ));
    }
    Ok(answer.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers and closes before the command is written (a
    /// refusal of another user: seen as "Broken pipe" under load): its
    /// answer is what `ctl` reports.
    #[test]
    fn an_answer_before_the_command_is_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("c.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let refusal = r#"{"ok":false,"error":"this user may not control this process"}"#;
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(format!("{refusal}\n").as_bytes()).unwrap();
        });
        let s = UnixStream::connect(&path).unwrap();
        // Closed by the server (its end dropped) before anything is sent.
        server.join().unwrap();
        assert_eq!(exchange(s, "status").unwrap(), refusal);
        // Closed with nothing said: still an error.
        let listener = std::os::unix::net::UnixListener::bind(tmp.path().join("d.sock")).unwrap();
        let s = UnixStream::connect(tmp.path().join("d.sock")).unwrap();
        drop(listener.accept().unwrap());
        assert!(exchange(s, "status").is_err());
    }

    #[test]
    fn words_become_a_checked_line() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(command_line(&w("position 3"), false).unwrap(), "position 3");
        assert_eq!(command_line(&w("list"), true).unwrap(), "list");
        assert_eq!(command_line(&w("1.5 status"), true).unwrap(), "1.5 status");
        assert!(command_line(&w("jump"), false).is_err());
        let line = command_line(&w("1.5 play a.wav"), true).unwrap();
        assert!(line.starts_with("1.5 play /"), "{line}");
    }
}
