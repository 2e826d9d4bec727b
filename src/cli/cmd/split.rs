//! `demandlink split`: a dataset folder cut into a training drop and held-out pairs (or into
//! quarterly drops).

use anyhow::Result;

use crate::cli::args::{SplitArgs, SplitKind};
use crate::cli::print;
use crate::eval::{self, Cutoff, SplitMode, SplitOptions};

pub(crate) fn exec(a: SplitArgs) -> Result<()> {
    let mode = match a.mode {
        SplitKind::Quarterly => {
            let r = eval::quarters(&a.dataset, &a.out, a.from.as_deref())?;
            return print::quarters(&r, &a.out);
        }
        SplitKind::Cold => match a.share {
            Some(share) => SplitMode::Cold { share },
            None => SplitMode::cold(),
        },
        SplitKind::Temporal => SplitMode::Temporal {
            cutoff: a
                .cutoff_time
                .map_or(Cutoff::Quantile(a.cutoff_quantile), Cutoff::At),
        },
        SplitKind::Random => match (SplitMode::random(), a.share) {
            (SplitMode::Random { min_listings, .. }, Some(share)) => SplitMode::Random {
                share,
                min_listings,
            },
            (mode, _) => mode,
        },
    };
    let opts = SplitOptions {
        mode,
        seed: a.seed,
        views_from_listings: a.views_from_listings,
    };
    let r = eval::split(&a.dataset, &a.out, &opts)?;
    print::split(&r, &a.out)
}
