//! One job per trace on as many threads as the machine has CPUs, the results given back
//! in the traces' order: `run --all`, `run --check` and `check` over a process tree (a
//! build runs a hundred processes) analyze their traces side by side, and what they
//! print reads as it did when they ran one after another.
//!
//! Each job holds one analysis at a time, so memory is that of as many analyses as
//! there are CPUs. std's scoped threads are enough here: the jobs are few and long
//! (milliseconds to minutes each), so there is nothing for a work-stealing pool to do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `job` of every item, in the items' order, run on up to one thread per CPU.
pub fn in_order<T: Sync, R: Send>(items: &[T], job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    in_order_on(cpus, items, job)
}

/// As [`in_order`], on at most `threads` threads.
pub fn in_order_on<T: Sync, R: Send>(
    threads: usize,
    items: &[T],
    job: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = threads.min(items.len());
    if workers <= 1 {
        return items.iter().map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = job(item);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("every job ran (a panicking job ends the scope first)")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whatever_the_threads() {
        let items: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 3, 8] {
            let out = in_order_on(threads, &items, |&i| {
                // Uneven jobs, so that they finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((i * 37) % 200));
                i * 2
            });
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(in_order_on(4, &[] as &[u64], |&i| i).is_empty());
    }
}
