//! Turns: how many password checks of one account run at once on this
//! instance, and who goes next.
//!
//! A failure is counted in the store only after its (slow) check, so a burst
//! of parallel guesses would all be checked before the first one counted.
//! Instead, while `f` failures are counted for a pair, at most
//! `threshold - f` checks of that pair run at once (and at most
//! `account_threshold - f` of the whole account): however the burst is
//! timed, no more guesses are checked than the lockout lets through. An
//! account's line is keyed by the account found (its email), a pair by the
//! identifier typed and the client, so guesses by email and by username at
//! once share the account's room as they share its count. The
//! others wait for a turn rather than being refused, so many devices of one
//! user logging in together all get in.
//!
//! Waiters queue first come, first served, and each freed turn wakes exactly
//! one of them: only a task holding a turn reads the store. The limits the
//! last reader saw are kept as hints, so waiters of a pair (or account) that
//! is full are not woken just to find it full; a hint is only ever too low
//! (failures grow while checks run), and a freed turn always wakes someone,
//! so a low hint costs a turn, never progress.
//!
//! Entries exist only while a check of the account runs or waits, so memory
//! follows the number of requests in flight, not the number of accounts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The turns of every account with a check running or waiting.
#[derive(Default)]
pub(in crate::users) struct Gates(Mutex<HashMap<String, Account>>);

/// Checks of one account, or of one pair in it.
#[derive(Default)]
struct Turns {
    /// Admitted and running.
    running: u32,
    /// Woken (or just arrived) and reading the store to decide.
    pending: u32,
    /// How many may hold a turn at once, as the last reader saw it.
    limit: Option<u32>,
}

impl Turns {
    fn free(&self) -> bool {
        self.running + self.pending < self.limit.unwrap_or(u32::MAX)
    }
}

struct Waiter {
    id: u64,
    client: String,
    wake: oneshot::Sender<()>,
}

#[derive(Default)]
struct Account {
    /// Tasks holding an [`Entry`] for this account, in any state.
    entered: usize,
    all: Turns,
    pairs: HashMap<String, Turns>,
    /// Waiting for a turn, oldest first.
    queue: VecDeque<Waiter>,
    /// Bumped each time a check ends, after its outcome is in the store:
    /// a reader that read the store under an older value reads it again.
    ended: u64,
    next_id: u64,
}

impl Account {
    fn pair(&mut self, client: &str) -> &mut Turns {
        self.pairs.entry(client.to_owned()).or_default()
    }

    /// Hands turns to the oldest waiters that the hints let run, one each.
    fn grant(&mut self) {
        let mut i = 0;
        while i < self.queue.len() && self.all.free() {
            let client = &self.queue[i].client;
            if !self.pairs.get(client).is_none_or(Turns::free) {
                i += 1;
                continue;
            }
            let Some(waiter) = self.queue.remove(i) else {
                break;
            };
            // A waiter whose task is gone cannot take the turn: next one.
            if waiter.wake.send(()).is_ok() {
                self.all.pending += 1;
                self.pair(&waiter.client).pending += 1;
            }
        }
    }

    /// Forgets a pair that nothing holds, so the map stays small.
    fn tidy(&mut self, client: &str) {
        if self
            .pairs
            .get(client)
            .is_some_and(|p| p.running == 0 && p.pending == 0)
            && !self.queue.iter().any(|w| w.client == client)
        {
            self.pairs.remove(client);
        }
    }
}

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Account>> {
        // Nothing can panic while the lock is held; a poisoned map is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the back of the line for `account` from `client`; leaving (on
    /// drop) frees the turn it held, if any.
    pub(in crate::users) fn enter(&self, account: &str, client: &str) -> Entry<'_> {
        let mut map = self.lock();
        let state = map.entry(account.to_owned()).or_default();
        state.entered += 1;
        let (id, rx) = queue(state, client, false);
        state.grant();
        Entry {
            gates: self,
            account: account.to_owned(),
            client: client.to_owned(),
            state: State::Queued(id, rx),
        }
    }

    /// How many accounts have checks running or waiting (for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

/// Puts a waiter for `client` in line: at the back, or at the front for one
/// that had a turn and must wait again (it keeps its place).
fn queue(state: &mut Account, client: &str, front: bool) -> (u64, oneshot::Receiver<()>) {
    let (tx, rx) = oneshot::channel();
    let id = state.next_id;
    state.next_id += 1;
    let waiter = Waiter {
        id,
        client: client.to_owned(),
        wake: tx,
    };
    if front {
        state.queue.push_front(waiter);
    } else {
        state.queue.push_back(waiter);
    }
    (id, rx)
}

enum State {
    /// In line; the receiver fires when a turn is handed over.
    Queued(u64, oneshot::Receiver<()>),
    /// Holding a turn, deciding from the store whether to run.
    Pending,
    /// Admitted: a running check.
    Running,
}

/// What [`Entry::try_admit`] decided.
pub(in crate::users) enum Turn {
    /// The check may run now.
    Admitted,
    /// A check ended since the store was read: read it again (the turn is
    /// kept).
    Stale,
    /// No room: back in line at the front; [`Entry::wait`] again.
    Wait,
}

/// One task's place in an account's line; admitted, it is a running check.
pub(in crate::users) struct Entry<'a> {
    gates: &'a Gates,
    account: String,
    client: String,
    state: State,
}

impl Entry<'_> {
    /// Waits until this task holds a turn (at once if one is free).
    pub(in crate::users) async fn wait(&mut self) {
        if let State::Queued(_, rx) = &mut self.state {
            // The sender lives in the queue until it fires; the entry's own
            // presence keeps the account's state (and so the queue) alive.
            let _ = rx.await;
            self.state = State::Pending;
        }
    }

    /// How many checks of the account have ended so far: read it before
    /// reading the failure counts, and pass it to [`try_admit`](Self::try_admit).
    pub(in crate::users) fn ended(&self) -> u64 {
        self.gates.lock().get(&self.account).map_or(0, |a| a.ended)
    }

    /// With a turn held: runs if fewer than `pair_limit` checks of this pair
    /// and fewer than `account_limit` of the account are running, and no
    /// check ended since `seen` (the counts read then are still current).
    pub(in crate::users) fn try_admit(
        &mut self,
        seen: u64,
        pair_limit: u32,
        account_limit: u32,
    ) -> Turn {
        let mut map = self.gates.lock();
        let state = map.entry(self.account.clone()).or_default();
        if state.ended != seen {
            return Turn::Stale;
        }
        state.all.limit = Some(account_limit);
        state.all.pending = state.all.pending.saturating_sub(1);
        let account_free = state.all.running < account_limit;
        let pair = state.pair(&self.client);
        pair.limit = Some(pair_limit);
        pair.pending = pair.pending.saturating_sub(1);
        let turn = if pair.running < pair_limit && account_free {
            pair.running += 1;
            state.all.running += 1;
            self.state = State::Running;
            Turn::Admitted
        } else {
            let (id, rx) = queue(state, &self.client, true);
            self.state = State::Queued(id, rx);
            Turn::Wait
        };
        // Room left (or another pair's room): the next waiters may go.
        state.grant();
        turn
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut map = self.gates.lock();
        let Some(state) = map.get_mut(&self.account) else {
            return;
        };
        let held = match &self.state {
            State::Queued(id, _) => match state.queue.iter().position(|w| w.id == *id) {
                Some(at) => {
                    state.queue.remove(at);
                    false
                }
                // Woken but gone before it noticed: the turn is ours to free.
                None => true,
            },
            State::Pending => true,
            State::Running => {
                state.all.running = state.all.running.saturating_sub(1);
                let pair = state.pair(&self.client);
                pair.running = pair.running.saturating_sub(1);
                state.ended = state.ended.wrapping_add(1);
                false
            }
        };
        if held {
            state.all.pending = state.all.pending.saturating_sub(1);
            let pair = state.pair(&self.client);
            pair.pending = pair.pending.saturating_sub(1);
        }
        state.entered = state.entered.saturating_sub(1);
        if state.entered == 0 {
            map.remove(&self.account);
            return;
        }
        state.tidy(&self.client);
        state.grant();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `e` holds a turn (a received wake makes it pending).
    fn woken(e: &mut Entry<'_>) -> bool {
        if let State::Queued(_, rx) = &mut e.state {
            if rx.try_recv().is_err() {
                return false;
            }
            e.state = State::Pending;
        }
        true
    }

    fn count_woken(entries: &mut [Entry<'_>]) -> usize {
        entries.iter_mut().map(woken).filter(|w| *w).count()
    }

    fn admit(e: &mut Entry<'_>, pair: u32, account: u32) -> Turn {
        assert!(woken(e), "reading the store without a turn");
        let seen = e.ended();
        e.try_admit(seen, pair, account)
    }

    #[test]
    fn a_pair_runs_at_most_its_limit_and_entries_go_when_idle() {
        let gates = Gates::default();
        let mut a = gates.enter("acct", "1.2.3.4");
        assert!(matches!(admit(&mut a, 1, 10), Turn::Admitted));
        let mut b = gates.enter("acct", "1.2.3.4");
        // The pair is known full: b waits without a turn to read with.
        assert!(!woken(&mut b));
        // Another client of the same account is not held up by the pair.
        let mut c = gates.enter("acct", "5.6.7.8");
        assert!(matches!(admit(&mut c, 1, 10), Turn::Admitted));
        drop(a);
        assert!(matches!(admit(&mut b, 1, 10), Turn::Admitted));
        drop((b, c));
        assert_eq!(gates.tracked(), 0);
    }

    #[test]
    fn an_ended_check_wakes_one_waiter_in_arrival_order() {
        let gates = Gates::default();
        let mut running = gates.enter("acct", "c");
        assert!(matches!(admit(&mut running, 1, 10), Turn::Admitted));
        let mut waiting: Vec<_> = (0..100).map(|_| gates.enter("acct", "c")).collect();
        assert_eq!(count_woken(&mut waiting), 0);
        drop(running);
        // One turn freed, one waiter woken: the oldest.
        assert!(woken(&mut waiting[0]));
        assert_eq!(count_woken(&mut waiting[1..]), 0);
        let first = waiting.remove(0);
        drop(first);
        // A woken waiter that leaves passes its turn on.
        assert!(woken(&mut waiting[0]));
        assert_eq!(count_woken(&mut waiting[1..]), 0);
    }

    #[test]
    fn a_reader_that_finds_no_room_keeps_its_place() {
        let gates = Gates::default();
        let mut a = gates.enter("acct", "c");
        let mut b = gates.enter("acct", "c");
        // Both arrive to an unknown limit and read; the pair allows one.
        assert!(matches!(admit(&mut a, 1, 10), Turn::Admitted));
        assert!(matches!(admit(&mut b, 1, 10), Turn::Wait));
        let mut late = gates.enter("acct", "c");
        drop(a);
        assert!(woken(&mut b));
        assert!(!woken(&mut late));
    }

    #[test]
    fn the_account_limit_holds_across_clients() {
        let gates = Gates::default();
        let mut a = gates.enter("acct", "a");
        assert!(matches!(admit(&mut a, 5, 1), Turn::Admitted));
        let mut b = gates.enter("acct", "b");
        assert!(!woken(&mut b));
        // A waiter that leaves (a dropped request) leaves nothing behind.
        drop(b);
        drop(a);
        assert_eq!(gates.tracked(), 0);
    }
}
