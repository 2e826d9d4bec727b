//! Helpers that make a test read like the commands a user types.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Path of the built binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_demandlink")
}

/// Runs `demandlink ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("spawn demandlink")
}

/// Runs and asserts success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "demandlink {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs and asserts failure with exactly one `error:` line on stderr and no panic; returns it.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "demandlink {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(!stderr.contains("backtrace"), "backtrace: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
    errors[0].to_string()
}

/// A drop folder being written by a test.
pub struct Drop {
    pub dir: PathBuf,
}

impl Drop {
    pub fn new(parent: &Path, name: &str) -> Drop {
        let dir = parent.join(name);
        fs::create_dir_all(&dir).unwrap();
        Drop { dir }
    }

    /// Writes `name` with the given lines (joined by newlines, final newline added).
    pub fn file(&self, name: &str, lines: &[&str]) -> &Self {
        self.bytes(name, (lines.join("\n") + "\n").as_bytes())
    }

    /// Writes raw bytes; names ending in `.gz` are gzip-compressed.
    pub fn bytes(&self, name: &str, bytes: &[u8]) -> &Self {
        let path = self.dir.join(name);
        if name.ends_with(".gz") {
            let mut gz = GzEncoder::new(fs::File::create(path).unwrap(), Compression::fast());
            gz.write_all(bytes).unwrap();
            gz.finish().unwrap();
        } else {
            fs::write(path, bytes).unwrap();
        }
        self
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

/// `demandlink dump` of a database.
pub fn dump(db: &Path) -> String {
    ok(&["dump", "--db", db.to_str().unwrap()])
}

/// `demandlink stats --json` parsed.
pub fn stats(db: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["stats", "--json", "--db", db.to_str().unwrap()])).unwrap()
}

/// A large deterministic drop: `listings` listing rows over a skewed id space and
/// `pairs` co-purchase rows, plain text.
pub fn large_drop(parent: &Path, name: &str, listings: usize, pairs: usize) -> Drop {
    let d = Drop::new(parent, name);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut text = String::from("seller_id\tproduct_id\tts\n");
    for i in 0..listings {
        let s = next() % 20_000;
        let p = (next() % 50_000) * (next() % 3 + 1) / 3;
        text.push_str(&format!("s{s:06}\tp{p:07}\t{}\n", 1_700_000_000 + i));
    }
    d.bytes("listings.tsv", text.as_bytes());
    let mut text = String::from("product_a\tproduct_b\tcount\n");
    for _ in 0..pairs {
        let a = next() % 60_000;
        let b = (a + 1 + next() % 500) % 60_000;
        text.push_str(&format!("p{a:07}\tp{b:07}\t{}\n", next() % 4 + 1));
    }
    d.bytes("copurchases.tsv", text.as_bytes());
    d
}

/// A `demandlink serve` started by a test on a free loopback port, stopped when dropped.
pub struct Server {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Where its stderr (the request log, at `RUST_LOG=trace`) goes.
    pub log: PathBuf,
}

impl Server {
    pub fn start(db: &Path) -> Server {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let log = db.with_extension("serve.log");
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--db",
                db.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
            ])
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn demandlink serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr, log }
    }

    /// Sends raw request bytes on a new connection and returns (status, body).
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.write_all(request).unwrap();
        let mut response = Vec::new();
        // The server may close before reading everything of an over-long request.
        let _ = s.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }

    /// `GET path` with an optional bearer token; returns (status, body).
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        self.raw(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
                self.addr
            )
            .as_bytes(),
        )
    }

    /// `GET path` answered 200, parsed as JSON.
    pub fn json(&self, path: &str, token: &str) -> serde_json::Value {
        let (status, body) = self.get(path, Some(token));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl std::ops::Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A deterministic `orders.tsv` drop of `rows` orders by `customers` customers over 5 000
/// products, timestamps over the 60 days from `start` in file order unrelated to customers.
pub fn large_orders(parent: &Path, name: &str, rows: usize, customers: u64, start: i64) -> Drop {
    let d = Drop::new(parent, name);
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ start as u64;
    let mut text = String::from("customer_id\tproduct_id\tts\n");
    for _ in 0..rows {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (c, p, t) = (r % customers, (r >> 20) % 5_000, (r >> 36) % (60 * 86_400));
        text.push_str(&format!("c{c:05}\tp{p:05}\t{}\n", start + t as i64));
    }
    d.bytes("orders.tsv", text.as_bytes());
    d
}

/// Co-purchase counts by external product ids, each unordered pair once as (smaller, larger),
/// read from `demandlink dump` (which shows internal ids).
pub fn copurchase_counts(db: &Path) -> std::collections::BTreeMap<(String, String), u64> {
    let text = dump(db);
    let mut external = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ids product:") {
            let (name, id) = rest.rsplit_once(" -> ").unwrap();
            external.insert(id.to_string(), name.to_string());
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("copurchase ") {
            let f: Vec<&str> = rest.split(' ').collect();
            let (a, b) = (&external[f[0]], &external[f[1]]);
            if a < b {
                counts.insert((a.clone(), b.clone()), f[3].parse().unwrap());
            }
        }
    }
    counts
}

/// A deterministic catalogue drop big enough for every stage to take measurable time:
/// `products` products with titles from per-category word pools, `sellers` sellers listing
/// `listings` products mostly of one category, co-purchases, views, and a high-demand list
/// of a tenth of the products (never listed).
pub fn catalogue_drop(
    parent: &Path,
    name: &str,
    sellers: u64,
    products: u64,
    listings: u64,
) -> Drop {
    const CATEGORIES: [&str; 6] = ["Home", "Garden", "Toys", "Books", "Beauty", "Sports"];
    const WORDS: [&str; 24] = [
        "steel", "oak", "linen", "compact", "deluxe", "classic", "mini", "pro", "eco", "smart",
        "vintage", "soft", "bright", "travel", "family", "kids", "premium", "silk", "glass",
        "copper", "wool", "cotton", "bamboo", "ceramic",
    ];
    let d = Drop::new(parent, name);
    let mut state = 0x853c_49e6_748f_ea9bu64 ^ products;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let category = |p: u64| CATEGORIES[(p % 6) as usize];
    let mut text = String::from("product_id\tcategory\ttitle\n");
    for p in 0..products {
        let c = category(p);
        let words: Vec<String> = (0..5)
            .map(|i| format!("{}{}", WORDS[(next() % 24) as usize], (p % 6) * 3 + i % 3))
            .collect();
        text.push_str(&format!(
            "p{p:07}\t{c} > Sub{}\t{} {c}\n",
            p % 17,
            words.join(" ")
        ));
    }
    d.bytes("products.tsv", text.as_bytes());
    let listed = products - products / 10;
    let mut text = String::from("seller_id\tproduct_id\tts\n");
    for i in 0..listings {
        let s = next() % sellers;
        // Most of a seller's listings in its own category.
        let mut p = next() % listed;
        if next() % 4 != 0 {
            p = p - p % 6 + s % 6;
        }
        text.push_str(&format!(
            "s{s:06}\tp{:07}\t{}\n",
            p.min(listed - 1),
            1_700_000_000 + i
        ));
    }
    d.bytes("listings.tsv", text.as_bytes());
    let mut text = String::from("product_a\tproduct_b\tcount\n");
    for _ in 0..products {
        let a = next() % products;
        let b = (a + 6 * (1 + next() % 50)) % products;
        text.push_str(&format!("p{a:07}\tp{b:07}\t{}\n", next() % 5 + 1));
    }
    d.bytes("copurchases.tsv", text.as_bytes());
    let mut text = String::from("product_id\tviews\n");
    for p in 0..products {
        text.push_str(&format!("p{p:07}\t{}\n", next() % 1000));
    }
    d.bytes("views.tsv", text.as_bytes());
    let mut text = String::from("product_id\n");
    for p in listed..products {
        text.push_str(&format!("p{p:07}\n"));
    }
    d.bytes("high_demand.tsv", text.as_bytes());
    d
}

/// The sample data's drop folder `name` (`q1`, `q2`).
pub fn sample(name: &str) -> String {
    format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `demandlink jobs --json` parsed.
pub fn jobs(db: &Path) -> Vec<serde_json::Value> {
    let out = ok(&["jobs", "--json", "--db", db.to_str().unwrap()]);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Copies the folder `from` (a closed database) to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    copy_dir_where(from, to, &|_| true);
}

/// Copies the folder `from` to `to`, recursively, only the files for which `keep` is true.
pub fn copy_dir_where(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir_where(&entry.path(), &target, keep);
        } else if keep(&entry.path()) {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Sends SIGINT (what Ctrl-C sends) to a child process.
pub fn interrupt(child: &std::process::Child) {
    // SAFETY: sending a signal to our own child process has no memory-safety preconditions.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "cannot signal pid {}", child.id());
}

/// Asserts that `recommend --seller` prints, for `external`, the products of the stored list
/// `items` in order: one seller computed alone ranks as the full run did.
pub fn assert_printed_list_is_stored(
    db: &Path,
    store: &demandlink::store::Store,
    external: &str,
    items: &[demandlink::store::Rec],
) {
    let out = ok(&[
        "recommend",
        "--db",
        db.to_str().unwrap(),
        "--seller",
        external,
    ]);
    let printed: Vec<String> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    let stored: Vec<String> = items
        .iter()
        .map(|r| {
            store
                .external(demandlink::store::Namespace::Product, r.product)
                .unwrap()
        })
        .collect();
    assert_eq!(printed, stored, "{external}");
}

/// Writes `DIR/NTYPE/FILE` as GraphStorm's remap step writes embeddings: columns `emb`
/// (`list<float>`, nullable as pyarrow writes them) and `nid` (string), one row per `(id,
/// vector)`.
pub fn write_embeddings(dir: &Path, ntype: &str, file: &str, rows: &[(String, Vec<f32>)]) {
    use parquet::data_type::{ByteArray, ByteArrayType, FloatType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = parse_message_type(
        "message schema { optional group emb (LIST) { repeated group list { optional float element; } } optional binary nid (UTF8); }",
    )
    .unwrap();
    fs::create_dir_all(dir.join(ntype)).unwrap();
    let out = fs::File::create(dir.join(ntype).join(file)).unwrap();
    let props = std::sync::Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(out, std::sync::Arc::new(schema), props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    // emb: each element defined at level 3 (list, repeated group, element); a new row's first
    // element has repetition 0.
    let (mut values, mut def, mut rep) = (Vec::new(), Vec::new(), Vec::new());
    for (_, v) in rows {
        for (i, &x) in v.iter().enumerate() {
            values.push(x);
            def.push(3);
            rep.push(i16::from(i > 0));
        }
    }
    let mut col = group.next_column().unwrap().unwrap();
    col.typed::<FloatType>()
        .write_batch(&values, Some(&def), Some(&rep))
        .unwrap();
    col.close().unwrap();
    let ids: Vec<ByteArray> = rows
        .iter()
        .map(|(id, _)| ByteArray::from(id.as_str()))
        .collect();
    let mut col = group.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&ids, Some(&vec![1; ids.len()]), None)
        .unwrap();
    col.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

/// Seeded 8-dimensional embeddings for every seller and product `db` knows, written to `dir` as
/// GraphStorm lays them out ([`write_embeddings`]).
pub fn seeded_embeddings(db: &Path, dir: &Path) {
    let text = dump(db);
    for ntype in ["seller", "product"] {
        let prefix = format!("ids {ntype}:");
        let rows: Vec<(String, Vec<f32>)> = text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .map(|l| {
                let (id, n) = l.rsplit_once(" -> ").unwrap();
                let n: u32 = n.parse().unwrap();
                let v = (0..8u32)
                    .map(|k| ((n.wrapping_mul(2_654_435_761) >> k) % 97) as f32 - 48.0)
                    .collect();
                (id.to_string(), v)
            })
            .collect();
        write_embeddings(dir, ntype, "embed-00000_00000.parquet", &rows);
    }
}

/// Runs `demandlink ARGS` with the test pause (`src/pause.rs`) at `point` and kills it
/// (SIGKILL: no destructor, no flush) once it has stopped there.
pub fn killed_at_pause(args: &[&str], point: &str) {
    let mut child = Command::new(bin())
        .args(args)
        .env("DEMANDLINK_TEST_PAUSE", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let paused = stderr
        .lines()
        .map(Result::unwrap)
        .any(|l| l == format!("paused at {point}"));
    assert!(paused, "{args:?} never reached {point}");
    child.kill().unwrap();
    child.wait().unwrap();
}
