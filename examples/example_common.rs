//! The command-line protocol shared by the Rust example programs (see
//! README.md); the Rust twin of example_common.h.
//!
//!   (no argument)  build the data, drop what is not leaked on purpose, exit 0
//!   --hold         build, print "ready <pid>\n" on stdout, block in read(2) on
//!                  stdin until EOF, then clean up as above and exit 0
//!   --abort        build, then abort (for core-at-abort workflows)
//!
//! stdin and stdout are used through raw file descriptors (no std buffering),
//! so the protocol itself leaves no heap blocks behind.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::os::unix::io::FromRawFd;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Hold,
    Abort,
}

/// Parses the command line; exits with status 2 on anything unknown.
pub fn parse_mode() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    let mode = match args.len() {
        0 | 1 => Some(Mode::Run),
        2 if args[1] == "--hold" => Some(Mode::Hold),
        2 if args[1] == "--abort" => Some(Mode::Abort),
        _ => None,
    };
    match mode {
        Some(m) => m,
        None => {
            let prog = args.first().map(String::as_str).unwrap_or("example");
            eprintln!("usage: {} [--hold | --abort]", prog);
            std::process::exit(2);
        }
    }
}

/// Prints "ready <pid>" and blocks in read(2) on stdin until end of file.
pub fn hold() {
    // SAFETY: fds 0 and 1 belong to the process for its whole life; the
    // ManuallyDrop wrappers make sure they are never closed here.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut input = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    let line = format!("ready {}\n", std::process::id());
    let _ = out.write_all(line.as_bytes());
    drop(line);
    let mut sink = [0u8; 256];
    loop {
        match input.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

/// Runs the protocol once the data is built: hold or abort if asked.
pub fn after_build(mode: Mode) {
    match mode {
        Mode::Run => {}
        Mode::Hold => hold(),
        Mode::Abort => std::process::abort(),
    }
}
