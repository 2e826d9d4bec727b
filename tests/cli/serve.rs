//! The seller portal: `demandlink serve` on a free loopback port, driven over real HTTP
//! connections, and `demandlink tokens`. Every access rule of the API, a seeded property run
//! over random sellers, categories and parameters, and revocation and refresh while serving.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use demandlink::store::{Namespace, OpenMode, Store};

use crate::recommend::sample_db;
use crate::util::{Server, fails, ok};

/// The sample database with a stored list for every category (what the dropdown offers).
fn portal_db(tmp: &Path) -> PathBuf {
    let db = sample_db(tmp);
    ok(&[
        "recommend",
        "--db",
        db.to_str().unwrap(),
        "--all-categories",
    ]);
    db
}

fn issue(db: &Path, who: &[&str]) -> String {
    let mut args = vec!["tokens", "issue", "--db", db.to_str().unwrap()];
    args.extend_from_slice(who);
    let token = ok(&args).trim().to_string();
    assert!(token.starts_with("dlk_") && token.len() == 68, "{token}");
    token
}

fn error_code(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    v["error"]["code"].as_str().unwrap().to_string()
}

#[test]
fn access_rules_errors_and_the_page() {
    let tmp = tempfile::tempdir().unwrap();
    let db = portal_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let s5 = issue(&db, &["--seller", "s000005"]);
    let operator = issue(&db, &["--operator"]);
    let e = fails(&["tokens", "issue", "--db", dbs, "--seller", "nobody"]);
    assert!(e.contains("unknown seller `nobody`"), "{e}");
    let server = Server::start(&db);

    // The page, without a token.
    let (status, page) = server.get("/", None);
    assert_eq!(status, 200);
    assert!(page.contains("<select id=\"category\""), "{page}");

    // Who am I.
    let me = server.json("/api/v1/me", &s5);
    assert_eq!(me["seller"], "s000005");
    assert_eq!(me["primary_category"], "Toys");
    assert_eq!(me["quarter"], "q2");
    assert!(me["refreshed_at"].as_u64().unwrap() > 1_600_000_000);
    let categories: Vec<&str> = me["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories[0], "Toys", "primary first: {categories:?}");
    assert!(categories.contains(&"Garden"), "{categories:?}");

    // The primary category's list by default; another on request; k bounds the length.
    let list = server.json("/api/v1/me/recommendations", &s5);
    assert_eq!(list["category"], "Toys");
    assert_eq!(list["recommendations"].as_array().unwrap().len(), 20);
    let first = &list["recommendations"][0];
    assert_eq!(first["rank"], 1);
    for field in ["product", "title", "category", "score", "why"] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    let garden = server.json("/api/v1/me/recommendations?category=Garden&k=3", &s5);
    let items = garden["recommendations"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["category"].as_str().unwrap().starts_with("Garden"))
    );
    // A category without a stored list: an empty list, never computed.
    let cars = server.json("/api/v1/me/recommendations?category=Cars", &s5);
    assert_eq!(cars["recommendations"].as_array().unwrap().len(), 0);
    assert!(cars["computed_at"].is_null());

    // 401: missing, malformed, unknown tokens.
    let unknown = format!("dlk_{}", "0".repeat(64));
    for token in [None, Some("dlk_short"), Some(unknown.as_str())] {
        let (status, body) = server.get("/api/v1/me", token);
        assert_eq!(status, 401, "{token:?}: {body}");
        let code = error_code(&body);
        assert!(code == "missing_token" || code == "invalid_token", "{code}");
    }
    let (status, body) = server.raw(
        format!(
            "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {s5}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!((status, error_code(&body).as_str()), (401, "missing_token"));

    // 404 for another seller, identical whether that seller exists or not.
    let (status, other) = server.get("/api/v1/sellers/s000006/recommendations", Some(&s5));
    let (status2, nobody) = server.get("/api/v1/sellers/nobody/recommendations", Some(&s5));
    assert_eq!((status, status2), (404, 404));
    assert_eq!(other, nobody);
    assert_eq!(error_code(&other), "not_found");
    // Its own id through the sellers route is its own list.
    let own = server.json("/api/v1/sellers/s000005/recommendations?k=5", &s5);
    assert_eq!(own["seller"], "s000005");

    // The operator reads any seller, gets 404 for unknown ones, and has no /me.
    let s6 = server.json(
        "/api/v1/sellers/s000006/recommendations?category=Books",
        &operator,
    );
    assert_eq!(
        (&s6["seller"], &s6["category"]),
        (&"s000006".into(), &"Books".into())
    );
    let (status, _) = server.get("/api/v1/sellers/nobody/recommendations", Some(&operator));
    assert_eq!(status, 404);
    let (status, body) = server.get("/api/v1/me", Some(&operator));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (403, "operator_token")
    );

    // 400 naming the parameter.
    for (query, parameter) in [
        ("k=0", "k"),
        ("k=101", "k"),
        ("k=ten", "k"),
        ("k=1&k=2", "k"),
        ("category=", "category"),
        ("category=%07", "category"),
        ("seller=s000006", "seller"),
        ("category=%FF", "category"),
    ] {
        let (status, body) = server.get(&format!("/api/v1/me/recommendations?{query}"), Some(&s5));
        assert_eq!(status, 400, "{query}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["parameter"], parameter, "{query}: {body}");
    }

    // Refused before routing: other methods, bodies, over-long targets and headers.
    let post = format!(
        "POST /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s5}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    assert_eq!(
        error_code(&server.raw(post.as_bytes()).1),
        "method_not_allowed"
    );
    let body = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s5}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    let (status, body) = server.raw(body.as_bytes());
    assert_eq!(
        (status, error_code(&body).as_str()),
        (413, "body_not_allowed")
    );
    let long = format!("/api/v1/me/recommendations?category={}", "a".repeat(3000));
    let (status, body) = server.get(&long, Some(&s5));
    assert_eq!((status, error_code(&body).as_str()), (414, "uri_too_long"));
    let big = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s5}\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "p".repeat(10_000)
    );
    let (status, body) = server.raw(big.as_bytes());
    assert_eq!(
        (status, error_code(&body).as_str()),
        (431, "headers_too_large")
    );
    let (status, body) = server.get("/api/v1/me?seller=s000006", Some(&s5));
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "unknown_parameter")
    );
    let (status, body) = server.get("/api/v2/me", Some(&s5));
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));

    let e = fails(&["tokens", "revoke", "--db", dbs, "0123456789abcdef"]);
    assert!(e.contains("no token with id `0123456789abcdef`"), "{e}");
    // `tokens list` shows ids and subjects, never a secret.
    let listed = ok(&["tokens", "list", "--db", dbs]);
    assert!(
        listed.contains("seller s000005") && listed.contains("operator"),
        "{listed}"
    );
    assert!(!listed.contains(&s5[4..20]), "{listed}");

    // Tokens never reach the log, even at trace level; requests do.
    let log = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("GET /api/v1/me"), "{log}");
    for secret in [&s5, &operator] {
        assert!(!log.contains(&secret[4..]), "a token in the log:\n{log}");
    }

    // A killed server's secondary folder is removed by the next server.
    let dead = db.join("secondary-999999999");
    std::fs::create_dir_all(&dead).unwrap();
    drop(Server::start(&db));
    assert!(!dead.exists());
}

/// xorshift64*: a deterministic sequence without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn a_seller_token_never_yields_another_sellers_data() {
    let tmp = tempfile::tempdir().unwrap();
    let db = portal_db(tmp.path());
    let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
    let mut sellers = Vec::new();
    store
        .for_each_seller(|_, r| sellers.push(r.external))
        .unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let holders: Vec<(String, String)> = (0..6)
        .map(|_| {
            let s = sellers[rng.below(sellers.len())].clone();
            let t = issue(&db, &["--seller", &s]);
            (s, t)
        })
        .collect();
    // What each holder's lists hold: a 200 may only ever contain these.
    let own_products = |seller: &str, category: &str| -> Vec<String> {
        let id = store.lookup(Namespace::Seller, seller).unwrap().unwrap();
        store
            .recommendations(id)
            .unwrap()
            .into_iter()
            .filter(|(c, _)| c == category)
            .flat_map(|(_, l)| l.items)
            .map(|r| store.external(Namespace::Product, r.product).unwrap())
            .collect()
    };
    let server = Server::start(&db);
    let categories = [
        "Toys", "Garden", "Home", "Books", "Beauty", "Sports", "Cars", "toys",
    ];
    let (_, not_found) = server.get(
        "/api/v1/sellers/nobody/recommendations",
        Some(&holders[0].1),
    );
    let mut answered = HashSet::new();
    for _ in 0..300 {
        let (holder, token) = &holders[rng.below(holders.len())];
        let target = &sellers[rng.below(sellers.len())];
        let category = categories[rng.below(categories.len())];
        let k = 1 + rng.below(30);
        let path = match rng.below(5) {
            0 => format!("/api/v1/me/recommendations?category={category}&k={k}"),
            1 => format!("/api/v1/me/recommendations?category={category}&seller={target}"),
            2 => format!("/api/v1/sellers/{target}/recommendations?category={category}&k={k}"),
            3 => format!("/api/v1/sellers/{target}/recommendations?seller={holder}"),
            _ => format!("/api/v1/me?seller={target}"),
        };
        let (status, body) = server.get(&path, Some(token));
        answered.insert(status);
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(v["seller"], holder.as_str(), "{path} for {holder}: {body}");
                if let Some(items) = v["recommendations"].as_array() {
                    let shown = v["category"].as_str().unwrap();
                    let own = own_products(holder, shown);
                    let got: Vec<String> = items
                        .iter()
                        .map(|i| i["product"].as_str().unwrap().to_string())
                        .collect();
                    assert_eq!(got, own[..got.len()], "{path} for {holder}");
                }
            }
            404 => {
                assert_ne!(target, holder, "{path}");
                assert_eq!(body, not_found, "{path}");
            }
            400 => assert!(path.contains("seller="), "{path}: {body}"),
            other => panic!("{path} for {holder}: {other} {body}"),
        }
    }
    assert!(
        answered.contains(&200) && answered.contains(&404),
        "{answered:?}"
    );
}

#[test]
fn revocation_and_a_refresh_take_effect_while_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let db = portal_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let keep = issue(&db, &["--seller", "s000005"]);
    let server = Server::start(&db);
    // Issuing and revoking work while the server runs (it holds no lock).
    let token = issue(&db, &["--seller", "s000007"]);
    assert_eq!(server.json("/api/v1/me", &token)["seller"], "s000007");
    let before = server.json("/api/v1/me/recommendations?category=Home", &keep);
    let id = ok(&["tokens", "list", "--db", dbs, "--json"]);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let id = id
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["seller"] == "s000007")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(&["tokens", "revoke", "--db", dbs, &id]);
    assert!(out.contains("revoked"), "{out}");
    // The very next request is refused.
    let (status, body) = server.get("/api/v1/me", Some(&token));
    assert_eq!((status, error_code(&body).as_str()), (401, "token_revoked"));
    let listed = ok(&["tokens", "list", "--db", dbs]);
    assert!(listed.contains("revoked at unix"), "{listed}");

    // A refresh with another list length is served without a restart, within the staleness
    // bound (100 ms).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ok(&["recommend", "--db", dbs, "--all-categories", "--k", "2"]);
    std::thread::sleep(std::time::Duration::from_millis(150));
    let after = server.json("/api/v1/me/recommendations?category=Home", &keep);
    assert!(before["recommendations"].as_array().unwrap().len() > 2);
    assert_eq!(after["recommendations"].as_array().unwrap().len(), 2);
    assert!(after["computed_at"].as_u64() > before["computed_at"].as_u64());
    assert_eq!(server.json("/api/v1/me", &keep)["seller"], "s000005");
}

#[test]
fn healthz_reports_a_failed_refresh_and_a_damaged_index_while_the_lists_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let db = portal_db(tmp.path());
    let dbs = db.to_str().unwrap();
    let token = issue(&db, &["--seller", "s000007"]);
    let server = Server::start(&db);
    let health = || {
        // Past the staleness bound: the view includes the writes just done.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let (status, body) = server.get("/healthz", None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let products = || {
        let list = server.json("/api/v1/me/recommendations", &token);
        let items = list["recommendations"].as_array().unwrap().clone();
        items
            .iter()
            .map(|i| i["product"].to_string())
            .collect::<Vec<_>>()
    };
    let h = health();
    assert_eq!(
        (&h["status"], &h["index"], &h["index_generation"]),
        (&"ok".into(), &"whole".into(), &1.into()),
        "{h}"
    );
    let served = products();
    assert!(!served.is_empty());

    // A refresh whose index stage fails (its high-demand product has no text or vector).
    let q3 = crate::util::Drop::new(tmp.path(), "q3");
    q3.file("high_demand.tsv", &["product_id", "p9999999"]);
    let e = fails(&["refresh", "--db", dbs, "--model", "content", q3.path()]);
    assert!(e.contains("index failed"), "{e}");
    let h = health();
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["problems"][0]
            .as_str()
            .unwrap()
            .contains("the last refresh failed in index"),
        "{h}"
    );
    assert_eq!(products(), served);

    // The index files damaged under the server.
    let file = db.join("index/1/data.mdb");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[4096..4160].fill(0);
    std::fs::write(&file, bytes).unwrap();
    let h = health();
    assert_eq!(
        (&h["status"], &h["index"]),
        (&"degraded".into(), &"damaged".into()),
        "{h}"
    );
    assert!(
        h["problems"]
            .to_string()
            .contains("index generation 1 is damaged"),
        "{h}"
    );
    assert_eq!(products(), served);
}
