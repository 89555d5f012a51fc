//! Interruptible sleeps: every simulated delay waits here, so that shutting the network down
//! ends all of them at once instead of leaving threads asleep for seconds after a test.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct Sleeper {
    shut_down: Mutex<bool>,
    wake: Condvar,
}

impl Sleeper {
    /// Sleeps for `duration`; returns `false` (early) if the network shuts down.
    pub(super) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut shut_down = self.lock();
        loop {
            if *shut_down {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            shut_down = self
                .wake
                .wait_timeout(shut_down, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub(super) fn is_shut_down(&self) -> bool {
        *self.lock()
    }

    pub(super) fn shut_down(&self) {
        *self.lock() = true;
        self.wake.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        // A bool cannot be left half-written, so a poisoned lock is still consistent.
        self.shut_down.lock().unwrap_or_else(|p| p.into_inner())
    }
}
