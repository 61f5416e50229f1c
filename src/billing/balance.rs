//! What a balance lookup found: the answer billing gave for one caller,
//! whichever source it came from (HTTP, the accounts file, a scripted
//! event). The engine says it; billing only produces it.

/// What the billing lookup found for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceAnswer {
    Accounts(Vec<Account>),
    /// The caller's number is not known to billing.
    None,
    /// The lookup failed (timeout, error, bad answer).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub id: Option<String>,
    /// Decimal string exactly as billing sent it, e.g. `"-2341.23"`.
    pub balance: String,
    /// Currency code as billing sent it (the sound map's money words are
    /// the ones said).
    pub currency: Option<String>,
    /// Blocked by billing: said with the playlist's `locked` template.
    pub locked: bool,
}
