//! A tiny SMTP server for tests: it accepts every mail on 127.0.0.1 and
//! keeps it, so that a test can read the mail the server sent the way a
//! person would. It speaks just enough SMTP for lettre without TLS (HELO or
//! EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and
//! decodes the `quoted-printable` transfer encoding of the parts it hands
//! out.

#![allow(dead_code)]

use matrix_accounts::config::Email;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One mail as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body), unstuffed.
    pub data: String,
}

impl Received {
    /// A header's value (the first of that name, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }

    /// The decoded body of the first part of this content type
    /// (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let start = self.data.find(&format!("Content-Type: {content_type}"))?;
        let part = &self.data[start..];
        let (head, body) = part.split_once("\r\n\r\n")?;
        let body = body.split("\r\n--").next()?;
        let encoding = head.lines().find_map(|line| line.strip_prefix("Content-Transfer-Encoding: "));
        Some(match encoding.map(str::trim) {
            Some("quoted-printable") => decode_quoted_printable(body),
            Some("base64") => panic!("a base64 part; this sink reads 7bit and quoted-printable only"),
            _ => body.to_owned(),
        })
    }

    /// The plain-text body.
    pub fn text(&self) -> String {
        self.part("text/plain").expect("a text/plain part")
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sink: listening until dropped (its thread then idles on `accept`).
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the SMTP sink");
        let port = listener.local_addr().expect("the sink's address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let _ = session(stream, &store);
                });
            }
        });
        SmtpSink { port, received }
    }

    /// The `[email]` of a test server sending here.
    pub fn config(&self) -> Email {
        let email = format!(
            "smtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"none\"\nfrom = \"Matrix <noreply@example.org>\"\n",
            self.port
        );
        toml::from_str(&email).expect("an [email] table")
    }

    /// Every mail received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The mails received for `to` so far.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all().into_iter().filter(|mail| mail.to.iter().any(|t| t.eq_ignore_ascii_case(to))).collect()
    }

    /// Waits (up to 10 s) until `to` has received `count` mails; answers
    /// the latest. The server sends in the background, so a test must wait.
    pub fn wait_for(&self, to: &str, count: usize) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.to(to);
            if mails.len() >= count {
                return mails.last().unwrap().clone();
            }
            assert!(Instant::now() < deadline, "{to} received {} mails, not {count}", mails.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn session(stream: TcpStream, store: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.test ESMTP ready\r\n")?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => writer.write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?,
            "HELO" => writer.write_all(b"250 sink.test\r\n")?,
            "MAIL" => {
                from = angle(&command);
                to.clear();
                writer.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                to.push(angle(&command));
                writer.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                writer.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                store.lock().unwrap().push(Received { from: from.clone(), to: to.clone(), data });
                writer.write_all(b"250 OK queued\r\n")?;
            }
            "RSET" | "NOOP" => writer.write_all(b"250 OK\r\n")?,
            "QUIT" => {
                writer.write_all(b"221 Bye\r\n")?;
                return Ok(());
            }
            _ => writer.write_all(b"502 Command not implemented\r\n")?,
        }
    }
}

/// The address between `<` and `>` of a MAIL or RCPT command.
fn angle(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command.rfind('>').unwrap_or(command.len());
    command[start..end].to_owned()
}
