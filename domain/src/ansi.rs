//! ANSI colour codes in build logs (SGR sequences: `ESC [ … m`), turned into styled runs. Other
//! escape sequences are dropped, so a log never shows raw escapes.

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub text: String,
    /// CSS classes: `ansi-fg-N` (0–15), `ansi-bg-N`, `ansi-bold`, `ansi-dim`, `ansi-italic`,
    /// `ansi-underline`; empty for plain text.
    pub class: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn class(&self) -> String {
        let mut c = Vec::new();
        if let Some(f) = self.fg {
            c.push(format!("ansi-fg-{f}"));
        }
        if let Some(b) = self.bg {
            c.push(format!("ansi-bg-{b}"));
        }
        for (on, name) in [
            (self.bold, "ansi-bold"),
            (self.dim, "ansi-dim"),
            (self.italic, "ansi-italic"),
            (self.underline, "ansi-underline"),
        ] {
            if on {
                c.push(name.to_owned());
            }
        }
        c.join(" ")
    }

    fn apply(&mut self, params: &str) {
        let codes: Vec<u32> = if params.is_empty() {
            vec![0]
        } else {
            params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
        };
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                c @ 30..=37 => self.fg = Some((c - 30) as u8),
                39 => self.fg = None,
                c @ 40..=47 => self.bg = Some((c - 40) as u8),
                49 => self.bg = None,
                c @ 90..=97 => self.fg = Some((c - 90 + 8) as u8),
                c @ 100..=107 => self.bg = Some((c - 100 + 8) as u8),
                // 256-colour and RGB forms: take the nearest of the 16 where it is one of
                // them, skip their arguments otherwise.
                38 | 48 => {
                    let fg = codes[i] == 38;
                    match codes.get(i + 1) {
                        Some(5) => {
                            let n = codes.get(i + 2).copied().unwrap_or(0);
                            let v = (n < 16).then_some(n as u8);
                            if fg {
                                self.fg = v
                            } else {
                                self.bg = v
                            }
                            i += 2;
                        }
                        Some(2) => i += 4,
                        _ => {}
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// The styled runs of one log line.
pub fn runs(line: &str) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    let mut chars = line.chars().peekable();
    let flush = |text: &mut String, style: &Style, out: &mut Vec<Run>| {
        if !text.is_empty() {
            out.push(Run {
                text: std::mem::take(text),
                class: style.class(),
            });
        }
    };
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            text.push(c);
            continue;
        }
        if chars.peek() != Some(&'[') {
            // A lone escape or another kind of sequence: drop the escape.
            chars.next();
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut end = None;
        for p in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&p) {
                end = Some(p);
                break;
            }
            params.push(p);
        }
        if end == Some('m') {
            flush(&mut text, &style, &mut out);
            style.apply(&params);
        }
    }
    flush(&mut text, &style, &mut out);
    out
}

/// The line's text without escapes (what search looks in, and what a plain view shows).
pub fn plain(line: &str) -> String {
    runs(line).into_iter().map(|r| r.text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_resets_become_classed_runs() {
        let r = runs("a \u{1b}[1;31mred\u{1b}[0m b \u{1b}[92mgreen\u{1b}[39m c");
        let got: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.text.as_str(), r.class.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a ", ""),
                ("red", "ansi-fg-1 ansi-bold"),
                (" b ", ""),
                ("green", "ansi-fg-10"),
                (" c", ""),
            ]
        );
    }

    #[test]
    fn other_sequences_are_dropped_and_plain_text_is_kept() {
        assert_eq!(
            plain("\u{1b}[2K\u{1b}[1Gdone \u{1b}[38;5;196mx\u{1b}[m"),
            "done x"
        );
        assert_eq!(plain("no escapes"), "no escapes");
        assert_eq!(plain("trailing \u{1b}["), "trailing ");
    }
}
