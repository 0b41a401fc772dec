//! A streaming scanner for Prometheus text (0.0.4) and OpenMetrics bodies that keeps only what
//! the check needs: which metric names have samples, how many, which carry exemplars, the label
//! names (no values) of each, whether the body is metrics at all and, for OpenMetrics, whether it
//! ended with `# EOF`.
//!
//! It reads through a fixed buffer, finds line ends with `memchr` and never holds more than one
//! buffer and the set of distinct names, so memory does not grow with the body. Label values are
//! skipped quote-aware (escaped `\"`, `}` and spaces inside quotes), so an exemplar (` # {...}`
//! after the value) is told apart from a `#` inside a label value.
//!
//! Label names are read from the first sample of each name only: the Prometheus client gives
//! every series of a metric the same label names (a vector's labels are fixed when it is
//! registered, and an exposition has one registration a name), so one line tells them and the
//! other lines cost nothing more.

use std::collections::HashMap;
use std::io::{self, Read};

use memchr::{memchr, memchr2, memrchr};

/// Size of the read buffer; lines longer than this are judged by their first part.
const BUF: usize = 64 * 1024;

/// Samples and exemplars seen for one metric name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NameStats {
    pub samples: u64,
    pub exemplars: u64,
}

/// What a body held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub bytes: u64,
    pub lines: u64,
    pub samples: u64,
    pub exemplars: u64,
    /// Sample names (as on the sample lines: `_total`, `_bucket`...) and their counts.
    pub names: HashMap<String, NameStats>,
    /// The label names of each sample name's series, sorted (from its first well-formed line).
    pub labels: HashMap<String, Vec<String>>,
    /// A `# EOF` line was seen (OpenMetrics' end marker).
    pub eof: bool,
    /// Lines that are neither comments nor samples.
    pub bad_lines: u64,
    /// The first such line: its number (from 1) and its start.
    pub first_bad: Option<(u64, String)>,
}

impl Scan {
    /// Whether the body looks like a metrics exposition: at least one sample, no bad line.
    pub fn is_metrics(&self) -> bool {
        self.samples > 0 && self.bad_lines == 0
    }

    /// Whether any sample has this exact name.
    pub fn has(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// Sample names, sorted.
    pub fn sorted_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.names.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The label names of the series whose sample name `matches`, together, sorted; None when
    /// no such sample was seen.
    pub fn label_names_where(&self, matches: impl Fn(&str) -> bool) -> Option<Vec<&str>> {
        let mut any = false;
        let mut out: Vec<&str> = Vec::new();
        for (name, labels) in &self.labels {
            if matches(name) {
                any = true;
                out.extend(labels.iter().map(String::as_str));
            }
        }
        out.sort_unstable();
        out.dedup();
        any.then_some(out)
    }
}

/// One distinct sample name: its counts and, once a line of it parsed, its label names.
struct Seen {
    name: Box<[u8]>,
    stats: NameStats,
    labels: Option<Vec<String>>,
}

/// Scan a whole body from `reader`.
pub fn scan(reader: impl Read) -> io::Result<Scan> {
    let mut s = Scanner::default();
    s.feed(reader)?;
    Ok(s.finish())
}

/// Incremental scanning for bodies that arrive in chunks: `push` each chunk as it comes (lines
/// may be split anywhere), then `finish`. Only the unfinished last line is kept between chunks.
#[derive(Default)]
pub struct Scanner {
    out: Scan,
    /// Every sample name seen, with its counts, in order of first sight.
    seen: Vec<Seen>,
    /// Where each name is in `seen`.
    index: HashMap<Box<[u8]>, usize>,
    /// The last sample's name in `seen`. Samples of one family come together, and the names of
    /// a histogram (`_bucket`, `_sum`, `_count`) take turns: `recent` holds the last few names
    /// so that neither needs a hash lookup.
    last: Option<usize>,
    recent: [usize; 4],
    /// The start of a line whose end has not arrived yet (never more than `BUF` bytes).
    carry: Vec<u8>,
    /// Inside a line longer than `BUF` whose start was already judged.
    skipping: bool,
}

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes pushed so far.
    pub fn bytes(&self) -> u64 {
        self.out.bytes
    }

    fn feed(&mut self, mut reader: impl Read) -> io::Result<()> {
        let mut buf = vec![0u8; BUF];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Scan the next piece of the body. Complete lines are judged where they lie in `chunk`;
    /// only a line split across chunks is copied.
    pub fn push(&mut self, chunk: &[u8]) {
        self.out.bytes += chunk.len() as u64;
        let mut rest = chunk;
        if self.skipping || !self.carry.is_empty() {
            let Some(i) = memchr(b'\n', rest) else {
                self.hold(rest);
                return;
            };
            if self.skipping {
                self.skipping = false;
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(&rest[..i]);
                if line.len() >= BUF {
                    self.judge(&line[..BUF], true);
                } else {
                    self.judge(&line, false);
                }
                line.clear();
                self.carry = line;
            }
            rest = &rest[i + 1..];
        }
        while let Some(i) = memchr(b'\n', rest) {
            if i >= BUF {
                self.judge(&rest[..BUF], true);
            } else {
                self.judge(&rest[..i], false);
            }
            rest = &rest[i + 1..];
        }
        self.hold(rest);
    }

    /// Keep the start of an unfinished line; once it reaches `BUF` bytes, judge it by that
    /// start and skip the rest of it.
    fn hold(&mut self, part: &[u8]) {
        if self.skipping || part.is_empty() {
            return;
        }
        let room = BUF - self.carry.len();
        self.carry.extend_from_slice(&part[..part.len().min(room)]);
        if self.carry.len() >= BUF {
            let line = std::mem::take(&mut self.carry);
            self.judge(&line, true);
            self.carry = line;
            self.carry.clear();
            self.skipping = true;
        }
    }

    /// The body has ended: judge an unfinished last line and return what was seen.
    pub fn finish(mut self) -> Scan {
        if !self.skipping && !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.judge(&line, false);
        }
        // Names are ASCII (the grammar allows no other bytes): the conversion is lossless.
        for seen in self.seen {
            let name = String::from_utf8_lossy(&seen.name).into_owned();
            if let Some(labels) = seen.labels {
                self.out.labels.insert(name.clone(), labels);
            }
            self.out.names.insert(name, seen.stats);
        }
        self.out
    }

    /// The name of the last sample, if any.
    fn last_name(&self) -> &[u8] {
        self.last.map_or(&[], |i| &self.seen[i].name)
    }

    /// The place of `name` in `seen`, added if new.
    fn place(&mut self, name: &[u8]) -> usize {
        if let Some(&i) = self
            .recent
            .iter()
            .find(|&&i| self.seen.get(i).is_some_and(|s| *s.name == *name))
        {
            return i;
        }
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                let i = self.seen.len();
                self.seen.push(Seen {
                    name: name.into(),
                    stats: NameStats::default(),
                    labels: None,
                });
                self.index.insert(name.into(), i);
                i
            }
        };
        self.recent.rotate_right(1);
        self.recent[0] = i;
        i
    }

    fn bad(&mut self, line: &[u8]) {
        self.out.bad_lines += 1;
        if self.out.first_bad.is_none() {
            let shown = &line[..line.len().min(80)];
            self.out.first_bad =
                Some((self.out.lines, String::from_utf8_lossy(shown).into_owned()));
        }
    }

    fn judge(&mut self, line: &[u8], truncated: bool) {
        self.out.lines += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return;
        }
        if line[0] == b'#' {
            if line == b"# EOF" {
                self.out.eof = true;
            }
            return;
        }
        // The metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. Samples of a family come together, so
        // most lines start with the name of the line before, already checked.
        let last = self.last_name().len();
        let end = if last > 0
            && line.len() > last
            && !is_name_byte(line[last])
            && line.starts_with(self.last_name())
        {
            last
        } else {
            let end = line
                .iter()
                .position(|&b| !is_name_byte(b))
                .unwrap_or(line.len());
            if end == 0 || line[0].is_ascii_digit() {
                self.bad(line);
                return;
            }
            end
        };
        let name = &line[..end];
        let label_set = &line[end..];
        let mut rest = label_set;
        // Fast path, nearly every line: no `#` and no `\` anywhere, so no exemplar, no quoted `#`
        // to be fooled by and no escaped quote; the label set ends at the line's last `}` (values
        // escape newlines, so a line is a sample). Other lines are walked quote by quote.
        let plain = memchr2(b'#', b'\\', rest).is_none();
        if plain && rest.first() == Some(&b'{') {
            // A label set ends `"}` (or `",}`, or is `{}`): a value left open does not.
            match memrchr(b'}', rest) {
                Some(j) if j > 0 && matches!(rest[j - 1], b'"' | b',' | b'{') => {
                    rest = &rest[j + 1..]
                }
                _ if truncated => rest = b" 0",
                _ => {
                    self.bad(line);
                    return;
                }
            }
        } else if rest.first() == Some(&b'{') {
            match skip_labels(&rest[1..]) {
                Some(after) => rest = &rest[1 + after..],
                None if truncated => rest = b" 0",
                None => {
                    self.bad(line);
                    return;
                }
            }
        }
        // A value must follow after blanks.
        let value = trim_blanks(rest);
        if value.len() == rest.len() || !value.first().is_some_and(|b| is_value_start(*b)) {
            self.bad(line);
            return;
        }
        let exemplar = !plain && memchr(b'#', value).is_some();
        let i = match self.last {
            Some(i) if *self.seen[i].name == *name => i,
            _ => self.place(name),
        };
        self.last = Some(i);
        if self.seen[i].labels.is_none() {
            self.seen[i].labels = label_names(label_set);
        }
        let stats = &mut self.seen[i].stats;
        stats.samples += 1;
        self.out.samples += 1;
        if exemplar {
            stats.exemplars += 1;
            self.out.exemplars += 1;
        }
    }
}

/// Bytes allowed in a metric name after its first: `[a-zA-Z0-9_:]`.
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b':';
        b += 1;
    }
    t
};

fn is_name_byte(b: u8) -> bool {
    NAME_BYTE[b as usize]
}

fn is_value_start(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'N' | b'I')
}

fn trim_blanks(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

/// The label names of a sample line's label set (`label_set` starts just after the metric name:
/// `{a="x",b="y"} 1` or ` 1`), sorted; None when it is not well formed on this line (a line cut
/// at the buffer's size), so that the next line of the name tells them.
fn label_names(label_set: &[u8]) -> Option<Vec<String>> {
    let Some(mut s) = label_set.strip_prefix(b"{") else {
        return Some(Vec::new());
    };
    let mut out = Vec::new();
    loop {
        s = trim_blanks(s);
        match s.first()? {
            b'}' => break,
            b',' => s = &s[1..],
            _ => {
                let n = s.iter().position(|&b| !is_name_byte(b))?;
                if n == 0 {
                    return None;
                }
                out.push(String::from_utf8_lossy(&s[..n]).into_owned());
                s = trim_blanks(&s[n..]).strip_prefix(b"=")?;
                s = trim_blanks(s).strip_prefix(b"\"")?;
                // The value: up to the closing quote that is not escaped.
                let mut k = 0;
                loop {
                    let q = k + memchr2(b'"', b'\\', &s[k..])?;
                    if s[q] == b'\\' {
                        k = q + 2;
                        if k > s.len() {
                            return None;
                        }
                    } else {
                        s = &s[q + 1..];
                        break;
                    }
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Given the text after `{`, the offset just past the matching `}`, skipping quoted values with
/// their escapes. `None` when the label set does not close on this line.
fn skip_labels(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        let j = i + memchr2(b'"', b'}', &s[i..])?;
        if s[j] == b'}' {
            return Some(j + 1);
        }
        // Inside a quoted value: find the closing quote that is not escaped.
        let mut k = j + 1;
        loop {
            let q = k + memchr2(b'"', b'\\', &s[k..])?;
            if s[q] == b'\\' {
                k = q + 2;
                if k > s.len() {
                    return None;
                }
            } else {
                i = q + 1;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/metrics/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A reader that hands out at most `step` bytes a call, to cross buffer edges everywhere.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// A slow but obviously right reference: split lines, take the name up to `{` or a blank.
    fn reference_names(body: &[u8]) -> HashMap<String, u64> {
        let mut out = HashMap::new();
        for line in String::from_utf8_lossy(body).lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name: String = line
                .chars()
                .take_while(|c| *c != '{' && *c != ' ')
                .collect();
            *out.entry(name).or_insert(0) += 1;
        }
        out
    }

    /// Every metrics fixture (agent, operator, Hubble in both formats, fresh and busy).
    const FIXTURES: [&str; 5] = [
        "agent-datadog.txt",
        "operator-datadog.txt",
        "hubble-busy.txt",
        "hubble-openmetrics.txt",
        "hubble-fresh.txt",
    ];

    #[test]
    fn fixtures_match_the_reference_and_each_other_in_any_chunking() {
        for f in FIXTURES {
            let body = fixture(f);
            let s = scan(&body[..]).unwrap();
            assert!(s.is_metrics(), "{f}: {:?}", s.first_bad);
            assert_eq!(s.bytes, body.len() as u64);
            let want = reference_names(&body);
            let got: HashMap<String, u64> = s
                .names
                .iter()
                .map(|(k, v)| (k.clone(), v.samples))
                .collect();
            assert_eq!(got, want, "{f}");
            for step in [1, 7, 4096] {
                assert_eq!(scan(Trickle(&body, step)).unwrap(), s, "{f} step {step}");
            }
        }
    }

    /// A slow reference for the label names: every line's, split at `="` outside quotes.
    fn reference_labels(body: &[u8]) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for line in String::from_utf8_lossy(body).lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap());
            let mut names = Vec::new();
            if let Some(set) = rest.strip_prefix('{') {
                let (mut quoted, mut escaped, mut word) = (false, false, String::new());
                for c in set.chars() {
                    if quoted {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => quoted = false,
                            _ => {}
                        }
                    } else if c == '"' {
                        quoted = true;
                        names.push(
                            std::mem::take(&mut word)
                                .trim()
                                .trim_end_matches('=')
                                .to_string(),
                        );
                    } else if c == '}' {
                        break;
                    } else if c != ',' {
                        word.push(c);
                    }
                }
            }
            names.sort();
            let seen = out.entry(name.to_string()).or_insert_with(|| names.clone());
            // The scanner's assumption: every series of a name has the same label names.
            assert_eq!(*seen, names, "{line}");
        }
        out
    }

    #[test]
    fn label_names_match_the_reference_on_every_fixture() {
        for f in FIXTURES {
            let body = fixture(f);
            let s = scan(&body[..]).unwrap();
            assert_eq!(s.labels, reference_labels(&body), "{f}");
        }
        let busy = scan(&fixture("hubble-busy.txt")[..]).unwrap();
        assert_eq!(
            busy.labels["hubble_flows_processed_total"],
            ["protocol", "subtype", "type", "verdict"]
        );
        assert_eq!(
            busy.label_names_where(|n| n.starts_with("hubble_http_request_duration_seconds")),
            Some(vec![
                "destination_ip",
                "destination_namespace",
                "destination_workload",
                "le",
                "method",
                "reporter",
                "source_ip",
                "source_namespace",
                "source_workload",
                "traffic_direction",
            ])
        );
        assert_eq!(
            busy.label_names_where(|n| n == "hubble_kafka_requests_total"),
            None
        );
    }

    #[test]
    fn label_names_skip_values_and_exemplars() {
        let body = concat!(
            "a{q=\"x}y # {z\\\" \",b=\"\\\\\"} 1\n",
            "b{le=\"+Inf\",} 3 # {trace_id=\"abc\"} 1 1.7e9\n",
            "c 1\n",
            "d{} 1\n",
            "e{ x = \"1\" , y=\"2\"} 1\n",
        );
        let s = scan(body.as_bytes()).unwrap();
        assert!(s.is_metrics(), "{:?}", s.first_bad);
        assert_eq!(s.labels["a"], ["b", "q"]);
        assert_eq!(s.labels["b"], ["le"], "exemplar labels are not the series'");
        assert!(s.labels["c"].is_empty() && s.labels["d"].is_empty());
        assert_eq!(s.labels["e"], ["x", "y"]);
        // A first line cut at the buffer's size: the next line of that name tells them.
        let mut body = b"long{v=\"".to_vec();
        body.extend(std::iter::repeat_n(b'x', BUF * 2));
        body.extend_from_slice(b"\"} 1\nlong{v=\"y\",w=\"z\"} 2\n");
        let s = scan(&body[..]).unwrap();
        assert_eq!(s.labels["long"], ["v", "w"]);
    }

    #[test]
    fn fixture_counts() {
        let agent = scan(&fixture("agent-datadog.txt")[..]).unwrap();
        assert_eq!(agent.samples, 975);
        assert!(
            agent.has("cilium_version"),
            "last line without newline is counted"
        );
        assert_eq!(
            scan(&fixture("operator-datadog.txt")[..]).unwrap().samples,
            1029
        );
        let busy = scan(&fixture("hubble-busy.txt")[..]).unwrap();
        assert_eq!(busy.samples, 3225);
        assert_eq!(busy.exemplars, 0);
        assert!(!busy.eof);
        assert_eq!(busy.names["hubble_http_requests_total"].samples, 317);
        let fresh = scan(&fixture("hubble-fresh.txt")[..]).unwrap();
        assert_eq!(fresh.samples, 240);
        assert!(fresh.names.keys().all(|n| n.starts_with("grpc_server_")));
    }

    #[test]
    fn openmetrics_exemplars_and_eof() {
        let s = scan(&fixture("hubble-openmetrics.txt")[..]).unwrap();
        assert!(s.eof);
        assert_eq!(s.samples, 398);
        assert_eq!(s.exemplars, 20);
        assert_eq!(s.names["hubble_http_requests_total"].exemplars, 9);
        assert_eq!(
            s.names["hubble_http_request_duration_seconds_bucket"].exemplars,
            11
        );
        assert!(s.has("hubble_drop_total"), "counter samples carry _total");
        assert!(!s.has("hubble_drop"));
    }

    #[test]
    fn escaped_label_values_do_not_confuse_it() {
        let body = concat!(
            "a{q=\"x}y # {z\\\" \",b=\"\\\\\"} 1\n",
            "a{q=\"} 2 # {t=\\\"1\\\"} 3\"} 4\n",
            "b{le=\"+Inf\"} 3 # {trace_id=\"abc\"} 1 1.7e9\n",
            "c 1e+06 1700000000000\n",
        );
        let s = scan(body.as_bytes()).unwrap();
        assert!(s.is_metrics(), "{:?}", s.first_bad);
        assert_eq!(
            s.names["a"],
            NameStats {
                samples: 2,
                exemplars: 0
            }
        );
        assert_eq!(
            s.names["b"],
            NameStats {
                samples: 1,
                exemplars: 1
            }
        );
        assert_eq!(s.names["c"].samples, 1);
    }

    #[test]
    fn names_split_across_non_adjacent_lines_add_up() {
        let s = scan(&b"a 1\nb 2\na 3\r\n\n# HELP a x\n"[..]).unwrap();
        assert_eq!(s.names["a"].samples, 2);
        assert_eq!(s.names["b"].samples, 1);
    }

    #[test]
    fn not_metrics() {
        for body in [
            "<html><body>Hello</body></html>\n",
            "404 page not found\n",
            "{\"status\":\"ok\"}",
            "a{b=\"unterminated} 1\n",
            "metric_without_value\n",
            "metric{} \n",
        ] {
            let s = scan(body.as_bytes()).unwrap();
            assert!(!s.is_metrics(), "{body}");
            assert_eq!(s.first_bad.as_ref().unwrap().0, 1, "{body}");
        }
        assert!(!scan(&b""[..]).unwrap().is_metrics());
        assert!(!scan(&b"# HELP only\n"[..]).unwrap().is_metrics());
    }

    #[test]
    fn pushed_chunks_of_any_size_scan_like_one_read() {
        // Long lines (one exactly BUF, one longer) among short ones, cut at every kind of edge.
        let mut body = b"a 1\n".to_vec();
        body.extend_from_slice(b"exact{v=\"");
        body.extend(std::iter::repeat_n(b'x', BUF - 14));
        body.extend_from_slice(b"\"} 1\n");
        body.extend_from_slice(b"long{v=\"");
        body.extend(std::iter::repeat_n(b'y', BUF * 2));
        body.extend_from_slice(b"\"} 1\nb 2\nbad line\nc 3");
        let whole = scan(&body[..]).unwrap();
        assert_eq!(whole.lines, 6);
        assert_eq!(whole.bad_lines, 1);
        assert_eq!(whole.names.len(), 5, "{:?}", whole.sorted_names());
        for step in [1, 3, 1000, BUF - 1, BUF, BUF + 1, 3 * BUF] {
            let mut s = Scanner::new();
            for chunk in body.chunks(step) {
                s.push(chunk);
            }
            assert_eq!(s.finish(), whole, "step {step}");
        }
    }

    #[test]
    fn a_line_longer_than_the_buffer_is_judged_by_its_start() {
        let mut body = b"long{v=\"".to_vec();
        body.extend(std::iter::repeat_n(b'x', BUF * 2 + 5));
        body.extend_from_slice(b"\"} 1\nshort 2\n");
        let s = scan(&body[..]).unwrap();
        assert!(s.has("short"));
        assert!(s.is_metrics(), "{:?}", s.first_bad);
        assert_eq!(s.names["long"].samples, 1);
        assert_eq!(s.lines, 2);
    }
}
