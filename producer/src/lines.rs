//! Reading JSON Lines from an input nobody vouches for: a line is at most
//! `max_bytes` long (a longer one is reported and skipped without being held in
//! memory), must be UTF-8, and is numbered from 1, so every problem names its line.

use std::io::BufRead;

/// One line of input, or why it cannot be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// The line's text, without its end of line (`\n` or `\r\n`).
    Text(String),
    /// Longer than the cap: its bytes were skipped.
    TooLong,
    /// Not valid UTF-8 (a binary file, another encoding).
    NotUtf8,
}

/// Numbered lines of `input`, each at most `max_bytes` bytes (without its end of
/// line); reading stops at the end of input or at an I/O error.
#[derive(Debug)]
pub struct Lines<R> {
    input: R,
    max_bytes: usize,
    number: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(input: R, max_bytes: usize) -> Self {
        Self {
            input,
            max_bytes,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// The next line and its number, `None` at the end of input.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, Line)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (taken, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let body = &chunk[..if done { taken - 1 } else { taken }];
            if !too_long {
                if self.buf.len() + body.len() > self.max_bytes + 1 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(body);
                }
            }
            self.input.consume(taken);
            if done {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if too_long || self.buf.len() > self.max_bytes {
            return Ok(Some((self.number, Line::TooLong)));
        }
        let line = match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(s) => Line::Text(s),
            Err(_) => Line::NotUtf8,
        };
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(u64, Line)> {
        let mut lines = Lines::new(std::io::BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn numbers_lines_caps_their_length_and_checks_utf8() {
        let text = |s: &str| Line::Text(s.to_owned());
        assert_eq!(
            all(b"ab\r\n0123456789\n\xff\xfe\n\nxyz", 8),
            vec![
                (1, text("ab")),
                (2, Line::TooLong),
                (3, Line::NotUtf8),
                (4, text("")),
                (5, text("xyz")),
            ]
        );
        assert_eq!(
            all(b"12345678\n123456789", 8),
            vec![(1, text("12345678")), (2, Line::TooLong)]
        );
        assert!(all(b"", 8).is_empty());
    }
}
