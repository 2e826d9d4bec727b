//! Behaviour at the API boundary: categories, errors, determinism.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

use super::{Planted, answers, build, fresh_index};
use crate::index::{Ann, ArroyIndex, BuildOptions, ExactIndex, IndexError};
use crate::progress::NoProgress;

fn try_build(
    index: &ArroyIndex,
    generation: u32,
    dims: usize,
    items: super::Items,
) -> Result<(), IndexError> {
    let not_cancelled = AtomicBool::new(false);
    index.build(
        generation,
        dims,
        items,
        &BuildOptions::default(),
        &NoProgress,
        &not_cancelled,
    )
}

#[test]
fn category_queries_only_return_items_of_that_category() {
    let mut planted = Planted::new(3_000, 3, 32, 1);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let reader = index.reader(1).unwrap();
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    let home: HashMap<u32, String> = planted
        .items
        .iter()
        .map(|(i, c, _)| (*i, c.clone()))
        .collect();

    assert_eq!(reader.categories(), planted.categories());
    assert_eq!(exact.categories(), planted.categories());
    assert_eq!(reader.len(None), 3_000);
    let per_category: usize = planted
        .categories()
        .iter()
        .map(|c| reader.len(Some(c)))
        .sum();
    assert_eq!(per_category, 3_000);

    let queries = planted.queries(10);
    for category in planted.categories() {
        assert_eq!(reader.len(Some(&category)), exact.len(Some(&category)));
        // k = 5 walks the trees, k = 200 scans the whole category.
        for k in [5, 200] {
            for ann in [&reader as &dyn Ann, &exact] {
                for found in answers(ann, &queries, Some(&category), k) {
                    assert_eq!(found.len(), k);
                    assert!(found.iter().all(|(item, _)| home[item] == category));
                }
            }
        }
    }
}

#[test]
fn unknown_category_is_an_error_naming_the_known_ones() {
    let mut planted = Planted::new(500, 2, 8, 2);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let reader = index.reader(1).unwrap();
    let exact = ExactIndex::new(planted.dims, planted.items.clone()).unwrap();
    let query = &planted.queries(1)[0];
    for ann in [&reader as &dyn Ann, &exact] {
        match ann.nearest(Some("nope"), query, 3) {
            Err(IndexError::UnknownCategory { category, known }) => {
                assert_eq!(category, "nope");
                assert_eq!(known, planted.categories());
            }
            other => panic!("expected UnknownCategory, got {other:?}"),
        }
        assert_eq!(ann.len(Some("nope")), 0);
    }
}

#[test]
fn dimension_mismatch_is_reported_with_expected_and_received() {
    let planted = Planted::new(200, 2, 8, 3);
    let (_dir, index) = fresh_index();

    let mut items = planted.items.clone();
    items[150].2.pop();
    let seven_of_eight = |err: IndexError| {
        let reported = matches!(
            err,
            IndexError::InvalidDimension {
                expected: 8,
                received: 7
            }
        );
        assert!(reported, "{err}");
    };
    seven_of_eight(try_build(&index, 1, 8, items.clone()).unwrap_err());
    assert_eq!(
        index.generations().unwrap(),
        Vec::<u32>::new(),
        "a failed build left a trace"
    );
    seven_of_eight(ExactIndex::new(8, items).err().unwrap());

    try_build(&index, 1, 8, planted.items.clone()).unwrap();
    let reader = index.reader(1).unwrap();
    let exact = ExactIndex::new(8, planted.items.clone()).unwrap();
    for ann in [&reader as &dyn Ann, &exact] {
        let err = ann.nearest(None, &[1.0; 9], 3).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::InvalidDimension {
                    expected: 8,
                    received: 9
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn zero_vectors_and_duplicate_ids_are_refused() {
    let planted = Planted::new(100, 1, 8, 4);
    let (_dir, index) = fresh_index();

    let mut items = planted.items.clone();
    items[10].2 = vec![0.0; 8];
    let err = try_build(&index, 1, 8, items).unwrap_err();
    assert!(
        matches!(err, IndexError::DegenerateItem { item: 10 }),
        "{err}"
    );

    let mut items = planted.items.clone();
    items[20].2[3] = f32::NAN;
    let err = try_build(&index, 1, 8, items).unwrap_err();
    assert!(
        matches!(err, IndexError::DegenerateItem { item: 20 }),
        "{err}"
    );

    let mut items = planted.items.clone();
    items[30].0 = 5;
    let err = try_build(&index, 1, 8, items.clone()).unwrap_err();
    assert!(
        matches!(err, IndexError::DuplicateItem { item: 5 }),
        "{err}"
    );
    assert!(matches!(
        ExactIndex::new(8, items),
        Err(IndexError::DuplicateItem { item: 5 })
    ));

    try_build(&index, 1, 8, planted.items.clone()).unwrap();
    let reader = index.reader(1).unwrap();
    let err = reader.nearest(None, &[0.0; 8], 3).unwrap_err();
    assert!(matches!(err, IndexError::DegenerateQuery), "{err}");
}

#[test]
fn same_seed_gives_the_same_answers() {
    let mut planted = Planted::new(4_000, 4, 32, 5);
    let queries = planted.queries(50);
    let opts = BuildOptions {
        seed: 99,
        ..BuildOptions::default()
    };
    let (_a_dir, a) = fresh_index();
    let (_b_dir, b) = fresh_index();
    build(&a, 1, &planted, &opts);
    build(&b, 1, &planted, &opts);
    let (a, b) = (a.reader(1).unwrap(), b.reader(1).unwrap());
    assert_eq!(
        answers(&a, &queries, None, 10),
        answers(&b, &queries, None, 10)
    );
    let category = planted.categories()[0].clone();
    assert_eq!(
        answers(&a, &queries, Some(&category), 5),
        answers(&b, &queries, Some(&category), 5)
    );
}

#[test]
fn generations_are_named_explicitly() {
    let planted = Planted::new(300, 2, 8, 6);
    let (_dir, index) = fresh_index();
    build(&index, 3, &planted, &BuildOptions::default());

    let err = try_build(&index, 3, 8, planted.items.clone()).unwrap_err();
    assert!(
        matches!(err, IndexError::GenerationExists { generation: 3 }),
        "{err}"
    );
    match index.reader(4) {
        Err(IndexError::UnknownGeneration {
            generation: 4,
            existing,
        }) => assert_eq!(existing, vec![3]),
        Err(other) => panic!("expected UnknownGeneration, got {other}"),
        Ok(_) => panic!("expected UnknownGeneration, got a reader"),
    }
    let manifest = index.manifest(3).unwrap();
    assert_eq!(
        (manifest.dims, manifest.all.items, manifest.categories.len()),
        (8, 300, 2)
    );

    // A reader outliving its generation fails instead of reading the ids' next owner.
    let reader = index.reader(3).unwrap();
    index.remove_generation(3).unwrap();
    build(&index, 3, &planted, &BuildOptions::default());
    let err = reader.nearest(None, &planted.items[0].2, 3).unwrap_err();
    assert!(
        matches!(err, IndexError::GenerationChanged { generation: 3 }),
        "{err}"
    );
}

#[test]
fn a_second_open_of_the_same_folder_in_one_process_is_refused() {
    let (dir, _index) = fresh_index();
    let err = ArroyIndex::open(&dir.path().join("index")).err().unwrap();
    assert!(matches!(err, IndexError::AlreadyOpen(_)), "{err}");
}

#[test]
fn one_reader_serves_many_threads() {
    use rayon::prelude::*;

    let mut planted = Planted::new(3_000, 3, 32, 9);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let reader = index.reader(1).unwrap();
    assert_eq!(reader.manifest(), &index.manifest(1).unwrap());
    let queries = planted.queries(400);
    let sequential = answers(&reader, &queries, None, 10);
    let parallel: Vec<_> = queries
        .par_iter()
        .map(|query| reader.nearest(None, query, 10).unwrap())
        .collect();
    assert_eq!(parallel, sequential);
}
