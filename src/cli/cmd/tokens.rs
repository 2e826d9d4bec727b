//! `demandlink tokens`: issue, revoke and list the portal's access tokens.

use anyhow::Result;

use crate::cli::args::TokensCommand;
use crate::cli::print;
use crate::serve::auth;
use crate::store::{OpenMode, Store, TokenSubject};

pub(crate) fn exec(command: TokensCommand) -> Result<()> {
    match command {
        TokensCommand::Issue {
            db,
            seller,
            operator,
        } => {
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            let subject = match seller {
                Some(seller) if !operator => TokenSubject::Seller(seller),
                _ => TokenSubject::Operator,
            };
            print::token_issued(&auth::issue(&store, subject)?);
            Ok(())
        }
        TokensCommand::Revoke { db, token } => {
            let store = Store::open(&db, OpenMode::ReadWrite)?;
            print::token_revoked(&auth::revoke(&store, &token)?);
            Ok(())
        }
        TokensCommand::List { db, json } => {
            let store = Store::open(&db, OpenMode::ReadOnly)?;
            print::tokens(&auth::list(&store)?, json)
        }
    }
}
