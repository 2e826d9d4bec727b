//! `inspect` and the portal's `why` on generated drops, with and without categories: the
//! strongest three co-purchase reasons and how many more, the category match ("no category"
//! where there is none), and the same explanation in `inspect --json` and the portal.

use std::path::{Path, PathBuf};

use crate::util::{Drop, Server, ok};

const WORDS: [&str; 8] = [
    "amber", "birch", "cedar", "dune", "ember", "fjord", "glade", "heath",
];

/// A drop around seller `s1`: six toys and two garden tools listed; high-demand `hot1` (a toy
/// bought with five of the toys: ×6, ×5, ×4, ×3, ×2) and `hot2` (a toy bought with one), and
/// two other sellers in the kitchen. Without `categories`, every category path is empty.
fn explain_drop(parent: &Path, categories: bool) -> Drop {
    let category = |c: &str| {
        if categories {
            c.to_string()
        } else {
            String::new()
        }
    };
    let (toys, garden, kitchen) = (
        category("Toys > Games"),
        category("Garden > Tools"),
        category("Home > Kitchen"),
    );
    let mut products = vec!["product_id\tcategory\ttitle".to_string()];
    for (i, w) in WORDS.iter().enumerate() {
        let (id, c, title) = match i {
            0..6 => (
                format!("toy{i}"),
                &toys,
                format!("oak family board game {w}"),
            ),
            _ => (
                format!("tool{i}"),
                &garden,
                format!("steel garden rake {w}"),
            ),
        };
        products.push(format!("{id}\t{c}\t{title}"));
        products.push(format!("pan{i}\t{kitchen}\tcopper kitchen pan {w}"));
    }
    products.push(format!("hot1\t{toys}\toak family board game deluxe"));
    products.push(format!("hot2\t{toys}\toak family card game"));
    products.push(format!("hot3\t{kitchen}\tcopper kitchen pot"));
    let mut listings = vec!["seller_id\tproduct_id".to_string()];
    for i in 0..8 {
        let own = if i < 6 { "toy" } else { "tool" };
        listings.push(format!("s1\t{own}{i}"));
        listings.push(format!("s2\tpan{i}"));
        if i % 2 == 0 {
            listings.push(format!("s3\tpan{i}"));
        }
    }
    let d = Drop::new(parent, if categories { "with" } else { "without" });
    let lines = |v: &[String]| v.iter().map(String::as_str).collect::<Vec<_>>().join("\n");
    d.file("products.tsv", &[&lines(&products)])
        .file("listings.tsv", &[&lines(&listings)])
        .file(
            "copurchases.tsv",
            &[
                "product_a\tproduct_b\tcount",
                "hot1\ttoy0\t6",
                "toy1\thot1\t5",
                "hot1\ttoy2\t4",
                "hot1\ttoy3\t3",
                "hot1\ttoy4\t2",
                "hot2\ttoy5\t2",
                "hot3\tpan0\t3",
            ],
        )
        .file("high_demand.tsv", &["product_id", "hot1", "hot2", "hot3"]);
    d
}

/// The drop ingested, featurized, indexed, and every candidate of a seller's primary
/// category recommended (threshold 0, so the list does not depend on the fitted score).
fn explain_db(parent: &Path, categories: bool) -> PathBuf {
    let drop = explain_drop(parent, categories);
    let db = parent.join(if categories { "db-with" } else { "db-without" });
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, drop.path()]);
    ok(&["featurize", "--db", d]);
    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d, "--threshold", "0"]);
    db
}

/// The lines of `inspect`'s text about recommendation `product`: its own line and its reasons,
/// with runs of spaces collapsed.
fn reasons_of(text: &str, product: &str) -> Vec<String> {
    let collapse = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut lines = text.lines().skip_while(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        !(f.len() > 2 && f[0].parse::<usize>().is_ok() && f[2] == product)
    });
    let head = lines
        .next()
        .unwrap_or_else(|| panic!("{product} not listed:\n{text}"));
    let mut block = vec![collapse(head)];
    block.extend(
        lines
            .take_while(|l| l.starts_with("        "))
            .map(collapse),
    );
    block
}

fn inspect_json(db: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&[
        "inspect",
        "--db",
        db.to_str().unwrap(),
        "s1",
        "--json",
    ]))
    .unwrap()
}

fn item<'a>(json: &'a serde_json::Value, product: &str) -> &'a serde_json::Value {
    json["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product"] == product)
        .unwrap_or_else(|| panic!("{product} not in {json}"))
}

#[test]
fn inspect_names_the_strongest_three_reasons_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let db = explain_db(tmp.path(), true);
    let text = ok(&["inspect", "--db", db.to_str().unwrap(), "s1"]);
    assert!(
        text.contains(
            "primary category: Toys (from listings); 8 listings\ncategories: Toys 6, Garden 2\n"
        ),
        "{text}"
    );
    let hot1 = reasons_of(&text, "hot1");
    assert!(
        hot1[0].ends_with("hot1 oak family board game deluxe [Toys > Games]"),
        "{hot1:?}"
    );
    assert_eq!(
        hot1[1..6],
        [
            "bought with ×6 toy0 oak family board game amber",
            "×5 toy1 oak family board game birch",
            "×4 toy2 oak family board game cedar",
            "and 2 more",
            "category 6 of the 8 listings share it",
        ],
        "{text}"
    );
    assert!(hot1[6].starts_with("similar to "), "{hot1:?}");
    assert_eq!(hot1.len(), 9, "three similar listed products: {hot1:?}");
    // One co-purchased product: no "more" line.
    let hot2 = reasons_of(&text, "hot2");
    assert_eq!(
        hot2[1..3],
        [
            "bought with ×2 toy5 oak family board game fjord",
            "category 6 of the 8 listings share it"
        ],
        "{text}"
    );

    let json = inspect_json(&db);
    let why = &item(&json, "hot1")["why"];
    let counts: Vec<u64> = why["copurchased_with"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [6, 5, 4], "{why}");
    assert_eq!(
        why["copurchased_with"][0]["title"],
        "oak family board game amber"
    );
    assert_eq!(why["copurchased_more"], 2);
    assert_eq!(why["category"]["name"], "Toys > Games");
    assert_eq!(why["category"]["listings"], 6);
    assert_eq!(why["similar_listed"].as_array().unwrap().len(), 3);
    assert!(json["score_decimals"].as_u64().unwrap() >= 3, "{json}");
}

#[test]
fn inspect_says_no_category_where_there_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    let db = explain_db(tmp.path(), false);
    let text = ok(&["inspect", "--db", db.to_str().unwrap(), "s1"]);
    assert!(
        text.contains(
            "primary category: no category (from listings); 8 listings\n\
             categories: none (8 listings without one)\n"
        ),
        "{text}"
    );
    assert!(text.contains("recommendations for no category: "), "{text}");
    assert!(!text.contains("[]") && !text.contains(":  "), "{text}");
    let hot1 = reasons_of(&text, "hot1");
    assert!(
        hot1[0].ends_with("hot1 oak family board game deluxe [no category]"),
        "{hot1:?}"
    );
    assert_eq!(hot1[4..6], ["and 2 more", "category no category"], "{text}");

    let json = inspect_json(&db);
    assert_eq!(json["primary_category"], "");
    let why = &item(&json, "hot1")["why"];
    assert!(why["category"]["name"].is_null(), "{why}");
    assert_eq!(why["category"]["listings"], 0);
    assert_eq!(why["copurchased_more"], 2);
}

#[test]
fn inspect_and_the_portal_give_the_same_why() {
    let tmp = tempfile::tempdir().unwrap();
    for categories in [true, false] {
        let db = explain_db(tmp.path(), categories);
        let dbs = db.to_str().unwrap();
        let token = ok(&["tokens", "issue", "--db", dbs, "--seller", "s1"])
            .trim()
            .to_string();
        let inspected = inspect_json(&db);
        let server = Server::start(&db);
        // The primary category's list, named or not (the empty one is the default only).
        let list = server.json("/api/v1/me/recommendations?k=5", &token);
        assert_eq!(list["category"], inspected["category"]);
        assert_eq!(list["score_decimals"], inspected["score_decimals"]);
        let items = list["recommendations"].as_array().unwrap();
        assert!(items.iter().any(|i| i["product"] == "hot1"), "{list}");
        for served in items {
            let product = served["product"].as_str().unwrap();
            assert_eq!(
                served["why"],
                item(&inspected, product)["why"],
                "{product}, categories {categories}"
            );
        }
        let why = &items.iter().find(|i| i["product"] == "hot1").unwrap()["why"];
        assert_eq!(why["copurchased_with"].as_array().unwrap().len(), 3);
        assert_eq!(why["copurchased_more"], 2);
    }
}
