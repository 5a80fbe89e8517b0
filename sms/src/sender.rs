//! Pool sender choice: one pool number per call, kept for every message of that call, with
//! calls spread over the pool in turn.

/// Storage of the pool choice: the call's chosen number and a turn counter shared by all calls.
pub trait PoolState {
    /// Returns the number already chosen for this call, if any.
    fn chosen(&mut self) -> Option<String>;

    /// Stores `number` as the call's choice unless another was stored first, and returns the
    /// stored choice.
    fn choose(&mut self, number: &str) -> String;

    /// Advances the turn counter shared by all calls and returns its new value (from 1).
    fn next_turn(&mut self) -> u64;
}

/// Picks the call's pool number: the one chosen earlier in the call, even if the pool has
/// changed since, or else the next number in turn. Returns `None` for an empty pool.
pub fn pick_pool_sender(state: &mut impl PoolState, pool: &[String]) -> Option<String> {
    if let Some(number) = state.chosen() {
        return Some(number);
    }
    if pool.is_empty() {
        return None;
    }

    let turn = state.next_turn().saturating_sub(1);
    let index = (turn % pool.len() as u64) as usize;
    Some(state.choose(&pool[index]))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Pool state for many calls, as a host would keep it.
    #[derive(Default)]
    struct MemoryState {
        chosen: HashMap<String, String>,
        turns: u64,
    }

    struct CallView<'a> {
        state: &'a mut MemoryState,
        call_id: &'a str,
    }

    impl PoolState for CallView<'_> {
        fn chosen(&mut self) -> Option<String> {
            self.state.chosen.get(self.call_id).cloned()
        }

        fn choose(&mut self, number: &str) -> String {
            self.state
                .chosen
                .entry(self.call_id.to_string())
                .or_insert_with(|| number.to_string())
                .clone()
        }

        fn next_turn(&mut self) -> u64 {
            self.state.turns += 1;
            self.state.turns
        }
    }

    fn pool(numbers: &[&str]) -> Vec<String> {
        numbers.iter().map(|number| number.to_string()).collect()
    }

    fn pick(state: &mut MemoryState, call_id: &str, pool: &[String]) -> Option<String> {
        pick_pool_sender(&mut CallView { state, call_id }, pool)
    }

    #[test]
    fn same_number_for_whole_call() {
        let mut state = MemoryState::default();
        let numbers = pool(&["+15005550010", "+15005550011", "+15005550012"]);
        let first = pick(&mut state, "CA1", &numbers).unwrap();
        for _ in 0..5 {
            assert_eq!(pick(&mut state, "CA1", &numbers).unwrap(), first);
        }
    }

    #[test]
    fn choice_survives_pool_change() {
        let mut state = MemoryState::default();
        let first = pick(&mut state, "CA1", &pool(&["+15005550010", "+15005550011"])).unwrap();
        let changed = pool(&["+15005550099"]);
        assert_eq!(
            pick(&mut state, "CA1", &changed).unwrap(),
            first,
            "kept after the pool changed"
        );
        assert_eq!(
            pick(&mut state, "CA2", &changed).unwrap(),
            "+15005550099",
            "a new call uses the new pool"
        );
    }

    #[test]
    fn calls_spread_evenly() {
        let mut state = MemoryState::default();
        let numbers = pool(&["+15005550010", "+15005550011", "+15005550012"]);
        let mut uses: HashMap<String, u32> = HashMap::new();
        for call in 0..300 {
            let call_id = format!("CA{call}");
            let number = pick(&mut state, &call_id, &numbers).unwrap();
            pick(&mut state, &call_id, &numbers);
            *uses.entry(number).or_default() += 1;
        }
        for number in &numbers {
            assert_eq!(uses[number], 100, "calls sent from {number}");
        }
    }

    #[test]
    fn empty_pool_picks_nothing() {
        let mut state = MemoryState::default();
        assert_eq!(pick(&mut state, "CA1", &[]), None);
    }
}
