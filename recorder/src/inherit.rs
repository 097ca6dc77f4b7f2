//! A forked child inherits its parent's heap, so its leak check must judge the blocks
//! the parent had live at the fork too (as valgrind's child summary counts them). The
//! writer's live-block map is handed to the child's writer across `fork`:
//!
//! - the writer keeps the map in a box whose address it publishes ([`publish`]) and
//!   holds [`ROUND`] while a round updates it;
//! - before `fork` the forking thread takes [`ROUND`] ([`before_fork`]), so the child's
//!   copy of the map is never half-updated; after it, the parent lets go
//!   ([`after_fork_in_parent`]);
//! - in the child ([`take_in_child`]) the parent's box is taken over (the parent's
//!   writer, whose copy owned it, does not exist in the child and is never dropped), the
//!   events the parent had pushed but its writer not yet read are applied to it from the
//!   rings (they were made before the fork), and the new writer starts from it.
//!
//! Events of the parent's other threads between the fork's start and its end are not
//! in it (they are the parent's alone, except the blocks they allocate, which the child
//! also inherits: those blocks go unjudged in the child's check).

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use memscope_platform::clock::sleep_ns;

use crate::live_map::LiveMap;

/// Held by the writer while a round updates the map, and by a forking thread across the
/// fork (a flag rather than a mutex: the child must be able to release it whoever held
/// it).
static ROUND: AtomicBool = AtomicBool::new(false);
/// The writer's map (null: none, e.g. the leak check is off).
static MAP: AtomicPtr<LiveMap> = AtomicPtr::new(std::ptr::null_mut());

/// Waits for and takes [`ROUND`].
fn hold() {
    while ROUND.swap(true, Ordering::Acquire) {
        sleep_ns(20_000);
    }
}

fn release() {
    ROUND.store(false, Ordering::Release);
}

/// The writer's map is at `map` (stays there while the writer lives).
pub fn publish(map: &mut LiveMap) {
    MAP.store(map, Ordering::Release);
}

/// Runs one of the writer's rounds with the map steady for forks.
pub fn round<R>(f: impl FnOnce() -> R) -> R {
    hold();
    let r = f();
    release();
    r
}

/// Before `fork`, on the forking thread (no allocation).
pub fn before_fork() {
    if !MAP.load(Ordering::Acquire).is_null() {
        hold();
    }
}

/// After `fork`, in the parent.
pub fn after_fork_in_parent() {
    if !MAP.load(Ordering::Acquire).is_null() {
        release();
    }
}

/// In the child: the parent's map, with `catch_up` applied (the parent's unread ring
/// entries); `None` if the parent kept none.
pub fn take_in_child(catch_up: impl FnOnce(&mut LiveMap)) -> Option<Box<LiveMap>> {
    let p = MAP.swap(std::ptr::null_mut(), Ordering::AcqRel);
    release();
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is the box of the parent's writer (`Writer::new`); that writer's copy
    // in this child never runs nor drops (its thread does not exist here), so the box is
    // this child's alone now.
    let mut map = unsafe { Box::from_raw(p) };
    catch_up(&mut map);
    Some(map)
}
