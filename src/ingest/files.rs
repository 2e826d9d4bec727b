//! The drop files of `schema/drop.md`: their names, headers and row parsing.

/// A kind of drop file. The order of [`FileKind::APPLY_ORDER`] is the order of application:
/// descriptions before the edges that name them, the high-demand list last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `sellers.tsv`
    Sellers,
    /// `products.tsv`
    Products,
    /// `vectors.tsv`
    Vectors,
    /// `listings.tsv`
    Listings,
    /// `copurchases.tsv`
    Copurchases,
    /// `views.tsv`
    Views,
    /// `high_demand.tsv`
    HighDemand,
    /// `orders.tsv`: raw purchases, turned into co-purchase counts (see `orders.rs`)
    Orders,
}

impl FileKind {
    /// Files applied by ingest, in order.
    pub(crate) const APPLY_ORDER: [FileKind; 8] = [
        FileKind::Sellers,
        FileKind::Products,
        FileKind::Vectors,
        FileKind::Listings,
        FileKind::Copurchases,
        FileKind::Orders,
        FileKind::Views,
        FileKind::HighDemand,
    ];

    /// File name without `.tsv` / `.tsv.gz`.
    pub(crate) fn stem(self) -> &'static str {
        match self {
            FileKind::Sellers => "sellers",
            FileKind::Products => "products",
            FileKind::Vectors => "vectors",
            FileKind::Listings => "listings",
            FileKind::Copurchases => "copurchases",
            FileKind::Views => "views",
            FileKind::HighDemand => "high_demand",
            FileKind::Orders => "orders",
        }
    }

    /// Required and optional columns, by header name.
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            FileKind::Sellers => (&["seller_id"], &["name", "primary_category"]),
            FileKind::Products => (&["product_id", "category", "title"], &["attributes"]),
            FileKind::Vectors => (&["product_id"], &[]),
            FileKind::Listings => (&["seller_id", "product_id"], &["ts"]),
            FileKind::Copurchases => (&["product_a", "product_b", "count"], &[]),
            FileKind::Views => (&["product_id", "views"], &[]),
            FileKind::HighDemand => (&["product_id"], &[]),
            FileKind::Orders => (&["customer_id", "product_id", "ts"], &[]),
        }
    }
}

/// A validated header: where each known column sits.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    kind: FileKind,
    width: usize,
    /// Column index per name of [`FileKind::columns`] (required then optional); `None` when an
    /// optional column is absent.
    index: Vec<Option<usize>>,
}

impl Header {
    /// Checks a header line; the error says what was expected.
    pub(crate) fn parse(kind: FileKind, line: &str) -> Result<Header, String> {
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let (required, optional) = kind.columns();
        if kind == FileKind::Vectors {
            if fields[0] != "product_id" || fields.len() < 2 {
                return Err(format!(
                    "expected header `product_id<TAB>v1<TAB>…<TAB>vd`, found `{}`",
                    fields.join("<TAB>")
                ));
            }
            return Ok(Header {
                kind,
                width: fields.len(),
                index: vec![Some(0)],
            });
        }
        let expected = || {
            let opt: Vec<String> = optional.iter().map(|c| format!("[{c}]")).collect();
            [required.join(", "), opt.join(", ")]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut index = Vec::new();
        for name in required.iter().chain(optional) {
            index.push(fields.iter().position(|f| f == name));
        }
        for (i, f) in fields.iter().enumerate() {
            if !required.contains(f) && !optional.contains(f) {
                return Err(format!(
                    "unknown column `{f}` in the header (expected columns: {})",
                    expected()
                ));
            }
            if fields[..i].contains(f) {
                return Err(format!("column `{f}` appears twice in the header"));
            }
        }
        if let Some(missing) = required
            .iter()
            .zip(&index)
            .find_map(|(name, at)| at.is_none().then_some(name))
        {
            return Err(format!(
                "the header lacks required column `{missing}` (expected columns: {})",
                expected()
            ));
        }
        Ok(Header {
            kind,
            width: fields.len(),
            index,
        })
    }

    /// Vector dimension of a `vectors.tsv` header.
    pub(crate) fn vector_dim(&self) -> usize {
        self.width - 1
    }
}

/// One parsed data row, borrowing from the line.
#[derive(Debug, PartialEq)]
pub(crate) enum Row<'a> {
    /// `sellers.tsv`
    Seller {
        /// External seller id.
        id: &'a str,
        /// Display name.
        name: Option<&'a str>,
        /// Primary category.
        primary_category: Option<&'a str>,
    },
    /// `products.tsv`
    Product {
        /// External product id.
        id: &'a str,
        /// Category path.
        category: &'a str,
        /// Title.
        title: &'a str,
        /// Attributes (empty when the column is absent).
        attributes: &'a str,
    },
    /// `vectors.tsv`
    Vector {
        /// External product id.
        id: &'a str,
        /// The vector.
        values: Vec<f32>,
    },
    /// `listings.tsv`
    Listing {
        /// External seller id.
        seller: &'a str,
        /// External product id.
        product: &'a str,
        /// Unix seconds, when given.
        ts: Option<i64>,
    },
    /// `copurchases.tsv`
    Copurchase {
        /// One product.
        a: &'a str,
        /// The other product.
        b: &'a str,
        /// How many customers bought both.
        count: u64,
    },
    /// `views.tsv`
    Views {
        /// External product id.
        product: &'a str,
        /// Page views in the drop's period.
        views: u64,
    },
    /// `high_demand.tsv`
    HighDemand {
        /// External product id.
        product: &'a str,
    },
    /// `orders.tsv`
    Order {
        /// External customer id (customers are not interned: only their tails are stored).
        customer: &'a str,
        /// External product id.
        product: &'a str,
        /// Unix seconds of the purchase.
        ts: i64,
    },
}

/// Longest accepted id: ids are keys of every index, and a longer one is a broken file
/// (e.g. a missing line break), not an id.
pub(super) const MAX_ID_BYTES: usize = 256;

impl Header {
    /// Parses one data line; the error is the reason the row is rejected.
    pub(crate) fn row<'a>(&self, line: &'a str) -> Result<Row<'a>, String> {
        let fields: Vec<&'a str> = line.split('\t').collect();
        if fields.len() != self.width {
            return Err(format!(
                "wrong column count: expected {}, found {}",
                self.width,
                fields.len()
            ));
        }
        let col = |i: usize| self.index[i].map(|at| fields[at]);
        let id = |i: usize, what: &str| -> Result<&'a str, String> {
            let v = col(i).unwrap_or_default().trim();
            if v.is_empty() {
                Err(format!("empty {what}"))
            } else if v.len() > MAX_ID_BYTES {
                Err(format!(
                    "ill-formed {what}: {} bytes long (at most {MAX_ID_BYTES})",
                    v.len()
                ))
            } else if let Some(c) = v.chars().find(|c| c.is_control()) {
                Err(format!(
                    "ill-formed {what} `{}`: contains the control character U+{:04X}",
                    v.escape_debug(),
                    u32::from(c)
                ))
            } else {
                Ok(v)
            }
        };
        let count = |i: usize, what: &str| -> Result<u64, String> {
            let v = col(i).unwrap_or_default().trim();
            v.parse::<u64>()
                .map_err(|_| format!("bad number in `{what}`: `{v}` (expected a whole number ≥ 0)"))
        };
        let optional = |i: usize| col(i).map(str::trim).filter(|v| !v.is_empty());
        let ts = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("bad number in `ts`: `{v}` (expected unix seconds)"))
        };
        Ok(match self.kind {
            FileKind::Sellers => Row::Seller {
                id: id(0, "seller_id")?,
                name: optional(1),
                primary_category: optional(2),
            },
            FileKind::Products => Row::Product {
                id: id(0, "product_id")?,
                category: col(1).unwrap_or_default().trim(),
                title: col(2).unwrap_or_default().trim(),
                attributes: col(3).unwrap_or_default().trim(),
            },
            FileKind::Vectors => {
                let values = fields[1..]
                    .iter()
                    .map(|v| match v.trim().parse::<f32>() {
                        Ok(x) if x.is_finite() => Ok(x),
                        _ => Err(format!(
                            "bad vector component `{v}` (expected a finite number)"
                        )),
                    })
                    .collect::<Result<Vec<f32>, String>>()?;
                Row::Vector {
                    id: id(0, "product_id")?,
                    values,
                }
            }
            FileKind::Listings => Row::Listing {
                seller: id(0, "seller_id")?,
                product: id(1, "product_id")?,
                ts: optional(2).map(ts).transpose()?,
            },
            FileKind::Copurchases => {
                let (a, b) = (id(0, "product_a")?, id(1, "product_b")?);
                if a == b {
                    return Err(format!("product `{a}` paired with itself"));
                }
                let count = count(2, "count")?;
                if count == 0 {
                    return Err("count is 0 (a co-purchase pair needs a count ≥ 1)".into());
                }
                Row::Copurchase { a, b, count }
            }
            FileKind::Views => Row::Views {
                product: id(0, "product_id")?,
                views: count(1, "views")?,
            },
            FileKind::HighDemand => Row::HighDemand {
                product: id(0, "product_id")?,
            },
            FileKind::Orders => Row::Order {
                customer: id(0, "customer_id")?,
                product: id(1, "product_id")?,
                ts: ts(col(2).unwrap_or_default().trim())?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_columns_may_come_in_any_order() {
        let h = Header::parse(FileKind::Listings, "product_id\tts\tseller_id").unwrap();
        assert_eq!(
            h.row("p1\t17\ts1").unwrap(),
            Row::Listing {
                seller: "s1",
                product: "p1",
                ts: Some(17)
            }
        );
    }

    #[test]
    fn header_errors_name_the_problem() {
        let e = Header::parse(FileKind::Views, "product_id\tclicks").unwrap_err();
        assert!(e.contains("unknown column `clicks`"), "{e}");
        let e = Header::parse(FileKind::Views, "product_id").unwrap_err();
        assert!(e.contains("lacks required column `views`"), "{e}");
    }

    #[test]
    fn row_errors_name_the_problem() {
        let h = Header::parse(FileKind::Copurchases, "product_a\tproduct_b\tcount").unwrap();
        assert!(h.row("a\tb").unwrap_err().contains("expected 3, found 2"));
        assert!(
            h.row("a\tb\tx")
                .unwrap_err()
                .contains("bad number in `count`")
        );
        assert!(h.row("a\ta\t1").unwrap_err().contains("paired with itself"));
        assert!(h.row(" \tb\t1").unwrap_err().contains("empty product_a"));
        let h = Header::parse(FileKind::Orders, "customer_id\tproduct_id\tts").unwrap();
        assert!(
            h.row("c1\tp1\t")
                .unwrap_err()
                .contains("bad number in `ts`: ``")
        );
        assert!(h.row("c1\t \t5").unwrap_err().contains("empty product_id"));
    }
}
