//! The graph model (`train`): deterministic for a seed, resumable after SIGKILL to the same
//! embeddings, named by recommend and inspect, and on the sample's planted graph clearly
//! better than matrix factorisation on cold high-demand products. (The gradient checks are
//! unit tests beside the layer code, `src/model/layer.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Instant;

use crate::util::{Drop, assert_printed_list_is_stored, bin, dump, killed_at_pause, ok, sample};

/// A database with the sample's two drops ingested and featurized.
fn featurized(dir: &Path, name: &str) -> PathBuf {
    let db = dir.join(name);
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, &sample("q1"), &sample("q2")]);
    ok(&["featurize", "--db", d]);
    db
}

/// Every stored vector line of the dump (output embeddings and checkpointed input rows).
fn embeddings(db: &Path) -> String {
    dump(db)
        .lines()
        .filter(|l| l.starts_with("embeddings ") || l.starts_with("model graph"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn train(db: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--db", db.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = featurized(tmp.path(), "a");
    let b = featurized(tmp.path(), "b");
    let c = featurized(tmp.path(), "c");
    train(&a, &["--epochs", "3"]);
    train(&b, &["--epochs", "3"]);
    train(&c, &["--epochs", "3", "--seed", "1"]);
    let (ea, eb) = (embeddings(&a), embeddings(&b));
    assert!(
        ea.contains("embeddings model 1 seller#"),
        "no seller vectors written"
    );
    assert!(ea == eb, "two runs with one seed differ");
    assert!(
        ea != embeddings(&c),
        "another seed gave the same embeddings"
    );
}

#[test]
fn killed_training_resumes_to_the_same_embeddings() {
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--epochs", "60", "--checkpoint-batches", "1"];
    let reference = featurized(tmp.path(), "reference");
    let started = Instant::now();
    train(&reference, &args);
    let full = started.elapsed();

    let db = featurized(tmp.path(), "killed");
    let mut landed = 0;
    for fraction in [0.2, 0.4, 0.6, 0.8] {
        let mut child = Command::new(bin())
            .args(["train", "--db", db.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        sleep(full.mul_f64(fraction));
        landed += usize::from(child.try_wait().unwrap().is_none());
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
    }
    let last = train(&db, &args);
    eprintln!("{landed} of 4 kills landed during training (uninterrupted: {full:?})");
    assert!(landed >= 1, "no kill landed while training ran ({full:?})");
    assert!(
        last.contains("model generation 1"),
        "a finished run was redone: {last}"
    );
    assert!(
        embeddings(&db) == embeddings(&reference),
        "embeddings differ after kill and resume"
    );
}

#[test]
fn training_killed_between_its_row_writes_and_their_checkpoint_resumes_to_the_same_embeddings() {
    // The best epoch's rows and the rows restored from them are written ahead of their
    // checkpoint, in chunks: a kill in between must leave nothing a rerun reads wrongly.
    let tmp = tempfile::tempdir().unwrap();
    let reference = featurized(tmp.path(), "reference");
    train(&reference, &[]);
    for point in ["train.best_rows", "train.restored_rows"] {
        let db = featurized(tmp.path(), point);
        killed_at_pause(&["train", "--db", db.to_str().unwrap()], point);
        train(&db, &[]);
        assert!(
            embeddings(&db) == embeddings(&reference),
            "embeddings differ after a kill at {point}"
        );
    }
}

#[test]
fn early_stopping_keeps_the_weights_of_its_best_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let stopped = featurized(tmp.path(), "stopped");
    let out = train(&stopped, &["--epochs", "40"]);
    // "…: the weights of epoch B of N trained (patience 3); …"
    let line = out
        .lines()
        .find(|l| l.contains("epochs chosen on the validation products"))
        .unwrap_or_else(|| panic!("no epoch choice printed: {out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "epoch").unwrap();
    let best: u32 = words[at + 1].parse().unwrap();
    let trained: u32 = words[at + 3].parse().unwrap();
    assert!(trained < 40, "the sample's training never stopped: {line}");
    assert_eq!(
        trained,
        best + 3,
        "stopped after 3 epochs without progress: {line}"
    );
    assert!(out.contains(&format!(": {trained} epochs over")), "{out}");

    // The same training run for exactly the best epoch's count ends with the same weights.
    let fixed = featurized(tmp.path(), "fixed");
    train(&fixed, &["--epochs", &best.to_string(), "--patience", "0"]);
    let outputs = |db: &Path| {
        embeddings(db)
            .lines()
            .filter(|l| l.starts_with("embeddings "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (a, b) = (outputs(&stopped), outputs(&fixed));
    assert!(a.len() > 100, "{} vectors", a.len());
    assert!(a == b, "the early-stopped model is not its best epoch's");
}

#[test]
fn beats_matrix_factorisation_on_cold_products_and_is_the_active_model() {
    let tmp = tempfile::tempdir().unwrap();
    let db = featurized(tmp.path(), "db");
    let d = db.to_str().unwrap();
    let out = train(&db, &[]);
    assert!(out.contains("train: model generation 1"), "{out}");
    let truth = format!("{}/data/truth_q2.tsv", env!("CARGO_MANIFEST_DIR"));
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        "--db",
        d,
        "--heldout",
        &truth,
        "--baselines",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["model"], "graph#1");
    let recall = |m: &serde_json::Value, k: &str| m[format!("recall@{k}")].as_f64().unwrap();
    let model = &report["metrics"];
    let mf = &report["baselines"]["als"];
    // The sample's high-demand products have no listings: plain MF can only guess.
    assert!(recall(model, "20") > 2.0 * recall(mf, "20"), "{report}");
    assert!(recall(model, "100") > 1.3 * recall(mf, "100"), "{report}");

    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d]);
    let inspect = ok(&["inspect", "--db", d, "s000005", "--limit", "3"]);
    assert!(
        inspect.contains("model graph#1 (generation 1)"),
        "{inspect}"
    );
    // The top scores saturate near 1 (0.9999…): printed with the digits that tell them apart.
    let scores: Vec<&str> = inspect
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[0].parse::<usize>().is_ok()).then_some(f[1])
        })
        .collect();
    assert_eq!(scores.len(), 3, "{inspect}");
    assert!(scores.windows(2).all(|w| w[0] != w[1]), "{inspect}");
}

/// The root edges a training ran over, from its report.
fn root_edges(report: &str) -> u64 {
    let at = report.find(" root edges").expect(report);
    let count = report[..at].rsplit(' ').next().unwrap();
    count.parse().expect(report)
}

#[test]
fn fine_tuning_trains_the_new_listings_plus_a_replay_share() {
    let tmp = tempfile::tempdir().unwrap();
    let one = Drop::new(tmp.path(), "one");
    // A listing of a high-demand product, so a root edge under stratified sampling.
    one.file(
        "listings.tsv",
        &["seller_id\tproduct_id", "s000001\tp0000002"],
    );
    // Replay share 0: only the new listing; 1: every root edge, as a full training.
    let mut counts = Vec::new();
    for replay in ["0", "1"] {
        let db = tmp.path().join(format!("db{replay}"));
        let d = db.to_str().unwrap();
        ok(&["ingest", "--db", d, &sample("q1")]);
        ok(&["featurize", "--db", d]);
        let args = [
            "--epochs",
            "2",
            "--fine-tune-epochs",
            "1",
            "--replay-share",
            replay,
        ];
        let full = root_edges(&train(&db, &args));
        ok(&["ingest", "--db", d, one.path()]);
        let tuned = train(&db, &args);
        assert!(
            tuned.contains("(fine-tuned from the previous model)"),
            "{tuned}"
        );
        counts.push((full, root_edges(&tuned)));
    }
    let [(full, new), (_, all)] = counts[..] else {
        unreachable!()
    };
    assert_eq!(new, 1, "of {full}");
    assert_eq!(all, full + 1);
}

#[test]
fn a_new_quarter_fine_tunes_the_previous_model_and_full_retrains() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let d = db.to_str().unwrap();
    ok(&["ingest", "--db", d, &sample("q1")]);
    ok(&["featurize", "--db", d]);
    let first = train(&db, &["--epochs", "10", "--fine-tune-epochs", "2"]);
    assert!(first.contains("model generation 1: 10 epochs"), "{first}");
    ok(&["ingest", "--db", d, &sample("q2")]);
    ok(&["featurize", "--db", d]);
    let second = train(&db, &["--epochs", "10", "--fine-tune-epochs", "2"]);
    assert!(
        second.contains("model generation 2 (fine-tuned from the previous model): 2 epochs"),
        "{second}"
    );
    let third = train(
        &db,
        &["--epochs", "10", "--fine-tune-epochs", "2", "--full"],
    );
    assert!(
        third.contains("train: model generation 2 is up to date"),
        "{third}"
    );
    // Other options: a new model from scratch; only the active generation's vectors are kept.
    let fourth = train(&db, &["--epochs", "3", "--full"]);
    assert!(fourth.contains("model generation 3: 3 epochs"), "{fourth}");
    let dumped = dump(&db);
    let kept: std::collections::BTreeSet<&str> = dumped
        .lines()
        .filter_map(|l| l.strip_prefix("embeddings model "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        kept.into_iter().collect::<Vec<_>>(),
        ["0", "3", "4294967294"],
        "content, active graph model, training rows"
    );
}

/// Per product, how many partners a dump's co-purchase counts give it at `threshold`, and how
/// many the `partners` lines of model `generation` store.
fn partner_counts(dump: &str, threshold: u64, generation: u32) -> Vec<(u32, usize, usize)> {
    let mut counts: std::collections::BTreeMap<u32, (usize, usize)> = Default::default();
    for line in dump.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["copurchase", a, _, "=", c] = words[..]
            && c.parse::<u64>().unwrap() >= threshold
        {
            counts.entry(a.parse().unwrap()).or_default().0 += 1;
        }
        let stored = format!("partners model {generation} product#");
        if let Some(rest) = line.strip_prefix(&stored) {
            let (p, list) = rest.split_once(' ').unwrap();
            // `[(partner, weight), …]`
            counts.entry(p.parse().unwrap()).or_default().1 = list.matches('(').count();
        }
    }
    counts.into_iter().map(|(p, (a, b))| (p, a, b)).collect()
}

#[test]
fn capped_partner_lists_are_stored_with_the_model_and_one_seller_is_scored_as_all() {
    use demandlink::store::{Namespace, OpenMode, Store};

    let tmp = tempfile::tempdir().unwrap();
    let db = featurized(tmp.path(), "db");
    let d = db.to_str().unwrap();
    // One structure, fitted by likelihood: the link terms are in the score whatever
    // validation would choose.
    let capped = ["--link-cap", "2", "--score-select", "off"];
    train(&db, &[&["--epochs", "2"][..], &capped].concat());
    // The sample's pairs carry counts, so the threshold is 2.
    let counts = partner_counts(&dump(&db), 2, 1);
    assert!(
        counts.iter().all(|&(_, all, kept)| kept == all.min(2)),
        "{counts:?}"
    );
    assert!(
        counts.iter().any(|&(_, all, _)| all > 2),
        "the cap cut nothing"
    );

    // `recommend --seller` (partners read one product at a time) gives the lists the full run
    // stored (all partners loaded at once), link terms included.
    ok(&["index", "--db", d]);
    ok(&["recommend", "--db", d]);
    let store = Store::open(&db, OpenMode::ReadOnly).unwrap();
    let mut compared = 0;
    for s in 0..40 {
        let external = store.external(Namespace::Seller, s).unwrap();
        let lists = store.recommendations(s).unwrap();
        let Some((_, list)) = lists.first().filter(|(_, l)| !l.items.is_empty()) else {
            continue;
        };
        assert_printed_list_is_stored(&db, &store, &external, &list.items);
        compared += 1;
    }
    assert!(compared >= 10, "{compared} sellers compared");
    drop(store);

    // A new generation replaces the old one's lists.
    let capped = ["--link-cap", "3", "--score-select", "off"];
    train(&db, &[&["--epochs", "2", "--full"][..], &capped].concat());
    let dump = dump(&db);
    assert!(
        !dump.contains("partners model 1 "),
        "generation 1's lists remain"
    );
    let counts = partner_counts(&dump, 2, 2);
    assert!(
        counts.iter().all(|&(_, all, kept)| kept == all.min(3)),
        "{counts:?}"
    );

    // Without a cap the link features keep every pair.
    let all = ["--link-cap", "0", "--score-select", "off"];
    train(&db, &[&["--epochs", "2", "--full"][..], &all].concat());
    let counts = partner_counts(&crate::util::dump(&db), 2, 3);
    assert!(
        counts.iter().all(|&(_, all, kept)| kept == all),
        "{counts:?}"
    );
    assert!(counts.iter().any(|&(_, all, _)| all > 2));
}
