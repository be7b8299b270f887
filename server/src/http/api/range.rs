//! Heroku's `Range` header for release lists:
//! `version [A]..[B][; max=N][, order=asc|desc]`, `]A` excluding A.

use slipway_core::ledger::releases::Window;

pub const HELP: &str =
    "The Range header must look like: version [A]..[B][; max=N][, order=asc|desc] (e.g. \"version ..; max=50\").";
const DEFAULT_MAX: i64 = 200;
const MAX_MAX: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First version in iteration order, and whether it is excluded.
    start: Option<(i32, bool)>,
    /// Last version in iteration order (inclusive).
    end: Option<i32>,
    max: i64,
    descending: bool,
}

impl Range {
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.trim().strip_prefix("version")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let rest = rest.trim_start();
        let split = rest.find([';', ',']).unwrap_or(rest.len());
        let (span, params) = rest.split_at(split);
        let (a, b) = span.trim().split_once("..")?;
        let start = match a.trim() {
            "" => None,
            a => {
                let (excluded, digits) = match a.strip_prefix(']') {
                    Some(d) => (true, d),
                    None => (false, a),
                };
                Some((number(digits)?, excluded))
            }
        };
        let end = match b.trim() {
            "" => None,
            b => Some(number(b)?),
        };
        let mut range = Range {
            start,
            end,
            max: DEFAULT_MAX,
            descending: false,
        };
        for param in params
            .split([';', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (k, v) = param.split_once('=')?;
            match (k.trim(), v.trim()) {
                ("max", v) => {
                    let n: i64 = v.parse().ok()?;
                    if n < 1 {
                        return None;
                    }
                    range.max = n.min(MAX_MAX);
                }
                ("order", "asc") => range.descending = false,
                ("order", "desc") => range.descending = true,
                _ => return None,
            }
        }
        Some(range)
    }

    /// The versions window this range asks for.
    pub fn window(&self) -> Window {
        let (mut from, mut to) = (1, i32::MAX);
        if self.descending {
            if let Some((a, excluded)) = self.start {
                to = if excluded { a - 1 } else { a };
            }
            if let Some(b) = self.end {
                from = b;
            }
        } else {
            if let Some((a, excluded)) = self.start {
                from = if excluded { a.saturating_add(1) } else { a };
            }
            if let Some(b) = self.end {
                to = b;
            }
        }
        Window {
            from,
            to,
            descending: self.descending,
            max: self.max,
        }
    }

    /// The `Next-Range` after a page that ended at `last`.
    pub fn next(&self, last: i32) -> String {
        let end = self.end.map(|e| e.to_string()).unwrap_or_default();
        let order = if self.descending { ", order=desc" } else { "" };
        format!("version ]{last}..{end}; max={}{order}", self.max)
    }
}

fn number(s: &str) -> Option<i32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(h: &str) -> (i32, i32, bool, i64) {
        let w = Range::parse(h).unwrap().window();
        (w.from, w.to, w.descending, w.max)
    }

    #[test]
    fn open_ranges_with_max() {
        assert_eq!(w("version ..; max=50"), (1, i32::MAX, false, 50));
        assert_eq!(w("version ..; max=50, order=desc"), (1, i32::MAX, true, 50));
        assert_eq!(w("version 5..9"), (5, 9, false, 200));
    }

    #[test]
    fn excluded_starts_continue_in_the_order() {
        assert_eq!(w("version ]50..; max=50"), (51, i32::MAX, false, 50));
        assert_eq!(
            w("version ]9951..; max=50, order=desc"),
            (1, 9950, true, 50)
        );
    }

    #[test]
    fn max_is_clamped_and_must_be_positive() {
        assert_eq!(w("version ..; max=5000").3, 1000);
        assert!(Range::parse("version ..; max=0").is_none());
    }

    #[test]
    fn next_ranges_exclude_the_last_version() {
        let r = Range::parse("version ..; max=50").unwrap();
        assert_eq!(r.next(50), "version ]50..; max=50");
        let r = Range::parse("version ..; max=50, order=desc").unwrap();
        assert_eq!(r.next(9951), "version ]9951..; max=50, order=desc");
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for bad in [
            "",
            "version",
            "id ..",
            "version 1-5",
            "version a..b",
            "version ..; max=x",
            "version ..; order=up",
            "versions ..",
        ] {
            assert!(Range::parse(bad).is_none(), "{bad}");
        }
    }
}
