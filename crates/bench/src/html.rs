//! The one HTML escape of the report: every text that came from a file, a run or a user goes
//! through [`escape`] before it reaches a page, a legend or an SVG.

/// `&`, `<`, `>` and `"` as entities: safe in element text and in the double-quoted attribute
/// values the report writes, of HTML and of SVG alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_quotes_become_entities() {
        let s = super::escape(r#"<a href="x" onclick='y'>&</a>"#);
        assert_eq!(s, "&lt;a href=&quot;x&quot; onclick='y'&gt;&amp;&lt;/a&gt;");
    }
}
