//! Incremental updates: removed items vanish, added items appear, moved items change index.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use super::{Items, Planted, answers, build, fresh_index};
use crate::index::{Ann, ArroyIndex, BuildOptions, ExactIndex, IndexError, UpdateSummary};
use crate::progress::NoProgress;

fn update(index: &ArroyIndex, added: Items, removed: &[u32]) -> UpdateSummary {
    let not_cancelled = AtomicBool::new(false);
    index
        .update(1, added, removed, &NoProgress, &not_cancelled)
        .expect("update")
}

#[test]
fn updates_remove_add_and_move_items() {
    let mut planted = Planted::new(4_000, 4, 32, 21);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let before = index.reader(1).unwrap();
    let queries = planted.queries(40);
    let query = queries[0].clone();

    // Remove the five best answers to `query`; add an item pointing exactly at it; move an
    // item to a new category.
    let removed: Vec<u32> = before
        .nearest(None, &query, 5)
        .unwrap()
        .iter()
        .map(|r| r.0)
        .collect();
    let (moved, old_category, moved_vector) = planted.items[7].clone();
    let added: Items = vec![
        (
            100_000,
            "cat01".to_string(),
            query.iter().map(|x| x * 3.0).collect(),
        ),
        (moved, "fresh".to_string(), moved_vector.clone()),
    ];
    let summary = update(
        &index,
        added.clone(),
        &[removed.as_slice(), &[777_777]].concat(),
    );
    assert_eq!(
        summary,
        UpdateSummary {
            upserted: 2,
            removed: 5
        }
    );

    let err = before.nearest(None, &query, 5).unwrap_err();
    assert!(
        matches!(err, IndexError::GenerationChanged { generation: 1 }),
        "{err}"
    );
    let after = index.reader(1).unwrap();
    assert_eq!(after.len(None), 4_000 - 5 + 1);
    assert_eq!(after.len(Some("fresh")), 1);
    assert!(after.categories().contains(&"fresh".to_string()));

    let top = after.nearest(None, &query, 3).unwrap();
    assert_eq!(top[0].0, 100_000);
    assert!((top[0].1 - 1.0).abs() < 1e-5);
    assert_eq!(
        after.nearest(Some("cat01"), &query, 1).unwrap()[0].0,
        100_000
    );
    let fresh = after.nearest(Some("fresh"), &moved_vector, 5).unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].0, moved);
    assert!((fresh[0].1 - 1.0).abs() < 1e-5);

    // Ground truth over the updated item set.
    let gone: HashSet<u32> = removed.iter().copied().chain([moved]).collect();
    let mut items: Items = planted
        .items
        .iter()
        .filter(|i| !gone.contains(&i.0))
        .cloned()
        .collect();
    items.extend(added);
    let home: HashMap<u32, String> = items.iter().map(|(i, c, _)| (*i, c.clone())).collect();
    let exact = ExactIndex::new(planted.dims, items).unwrap();
    let removed: HashSet<u32> = removed.into_iter().collect();
    let mut hits = 0;
    for category in [None, Some(old_category.as_str()), Some("cat01")] {
        for k in [10, 300] {
            let found = answers(&after, &queries, category, k);
            let truth = answers(&exact, &queries, category, k);
            for (found, truth) in found.iter().zip(&truth) {
                assert!(
                    found.iter().all(|(item, _)| !removed.contains(item)),
                    "removed item found"
                );
                if let Some(c) = category {
                    assert!(
                        found.iter().all(|(item, _)| home[item] == c),
                        "item of another category"
                    );
                }
                let truth: HashSet<u32> = truth.iter().map(|r| r.0).collect();
                hits += found.iter().filter(|r| truth.contains(&r.0)).count();
            }
        }
    }
    let expected_hits = 3 * (10 + 300) * queries.len();
    assert!(
        hits as f64 >= 0.95 * expected_hits as f64,
        "recall after update {hits}/{expected_hits}"
    );
}

#[test]
fn emptied_category_disappears_and_cancelled_update_changes_nothing() {
    let mut planted = Planted::new(1_000, 2, 16, 22);
    let (_dir, index) = fresh_index();
    build(&index, 1, &planted, &BuildOptions::default());
    let queries = planted.queries(10);
    let tiny: Items = (0..3)
        .map(|i| {
            (
                50_000 + i,
                "tiny".to_string(),
                planted.items[i as usize].2.clone(),
            )
        })
        .collect();

    update(&index, tiny, &[]);
    let manifest = index.manifest(1).unwrap();
    assert_eq!(manifest.categories["tiny"].items, 3);
    assert_eq!(manifest.all.items, 1_003);

    let before = answers(&index.reader(1).unwrap(), &queries, None, 10);
    let raised = AtomicBool::new(true);
    let result = index.update(
        1,
        Vec::new(),
        &[50_000, 50_001, 50_002],
        &NoProgress,
        &raised,
    );
    assert!(
        matches!(result, Err(IndexError::Cancelled(_))),
        "{result:?}"
    );
    assert_eq!(index.manifest(1).unwrap(), manifest);
    assert_eq!(
        answers(&index.reader(1).unwrap(), &queries, None, 10),
        before
    );

    update(&index, Vec::new(), &[50_000, 50_001, 50_002]);
    let reader = index.reader(1).unwrap();
    assert_eq!(reader.categories(), planted.categories());
    assert!(matches!(
        reader.nearest(Some("tiny"), &queries[0], 1),
        Err(IndexError::UnknownCategory { .. })
    ));
    assert_eq!(reader.len(None), 1_000);
    // The emptied index's id is free again.
    let live: Vec<u16> = index.manifest(1).unwrap().ids().collect();
    assert!(!live.contains(&manifest.categories["tiny"].id));

    let err = index
        .update(2, Vec::new(), &[], &NoProgress, &AtomicBool::new(false))
        .unwrap_err();
    assert!(
        matches!(err, IndexError::UnknownGeneration { generation: 2, .. }),
        "{err}"
    );
}
