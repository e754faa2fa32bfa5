//! Turns: how many password checks of one account run at once on this
//! instance.
//!
//! A failure is counted in the store only after its (slow) check, so a burst
//! of parallel guesses would all be checked before the first one counted.
//! Instead, while `f` failures are counted for a pair, at most
//! `threshold - f` checks of that pair run at once (and at most
//! `account_threshold - f` of the whole account): however the burst is
//! timed, no more guesses are checked than the lockout lets through. The
//! others wait for a turn rather than being refused, so many devices of one
//! user logging in together all get in.
//!
//! Entries exist only while a check of the account runs or waits, so memory
//! follows the number of requests in flight, not the number of accounts.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The turns of every account with a check running or waiting.
#[derive(Default)]
pub(in crate::users) struct Gates(Mutex<HashMap<String, Account>>);

struct Account {
    /// Tasks holding an [`Entry`] for this account, admitted or waiting.
    entered: usize,
    /// Checks of the account running now.
    running: u32,
    /// Checks running now, per client.
    pairs: HashMap<String, u32>,
    /// Bumped each time a check ends, after its outcome is in the store:
    /// a waiter that read the store under an older value reads it again.
    ended: watch::Sender<u64>,
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        // Nothing can panic while the lock is held; a poisoned map is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the line for `account` from `client`; leaving (on drop) ends
    /// the check if it was admitted.
    pub(in crate::users) fn enter(&self, account: &str, client: &str) -> Entry<'_> {
        let mut map = self.lock();
        state(&mut map, account).entered += 1;
        Entry {
            gates: self,
            account: account.to_owned(),
            client: client.to_owned(),
            admitted: false,
        }
    }

    /// How many accounts have checks running or waiting (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// The state of `account`, made if missing (an entry's own keeps it there).
fn state<'m>(map: &'m mut HashMap<String, Account>, account: &str) -> &'m mut Account {
    map.entry(account.to_owned()).or_insert_with(|| Account {
        entered: 0,
        running: 0,
        pairs: HashMap::new(),
        ended: watch::Sender::new(0),
    })
}

/// What [`Entry::try_admit`] decided.
pub(in crate::users) enum Turn {
    /// The check may run now.
    Admitted,
    /// A check ended since the store was read: read it again.
    Stale,
    /// No turn yet: wait for a check to end, then read the store again.
    Wait(watch::Receiver<u64>),
}

/// One task's place in an account's line; admitted, it is a running check.
pub(in crate::users) struct Entry<'a> {
    gates: &'a Gates,
    account: String,
    client: String,
    admitted: bool,
}

impl Entry<'_> {
    /// How many checks of the account have ended so far: read it before
    /// reading the failure counts, and pass it to [`try_admit`](Self::try_admit).
    pub(in crate::users) fn ended(&self) -> u64 {
        self.gates
            .lock()
            .get(&self.account)
            .map_or(0, |a| *a.ended.borrow())
    }

    /// Takes a turn if fewer than `pair_limit` checks of this pair and fewer
    /// than `account_limit` of the account are running, and no check ended
    /// since `seen` (the counts read then are still current).
    pub(in crate::users) fn try_admit(
        &mut self,
        seen: u64,
        pair_limit: u32,
        account_limit: u32,
    ) -> Turn {
        let mut map = self.gates.lock();
        let state = state(&mut map, &self.account);
        if *state.ended.borrow() != seen {
            return Turn::Stale;
        }
        let pair = state.pairs.get(&self.client).copied().unwrap_or(0);
        if pair < pair_limit && state.running < account_limit {
            state.running += 1;
            *state.pairs.entry(self.client.clone()).or_insert(0) += 1;
            self.admitted = true;
            return Turn::Admitted;
        }
        // Subscribed under the lock: any check ending from now on wakes us.
        Turn::Wait(state.ended.subscribe())
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut map = self.gates.lock();
        let Some(state) = map.get_mut(&self.account) else {
            return;
        };
        if self.admitted {
            state.running = state.running.saturating_sub(1);
            if let Some(n) = state.pairs.get_mut(&self.client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.pairs.remove(&self.client);
                }
            }
            state.ended.send_modify(|n| *n = n.wrapping_add(1));
        }
        state.entered = state.entered.saturating_sub(1);
        if state.entered == 0 {
            map.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_runs_at_most_its_limit_and_entries_go_when_idle() {
        let gates = Gates::default();
        let mut a = gates.enter("acct", "1.2.3.4");
        let mut b = gates.enter("acct", "1.2.3.4");
        let mut c = gates.enter("acct", "5.6.7.8");
        let seen = a.ended();
        assert!(matches!(a.try_admit(seen, 1, 10), Turn::Admitted));
        let Turn::Wait(rx) = b.try_admit(seen, 1, 10) else {
            panic!("second check of the pair ran at once");
        };
        // Another client of the same account is not held up by the pair.
        assert!(matches!(c.try_admit(seen, 1, 10), Turn::Admitted));
        drop(a);
        assert!(rx.has_changed().unwrap());
        // b read the store before a ended: it must read again.
        assert!(matches!(b.try_admit(seen, 1, 10), Turn::Stale));
        assert!(matches!(b.try_admit(b.ended(), 1, 10), Turn::Admitted));
        drop((b, c));
        assert_eq!(gates.tracked(), 0);
    }

    #[test]
    fn the_account_limit_holds_across_clients() {
        let gates = Gates::default();
        let mut a = gates.enter("acct", "a");
        let mut b = gates.enter("acct", "b");
        let seen = a.ended();
        assert!(matches!(a.try_admit(seen, 5, 1), Turn::Admitted));
        assert!(matches!(b.try_admit(seen, 5, 1), Turn::Wait(_)));
        // A waiter that leaves (a dropped request) leaves nothing behind.
        drop(b);
        drop(a);
        assert_eq!(gates.tracked(), 0);
    }
}
