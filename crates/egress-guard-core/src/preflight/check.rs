//! What a preflight check is and what it answers: its `Check` name, the `Judge` the table runs, and the `Problem`s
//! (each with its fix) and `Unchecked` items (what could not be read) it judges the observations into.

use serde::{Deserialize, Serialize};

use crate::preflight::observations::Observations;

/// Which check a problem or an unchecked item belongs to: its name, `check` in the JSON schema. Each check's file
/// names its own (`Check::REGION` in `checks/region.rs`); deserializing takes only the names of `CHECKS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Check(&'static str);

impl Check {
    pub(super) const fn named(name: &'static str) -> Check {
        Check(name)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// A check as the table runs it: what it finds wrong in the observations, and what of them it could not read.
#[derive(Clone, Copy, Debug)]
pub struct Judge {
    pub check: Check,
    pub problems: fn(&Observations) -> Vec<Problem>,
    pub unchecked: fn(&Observations) -> Vec<Unchecked>,
}

/// Something that would make the deploy or the guard fail, and its fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub problem: String,
    pub fix: String,
}

impl Problem {
    /// A problem in `region`.
    pub fn in_region(check: Check, region: &str, problem: String, fix: String) -> Problem {
        Problem { check, region: Some(region.to_owned()), account: None, problem, fix }
    }

    /// A problem of the member account `account`.
    pub fn in_account(check: Check, account: &str, problem: String, fix: String) -> Problem {
        Problem { check, region: None, account: Some(account.to_owned()), problem, fix }
    }
}

/// A check that could not run (its calls failed): never a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unchecked {
    pub check: Check,
    pub region: Option<String>,
    pub account: Option<String>,
    pub error: String,
}

impl Unchecked {
    /// A check that could not run at all, in no one region or account.
    pub fn anywhere(check: Check, error: impl Into<String>) -> Unchecked {
        Unchecked { check, region: None, account: None, error: error.into() }
    }

    /// A check that could not run in `region`.
    pub fn in_region(check: Check, region: &str, error: impl Into<String>) -> Unchecked {
        Unchecked { check, region: Some(region.to_owned()), account: None, error: error.into() }
    }

    /// A check that could not run for the member account `account`.
    pub fn in_account(check: Check, account: &str, error: impl Into<String>) -> Unchecked {
        Unchecked { check, region: None, account: Some(account.to_owned()), error: error.into() }
    }
}
