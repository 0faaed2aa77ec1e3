//! Reading a new password: from stdin when the operator says so
//! (`--password-stdin`, for scripts), else from a prompt on the terminal,
//! without echo and asked twice. Never from a flag: a flag's value is seen
//! by every user of the machine (`ps`) and kept in shell history.

use std::io::{BufRead, IsTerminal, Read, Write};

use anyhow::{Context, bail};

use crate::accounts::Secret;

/// The new password, as `--password-stdin` says to read it.
pub(crate) fn read(from_stdin: bool) -> anyhow::Result<Secret> {
    let password = if from_stdin { from_pipe()? } else { prompted()? };
    if password.expose().is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// All of stdin, less one trailing line end (`echo pw |` adds it).
fn from_pipe() -> anyhow::Result<Secret> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the password from stdin")?;
    let end = text.strip_suffix("\r\n").or_else(|| text.strip_suffix('\n')).map_or(text.len(), str::len);
    text.truncate(end);
    Ok(Secret::from(text))
}

fn prompted() -> anyhow::Result<Secret> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask the password on: give it on stdin with --password-stdin");
    }
    let first = ask("New password: ")?;
    let second = ask("Again: ")?;
    if first.expose() != second.expose() {
        bail!("the passwords differ");
    }
    Ok(first)
}

/// One line from the terminal, the prompt on stderr (stdout is the report).
fn ask(prompt: &str) -> anyhow::Result<Secret> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let line = {
        let _quiet = NoEcho::on_stdin()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
        line
    };
    eprintln!();
    Ok(Secret::from(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Terminal echo off while it lives, back as it was when dropped (also on
/// an early return or a panic).
struct NoEcho {
    #[cfg(unix)]
    saved: libc::termios,
}

impl NoEcho {
    #[cfg(unix)]
    fn on_stdin() -> anyhow::Result<NoEcho> {
        // SAFETY: tcgetattr/tcsetattr read and write a termios struct we own,
        // for file descriptor 0, which stays open for the process's life.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return Err(std::io::Error::last_os_error()).context("reading the terminal's settings");
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                return Err(std::io::Error::last_os_error()).context("turning the terminal's echo off");
            }
            Ok(NoEcho { saved })
        }
    }

    #[cfg(not(unix))]
    fn on_stdin() -> anyhow::Result<NoEcho> {
        bail!("no password prompt on this system: give it on stdin with --password-stdin")
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: as in `on_stdin`; restores the settings read there.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}
